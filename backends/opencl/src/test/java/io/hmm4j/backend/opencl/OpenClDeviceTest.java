package io.hmm4j.backend.opencl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.hmm4j.Access;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceException;
import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelArgument;
import io.hmm4j.spi.KernelBuildException;
import io.hmm4j.spi.KernelSource;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The OpenCL device against the SPI alone, without the runtime's heap: every built-in in both placements (on
 * sizes that are not multiples of any work-group size, and on arrays at offsets inside one pooled cl_mem),
 * user kernels with every scalar type, build logs, CL error names and the memory resource's limits.
 *
 * <p>Tolerances: element-wise kernels within 1e-6 relative (one float rounding; the compiler may contract
 * {@code a * x + y} into an fma); reductions within 1e-5 of {@code sum(|terms|)} against a double reference
 * (the work-group tree sums in another order than Java).
 */
class OpenClDeviceTest {

    private static final OpenClBackendProvider PROVIDER = new OpenClBackendProvider();

    private final Arena arena = Arena.ofShared();
    private Backend backend;
    private Device device;
    private Placed chunk;

    /** Per test, not @BeforeAll: Surefire then lists every test as skipped with the reason, not "Tests run: 0". */
    @BeforeEach
    void requireOpenCl() {
        Assumptions.assumeTrue(PROVIDER.isAvailable(), () -> "OpenCL not available: " + PROVIDER.unavailabilityCause());
    }

    @AfterEach
    void close() {
        if (chunk != null)
            device.memory().deallocate(chunk.device, chunk.bytes);
        if (backend != null)
            backend.close();
        arena.close();
    }

    private record Placed(long device, long bytes) {}

    /** Arrays as the runtime hands them to a device: sub-allocated from one raw chunk (migrate) or host memory. */
    private final class Arrays {
        private final long chunkBytes = 64L << 20;
        private long next;

        Arrays() {
            if (!device.coherent()) {
                chunk = new Placed(device.memory().allocate(chunkBytes), chunkBytes);
            }
        }

        KernelArgument.Buffer upload(float[] values, Access access) {
            long bytes = Math.max(Float.BYTES, (long) values.length * Float.BYTES);
            MemorySegment host = arena.allocate(bytes, 4096);
            MemorySegment.copy(values, 0, host, ValueLayout.JAVA_FLOAT, 0, values.length);
            if (device.coherent())
                return new KernelArgument.Buffer(host.address(), bytes, access, host);
            long align = device.memory().alignment();
            long address = chunk.device + next;
            next = (next + bytes + align - 1) / align * align;
            assertThat(next).isLessThanOrEqualTo(chunkBytes);
            device.copyEngine().copyToDevice(address, host);
            return new KernelArgument.Buffer(address, bytes, access, host);
        }

        float[] download(KernelArgument.Buffer buffer) {
            device.synchronize();
            if (!device.coherent())
                device.copyEngine().copyToHost(buffer.host(), buffer.deviceAddress());
            return buffer.host().toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    private void open(String placement) {
        backend = PROVIDER.open(new BackendConfig(Map.of("placement", placement)));
        device = backend.devices().get(0);
        assertThat(device.coherent()).isEqualTo(placement.equals("coherent"));
    }

    private static float[] random(int n, long seed) {
        Random random = new Random(seed);
        float[] values = new float[n];
        for (int i = 0; i < n; i++)
            values[i] = random.nextFloat() * 2 - 1;
        return values;
    }

    private static KernelArgument scalar(Number value) {
        return new KernelArgument.Scalar(value);
    }

    private void launch(BuiltinKernel which, long global, KernelArgument... arguments) {
        device.launch(device.builtin(which), global, List.of(arguments));
    }

    private static void assertElementwise(float[] actual, float[] expected) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.length; i++)
            assertThat(actual[i]).as("element %d", i).isCloseTo(expected[i], within(1e-6f * Math.max(1f, Math.abs(expected[i]))));
    }

    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void elementwiseBuiltinsMatchJava(String placement) {
        open(placement);
        Arrays arrays = new Arrays();
        // 1, a prime, one past a power of two, and a size no work-group divides beyond 7.
        for (int n : new int[] {1, 4099, 65537, 1_000_003}) {
            float[] x = random(n, n);
            float[] y = random(n, n + 1);
            // One element more than n: the kernels must not touch it.
            float[] padded = java.util.Arrays.copyOf(y, n + 1);
            padded[n] = 42f;

            KernelArgument.Buffer fill = arrays.upload(padded, Access.WRITE);
            launch(BuiltinKernel.FILL, n, fill, scalar(7.5f), scalar((long) n));
            float[] filled = new float[n + 1];
            java.util.Arrays.fill(filled, 0, n, 7.5f);
            filled[n] = 42f;
            assertElementwise(arrays.download(fill), filled);

            KernelArgument.Buffer scale = arrays.upload(padded, Access.READ_WRITE);
            launch(BuiltinKernel.SCALE, n, scale, scalar(-3f), scalar((long) n));
            float[] scaled = padded.clone();
            for (int i = 0; i < n; i++)
                scaled[i] *= -3f;
            assertElementwise(arrays.download(scale), scaled);

            KernelArgument.Buffer xs = arrays.upload(x, Access.READ);
            KernelArgument.Buffer ys = arrays.upload(padded, Access.READ_WRITE);
            launch(BuiltinKernel.AXPY, n, xs, ys, scalar(2.5f), scalar((long) n));
            float[] axpy = padded.clone();
            for (int i = 0; i < n; i++)
                axpy[i] = 2.5f * x[i] + axpy[i];
            assertElementwise(arrays.download(ys), axpy);
        }
    }

    /**
     * A kernel keeps its arguments from one launch to the next and the device skips setting a value already set:
     * launches that repeat all arguments, change only the buffer, only the factor or only the count must each still
     * run on their own.
     */
    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void launchesRepeatingOrChangingSomeArgumentsUseTheirOwn(String placement) {
        open(placement);
        Arrays arrays = new Arrays();
        int n = 4099;
        float[][] models = {random(n, 1), random(n, 2)};
        KernelArgument.Buffer[] buffers = {arrays.upload(models[0], Access.READ_WRITE),
                arrays.upload(models[1], Access.READ_WRITE)};
        // (buffer, factor, count) per launch
        Object[][] launches = {{0, 2f, n}, {0, 2f, n}, {1, 2f, n}, {1, -1f, n}, {0, -1f, n}, {0, -1f, 100},
                {1, 3f, 100}, {1, 3f, n}, {0, 0.5f, n}};
        for (Object[] l : launches) {
            int which = (Integer) l[0];
            float factor = (Float) l[1];
            int count = (Integer) l[2];
            launch(BuiltinKernel.SCALE, count, buffers[which], scalar(factor), scalar((long) count));
            for (int i = 0; i < count; i++)
                models[which][i] *= factor;
        }
        assertElementwise(arrays.download(buffers[0]), models[0]);
        assertElementwise(arrays.download(buffers[1]), models[1]);
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> randomCases() {
        return java.util.stream.Stream.of("migrate", "coherent")
                .flatMap(p -> java.util.stream.LongStream.range(0, 6).mapToObj(seed -> org.junit.jupiter.params.provider.Arguments.of(p, seed)));
    }

    /**
     * Random sequences of element-wise built-ins on arrays of random sizes at random places in the chunk, against a
     * Java model of every array (the sentinel past n included).
     */
    @ParameterizedTest(name = "{0} seed {1}")
    @org.junit.jupiter.params.provider.MethodSource("randomCases")
    void randomBuiltinSequencesMatchAJavaModel(String placement, long seed) {
        open(placement);
        Arrays arrays = new Arrays();
        Random random = new Random(seed);
        int n = 1 + random.nextInt(random.nextBoolean() ? 3000 : 300_000);
        float[] xModel = random(n + 1, seed), yModel = random(n + 1, ~seed);
        KernelArgument.Buffer x = arrays.upload(xModel, Access.READ_WRITE);
        KernelArgument.Buffer y = arrays.upload(yModel, Access.READ_WRITE);
        for (int op = 0; op < 12; op++) {
            int count = random.nextInt(n + 1);
            float a = random.nextFloat() * 4 - 2;
            switch (random.nextInt(4)) {
                case 0 -> {
                    launch(BuiltinKernel.FILL, Math.max(1, count), x, scalar(a), scalar((long) count));
                    java.util.Arrays.fill(xModel, 0, count, a);
                }
                case 1 -> {
                    launch(BuiltinKernel.SCALE, Math.max(1, count), y, scalar(a), scalar((long) count));
                    for (int i = 0; i < count; i++)
                        yModel[i] *= a;
                }
                case 2 -> {
                    launch(BuiltinKernel.AXPY, Math.max(1, count), x, y, scalar(a), scalar((long) count));
                    for (int i = 0; i < count; i++)
                        yModel[i] = a * xModel[i] + yModel[i];
                }
                default -> {
                    // Host-side change between launches, as the runtime would migrate it.
                    int i = random.nextInt(n + 1);
                    xModel[i] = a;
                    device.synchronize();
                    if (!device.coherent())
                        device.copyEngine().copyToHost(x.host(), x.deviceAddress());
                    x.host().setAtIndex(ValueLayout.JAVA_FLOAT, i, a);
                    if (!device.coherent())
                        device.copyEngine().copyToDevice(x.deviceAddress(), x.host());
                }
            }
        }
        float[] xActual = arrays.download(x);
        float[] yActual = arrays.download(y);
        for (int i = 0; i <= n; i++) {
            assertThat(xActual[i]).as("x[%d] of %d", i, n).isCloseTo(xModel[i], within(1e-5f * Math.max(1f, Math.abs(xModel[i]))));
            assertThat(yActual[i]).as("y[%d] of %d", i, n).isCloseTo(yModel[i], within(1e-5f * Math.max(1f, Math.abs(yModel[i]))));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void reductionsMatchADoubleReference(String placement) {
        open(placement);
        Arrays arrays = new Arrays();
        for (int n : new int[] {0, 1, 255, 257, 4099, 1_000_003}) {
            float[] x = random(n, 7 * n);
            float[] y = random(n, 7 * n + 1);
            double sum = 0, sumAbs = 0, dot = 0, dotAbs = 0;
            for (int i = 0; i < n; i++) {
                sum += x[i];
                sumAbs += Math.abs(x[i]);
                dot += (double) x[i] * y[i];
                dotAbs += Math.abs((double) x[i] * y[i]);
            }
            KernelArgument.Buffer xs = arrays.upload(x, Access.READ);
            KernelArgument.Buffer ys = arrays.upload(y, Access.READ);
            KernelArgument.Buffer out = arrays.upload(new float[] {123f}, Access.WRITE);
            launch(BuiltinKernel.SUM, n, xs, out, scalar((long) n));
            assertThat((double) arrays.download(out)[0]).as("SUM of %d", n).isCloseTo(sum, within(1e-5 * sumAbs + 1e-7));
            launch(BuiltinKernel.DOT, n, xs, ys, out, scalar((long) n));
            assertThat((double) arrays.download(out)[0]).as("DOT of %d", n).isCloseTo(dot, within(1e-5 * dotAbs + 1e-7));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void stencilMatchesJava(String placement) {
        open(placement);
        Arrays arrays = new Arrays();
        for (int[] size : new int[][] {{3, 3}, {37, 23}, {256, 256}, {1001, 67}}) {
            int w = size[0], h = size[1];
            float[] in = random(w * h, w);
            KernelArgument.Buffer input = arrays.upload(in, Access.READ);
            KernelArgument.Buffer output = arrays.upload(new float[w * h], Access.WRITE);
            float alpha = 0.2f;
            launch(BuiltinKernel.STENCIL_2D, (long) w * h, input, output, scalar(w), scalar(h), scalar(alpha));
            float[] expected = new float[w * h];
            for (int r = 0; r < h; r++) {
                for (int c = 0; c < w; c++) {
                    int i = r * w + c;
                    expected[i] = r == 0 || c == 0 || r == h - 1 || c == w - 1 ? in[i]
                            : in[i] + alpha * (in[i - 1] + in[i + 1] + in[i - w] + in[i + w] - 4f * in[i]);
                }
            }
            assertElementwise(arrays.download(output), expected);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void builtinsRefuseCountsBeyondTheArray(String placement) {
        open(placement);
        Arrays arrays = new Arrays();
        KernelArgument.Buffer x = arrays.upload(new float[10], Access.READ_WRITE);
        assertThatThrownBy(() -> launch(BuiltinKernel.SCALE, 11, x, scalar(2f), scalar(11L)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("SCALE argument 0 (x) holds 10 floats, the launch needs 11");
        assertThatThrownBy(() -> launch(BuiltinKernel.STENCIL_2D, 12, x, x, scalar(4), scalar(3), scalar(0.1f)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("STENCIL_2D argument 0 (in) holds 10 floats, the launch needs 12");
    }

    /** Reductions from several threads at once share the device's partial-sum buffer; each must get its own sum. */
    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void concurrentReductionsDoNotMix(String placement) throws Exception {
        open(placement);
        Arrays arrays = new Arrays();
        int threads = 4, rounds = 100, n = 50_000;
        List<KernelArgument.Buffer> inputs = new ArrayList<>();
        List<List<KernelArgument.Buffer>> outputs = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            float[] values = new float[n];
            java.util.Arrays.fill(values, t + 1);
            inputs.add(arrays.upload(values, Access.READ));
            List<KernelArgument.Buffer> perRound = new ArrayList<>();
            for (int r = 0; r < rounds; r++)
                perRound.add(arrays.upload(new float[1], Access.WRITE));
            outputs.add(perRound);
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                futures.add(pool.submit(() -> {
                    for (int r = 0; r < rounds; r++)
                        launch(BuiltinKernel.SUM, n, inputs.get(id), outputs.get(id).get(r), scalar((long) n));
                    return null;
                }));
            }
            for (Future<?> f : futures)
                f.get();
        } finally {
            pool.shutdown();
        }
        for (int t = 0; t < threads; t++)
            for (int r = 0; r < rounds; r++)
                assertThat(arrays.download(outputs.get(t).get(r))[0]).as("thread %d round %d", t, r).isEqualTo((float) n * (t + 1));
    }

    @Test
    void coherentRefusesArraysJoclCannotWrap() {
        open("coherent");
        MemorySegment small = arena.allocate(4096, 4096);
        MemorySegment huge = small.reinterpret(3L << 30); // never touched: the check comes first
        KernelArgument.Buffer b = new KernelArgument.Buffer(huge.address(), huge.byteSize(), Access.WRITE, huge);
        assertThatThrownBy(() -> launch(BuiltinKernel.FILL, 1, b, scalar(1f), scalar(1L)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("placement=migrate");
    }

    /** Coherent placement caches one host-pointer buffer per array; arrays coming and going must not pile them up. */
    @Test
    void hostBufferCacheStaysBounded() {
        open("coherent");
        MemorySegment host = arena.allocate(8192L * 4096, 4096);
        for (int i = 0; i < 3000; i++) {
            MemorySegment slice = host.asSlice((i % 8192) * 4096L, 4096);
            launch(BuiltinKernel.FILL, 1, new KernelArgument.Buffer(slice.address(), 4096, Access.WRITE, slice),
                    scalar((float) i), scalar(1L));
            assertThat(slice.get(ValueLayout.JAVA_FLOAT, 0)).isEqualTo((float) i);
        }
        assertThat(((OpenClDevice) device).cachedHostBuffers()).isLessThanOrEqualTo(OpenClDevice.HOST_BUFFER_CACHE);
    }

    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void userKernelsTakeEveryScalarType(String placement) {
        open(placement);
        Assumptions.assumeTrue(DeviceInfo.stringValue(((OpenClDevice) device).clDevice(), org.jocl.CL.CL_DEVICE_EXTENSIONS)
                .contains("cl_khr_fp64"), "device has no cl_khr_fp64");
        Arrays arrays = new Arrays();
        Kernel kernel = device.load(KernelSource.openCl("hmm4j_test_scalars", """
                #pragma OPENCL EXTENSION cl_khr_fp64 : enable
                __kernel void hmm4j_test_scalars(__global float *out, int i, long l, float f, double d) {
                    out[0] = (float) i; out[1] = (float) l; out[2] = f; out[3] = (float) d;
                }
                """));
        KernelArgument.Buffer out = arrays.upload(new float[4], Access.WRITE);
        device.launch(kernel, 1, List.of(out, scalar(-7), scalar(1L << 40), scalar(0.5f), scalar(0.25)));
        assertThat(arrays.download(out)).containsExactly(-7f, (float) (1L << 40), 0.5f, 0.25f);
    }

    /** Coherent placement keeps only devices whose USE_HOST_PTR buffers are zero-copy; migrate keeps every device. */
    @Test
    void coherentPlacementListsOnlyDevicesThatShareHostMemory() {
        List<OpenClBackend.Found> all = OpenClBackend.discover();
        long unified = all.stream().filter(f -> OpenClBackend.sharesHostMemory(f.device())).count();
        try (Backend migrating = PROVIDER.open(new BackendConfig(Map.of("placement", "migrate")))) {
            assertThat(migrating.devices()).hasSize(all.size()).noneMatch(Device::coherent);
        }
        Assumptions.assumeTrue(unified > 0, "no OpenCL device here shares host memory");
        try (Backend coherent = PROVIDER.open(new BackendConfig(Map.of("placement", "coherent")))) {
            assertThat(coherent.devices()).hasSize((int) unified).allMatch(Device::coherent);
            for (int i = 0; i < coherent.devices().size(); i++)
                assertThat(coherent.devices().get(i).id()).isEqualTo("opencl:" + i);
        }
    }

    @Test
    void buildErrorsCarryTheLog() {
        open("migrate");
        assertThatThrownBy(() -> device.load(KernelSource.openCl("broken", "__kernel void broken(__global float *x) { x[0] = nope; }")))
                .isInstanceOfSatisfying(KernelBuildException.class, e -> {
                    assertThat(e.getMessage()).contains("clBuildProgram(broken) failed on opencl:0: CL_BUILD_PROGRAM_FAILURE");
                    assertThat(e.buildLog()).contains("nope");
                });
        assertThatThrownBy(() -> device.load(KernelSource.ptx("k", ".version 7.0")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("OpenCL C");
    }

    @Test
    void clErrorsNameTheCallTheErrorAndTheCode() {
        open("migrate");
        Arrays arrays = new Arrays();
        Kernel kernel = device.load(KernelSource.openCl("hmm4j_test_two", "__kernel void hmm4j_test_two(__global float *x, float v) { x[get_global_id(0)] = v; }"));
        KernelArgument.Buffer x = arrays.upload(new float[4], Access.WRITE);
        assertThatThrownBy(() -> device.launch(kernel, 4, List.of(x)))
                .isInstanceOfSatisfying(DeviceException.class, e -> {
                    assertThat(e.getMessage()).contains("clEnqueueNDRangeKernel(hmm4j_test_two) failed on opencl:0: CL_INVALID_KERNEL_ARGS (backend code -52)");
                    assertThat(e.backendCode()).isEqualTo(-52);
                    assertThat(e.deviceId()).isEqualTo("opencl:0");
                });
        // A wrong scalar size is caught at clSetKernelArg.
        assertThatThrownBy(() -> device.launch(kernel, 4, List.of(x, scalar(1L))))
                .isInstanceOf(DeviceException.class).hasMessageContaining("clSetKernelArg(hmm4j_test_two, 1) failed on opencl:0: CL_INVALID_ARG_SIZE");
    }

    /**
     * PoCL resolves a sub-buffer argument into its parent and offset when it is set, so a kernel must have a buffer
     * argument set again once the buffer it named was released, even when a new buffer got the same handle (freed
     * handles are handed out again): skipped, the kernel wrote where the released one was, or PoCL aborted the JVM.
     */
    @Test
    void aReleasedBufferWhoseHandleComesBackIsSetAgain() {
        open("migrate");
        long bytes = 1 << 20;
        int n = 4096;
        long[] offsets = {64 * 1024, 256 * 1024};
        MemorySegment zeros = arena.allocate((long) n * Float.BYTES, 4096);
        MemorySegment back = arena.allocate((long) n * Float.BYTES, 4096);
        for (int round = 0; round < 16; round++) {
            long chunk = device.memory().allocate(bytes);
            for (long offset : offsets)
                device.copyEngine().copyToDevice(chunk + offset, zeros);
            long filled = offsets[round % 2];
            launch(BuiltinKernel.FILL, n, new KernelArgument.Buffer(chunk + filled, (long) n * Float.BYTES,
                    Access.WRITE, zeros), scalar((float) round + 1), scalar((long) n));
            device.synchronize();
            for (long offset : offsets) {
                device.copyEngine().copyToHost(back, chunk + offset);
                float expected = offset == filled ? round + 1 : 0f;
                assertThat(back.get(ValueLayout.JAVA_FLOAT, 0)).as("round %d, offset %d", round, offset).isEqualTo(expected);
                assertThat(back.get(ValueLayout.JAVA_FLOAT, (long) (n - 1) * Float.BYTES))
                        .as("round %d, offset %d", round, offset).isEqualTo(expected);
            }
            device.memory().deallocate(chunk, bytes);
        }
    }

    /**
     * The same with the release racing the launch, as when one thread evicts an array while another launches on
     * another: the buffer a kernel's argument was last set to is released, and another made (it gets the freed handle),
     * after a launch began but before it looked its arguments up. Found by OpenClLifecycleStressTest once small pool
     * chunks made releases frequent ("array read 6.59E-42, never written into it"): the release count in the key was
     * read before the lookup, so the new buffer's key matched the released one's and its argument was not set.
     */
    @Test
    void aBufferReleasedWhileALaunchSetsItsArgumentsDoesNotStandInForANewOne() {
        open("migrate");
        OpenClDevice cl = (OpenClDevice) device;
        long bytes = 1 << 20;
        long offset = 64 * 1024;
        int n = 4096;
        MemorySegment host = arena.allocate((long) n * Float.BYTES, 4096);
        MemorySegment back = arena.allocate((long) n * Float.BYTES, 4096);
        try {
            for (int round = 0; round < 64; round++) {
                long released = device.memory().allocate(bytes);
                launch(BuiltinKernel.FILL, n, new KernelArgument.Buffer(released + offset, (long) n * Float.BYTES,
                        Access.WRITE, host), scalar(-1f), scalar((long) n));
                device.synchronize();
                long target = device.memory().allocate(bytes);
                long[] other = new long[1];
                cl.beforeSettingArgument = () -> {
                    cl.beforeSettingArgument = null;
                    // The chunk goes after its sub-buffer: a new chunk takes the chunk's handle, the next sub-buffer
                    // (target's, made by the lookup) the released sub-buffer's.
                    device.memory().deallocate(released, bytes);
                    other[0] = device.memory().allocate(bytes);
                };
                launch(BuiltinKernel.FILL, n, new KernelArgument.Buffer(target + offset, (long) n * Float.BYTES,
                        Access.WRITE, host), scalar((float) round + 1), scalar((long) n));
                device.synchronize();
                device.copyEngine().copyToHost(back, target + offset);
                assertThat(back.get(ValueLayout.JAVA_FLOAT, 0)).as("round %d", round).isEqualTo(round + 1f);
                assertThat(back.get(ValueLayout.JAVA_FLOAT, (long) (n - 1) * Float.BYTES)).as("round %d", round)
                        .isEqualTo(round + 1f);
                device.memory().deallocate(target, bytes);
                device.memory().deallocate(other[0], bytes);
            }
        } finally {
            cl.beforeSettingArgument = null;
        }
    }

    @Test
    void memoryResourceHonoursTheDeviceLimits() {
        open("migrate");
        var memory = device.memory();
        assertThat(Long.bitCount(memory.alignment())).isEqualTo(1);
        assertThat(memory.alignment()).isEqualTo(DeviceInfo.longValue(((OpenClDevice) device).clDevice(),
                org.jocl.CL.CL_DEVICE_MEM_BASE_ADDR_ALIGN) / 8);
        assertThat(memory.maxAllocationBytes()).isEqualTo(DeviceInfo.longValue(((OpenClDevice) device).clDevice(),
                org.jocl.CL.CL_DEVICE_MAX_MEM_ALLOC_SIZE));
        assertThatThrownBy(() -> memory.allocate(memory.maxAllocationBytes() + 1)).isInstanceOf(DeviceOutOfMemoryException.class)
                .hasMessageContaining("CL_DEVICE_MAX_MEM_ALLOC_SIZE");
        assertThatThrownBy(() -> memory.allocate(0)).isInstanceOf(IllegalArgumentException.class);
        long a = memory.allocate(1 << 20);
        long b = memory.allocate(1 << 20);
        assertThat(a).isNotZero().isNotEqualTo(b);
        assertThat(a & ((1L << 48) - 1)).isZero();
        memory.deallocate(a, 1 << 20);
        assertThatThrownBy(() -> memory.deallocate(a, 1 << 20)).isInstanceOf(IllegalArgumentException.class);
        // The engine no longer knows the freed slot: a copy to it fails cleanly instead of writing anywhere.
        MemorySegment host = arena.allocate(4096);
        assertThatThrownBy(() -> device.copyEngine().copyToDevice(a, host)).isInstanceOf(RuntimeException.class)
                .hasMessageContaining("hmm4j_device_copy_to_device");
        // An address beyond the engine's slot table fails too, rather than aliasing another slot's buffer.
        long stray = (4096L + (b >>> 48)) << 48;
        assertThatThrownBy(() -> device.copyEngine().copyToHost(host, stray)).isInstanceOf(RuntimeException.class)
                .hasMessageContaining("hmm4j_device_copy_to_host");
        memory.deallocate(b, 1 << 20);
    }

    /** offset + size wrapped around a long and passed the range check; the sub-buffer then failed in the driver. */
    @Test
    void aRangeRunningPastItsBufferIsRefused() {
        open("migrate");
        Arrays arrays = new Arrays();
        KernelArgument.Buffer first = arrays.upload(new float[1], Access.WRITE);
        long align = device.memory().alignment();
        KernelArgument.Buffer past = new KernelArgument.Buffer(first.deviceAddress() + align, Long.MAX_VALUE,
                Access.WRITE, first.host());
        assertThatThrownBy(() -> launch(BuiltinKernel.FILL, 1, past, scalar(1f), scalar(1L)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is not device memory of opencl:0");
    }

    /** A cl_kernel belongs to its device's context; on another device it is refused as CUDA's are, before any CL call. */
    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void aKernelOfAnotherDeviceIsRefused(String placement) {
        open(placement);
        Arrays arrays = new Arrays();
        KernelArgument.Buffer x = arrays.upload(new float[4], Access.WRITE);
        try (var other = PROVIDER.open(new BackendConfig(Map.of("placement", placement)))) {
            var foreign = other.devices().get(0).builtin(BuiltinKernel.FILL);
            assertThatThrownBy(() -> device.launch(foreign, 4, List.of(x, scalar(1f), scalar(4L))))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("was not loaded by this opencl:0");
        }
    }

    /** Sub-buffers are cached per (address, size); many distinct ranges in one long-lived chunk must not pile up. */
    @Test
    void subBufferCacheStaysBounded() {
        open("migrate");
        Arrays arrays = new Arrays();
        KernelArgument.Buffer first = arrays.upload(new float[1], Access.WRITE);
        OpenClMemory memory = (OpenClMemory) device.memory();
        long align = memory.alignment();
        for (int i = 1; i <= 5000; i++) {
            KernelArgument.Buffer b = new KernelArgument.Buffer(first.deviceAddress() + i * align, Float.BYTES, Access.WRITE, first.host());
            launch(BuiltinKernel.FILL, 1, b, scalar((float) i), scalar(1L));
        }
        device.synchronize();
        assertThat(memory.cachedSubBuffers()).isLessThanOrEqualTo(OpenClMemory.SUB_BUFFER_CACHE);
        MemorySegment check = arena.allocate(Float.BYTES);
        device.copyEngine().copyToHost(check, first.deviceAddress() + 5000 * align);
        assertThat(check.get(ValueLayout.JAVA_FLOAT, 0)).isEqualTo(5000f);
    }

    /**
     * A CPU device runs its copies on the worker threads that run its kernels, so a second queue overlaps nothing;
     * what it costs is a marker and a barrier between the queues before every launch that uploads (PoCL: about
     * 100 us per iterative step). It is there by default only on other devices; the setting still forces it.
     */
    @Test
    void aCpuDeviceHasNoCopyQueueUnlessAskedFor() {
        for (String setting : new String[] {null, "true", "false"}) {
            Map<String, String> settings = new java.util.HashMap<>(Map.of("placement", "migrate"));
            if (setting != null)
                settings.put("copy.queue", setting);
            try (Backend opened = PROVIDER.open(new BackendConfig(settings))) {
                for (Device d : opened.devices()) {
                    OpenClDevice cl = (OpenClDevice) d;
                    boolean cpu = (DeviceInfo.longValue(cl.clDevice(), org.jocl.CL.CL_DEVICE_TYPE)
                            & org.jocl.CL.CL_DEVICE_TYPE_CPU) != 0;
                    boolean expected = setting == null ? !cpu : Boolean.parseBoolean(setting);
                    assertThat(cl.hasCopyQueue()).as("%s with copy.queue=%s", d, setting).isEqualTo(expected);
                }
            }
        }
    }
}
