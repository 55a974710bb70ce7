package io.hmm4j.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.hmm4j.Access;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.DeviceKind;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelArgument;
import io.hmm4j.spi.KernelBuildException;
import io.hmm4j.spi.KernelSource;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The backend through the SPI alone, on a real GPU: device memory, the fault engine's native copy table, every
 * built-in against a Java reference, user PTX. Skipped with the provider's cause where there is no GPU.
 *
 * <p>Tolerances: element-wise kernels within {@code 1e-6 * (1 + |expected|)} (the GPU fuses a*x+y into one fma,
 * Java rounds twice); reductions within {@code 1e-5 * sum|terms| + 1e-6} (float partial sums in a different
 * order than the double reference); the stencil within {@code 1e-5}.
 */
class CudaDeviceTest {

    static CudaBackendProvider provider = new CudaBackendProvider();
    static Backend backend;
    static CudaDevice device;

    private final Arena arena = Arena.ofConfined();
    private final List<long[]> allocations = new ArrayList<>();

    @BeforeAll
    static void open() {
        if (!provider.isAvailable())
            return;
        backend = provider.open(new BackendConfig(Map.of()));
        device = (CudaDevice) backend.devices().getFirst();
        System.out.println("CUDA driver " + provider.driverVersion() + ": " + backend.devices());
    }

    /** Per test rather than in {@code @BeforeAll}, so each one is reported as skipped with the reason. */
    @BeforeEach
    void requireGpu() {
        Assumptions.assumeTrue(provider.isAvailable(), provider.unavailabilityCause());
    }

    @AfterAll
    static void close() {
        if (backend != null)
            backend.close();
    }

    @AfterEach
    void free() {
        if (device == null) {
            arena.close();
            return;
        }
        device.synchronize();
        for (long[] a : allocations)
            device.memory().deallocate(a[0], a[1]);
        arena.close();
    }

    private long allocate(long bytes) {
        long address = device.memory().allocate(bytes);
        allocations.add(new long[] {address, bytes});
        return address;
    }

    private KernelArgument.Buffer upload(float[] values, Access access) {
        MemorySegment host = arena.allocate(Math.max(4, (long) values.length * Float.BYTES), 256);
        MemorySegment.copy(values, 0, host, ValueLayout.JAVA_FLOAT, 0, values.length);
        long address = allocate(host.byteSize());
        device.copyEngine().copyToDevice(address, host);
        return new KernelArgument.Buffer(address, host.byteSize(), access, host);
    }

    private float[] download(KernelArgument.Buffer buffer, int n) {
        device.synchronize();
        MemorySegment host = arena.allocate(buffer.byteSize(), 256);
        device.copyEngine().copyToHost(host, buffer.deviceAddress());
        return host.asSlice(0, (long) n * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
    }

    private static float[] random(int n, long seed) {
        Random random = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++)
            a[i] = random.nextFloat() * 2 - 1;
        return a;
    }

    private static KernelArgument.Scalar of(Number v) {
        return new KernelArgument.Scalar(v);
    }

    private void launch(BuiltinKernel which, long globalSize, KernelArgument... arguments) {
        device.launch(device.builtin(which), globalSize, List.of(arguments));
    }

    @Test
    void describesTheDevice() {
        assertThat(backend.name()).isEqualTo("cuda");
        assertThat(device.id()).isEqualTo("cuda:0");
        assertThat(device.index()).isZero();
        assertThat(device.kind()).isEqualTo(DeviceKind.DISCRETE);
        assertThat(device.coherent()).isFalse();
        assertThat(device.name()).isNotBlank();
        assertThat(device.computeCapabilityMajor()).isGreaterThanOrEqualTo(7);
        assertThat(device.capacityBytes()).isGreaterThan(1L << 30);
        assertThat(device.memoryInfo()[1]).isEqualTo(device.capacityBytes());
        assertThat(device.toString()).contains("cuda:0", device.name(), "compute " + device.computeCapability());
        for (int i = 0; i < backend.devices().size(); i++)
            assertThat(backend.devices().get(i).index()).isEqualTo(i);
    }

    @ParameterizedTest
    @ValueSource(ints = {4, 64 * 1024, 3 * 1024 * 1024 + 12, 24 * 1024 * 1024 + 4})
    void copyEngineRoundTripsThroughDeviceMemory(int bytes) {
        // 24 MiB goes through the copy table's double-buffered pinned staging path, the others direct.
        MemorySegment source = arena.allocate(bytes, 64);
        for (long i = 0; i < bytes; i += 4)
            source.set(ValueLayout.JAVA_INT_UNALIGNED, i, (int) (i * 2654435761L));
        long address = allocate(bytes);
        NativeCopyEngine engine = device.copyEngine();
        engine.copyToDevice(address, source);
        MemorySegment back = arena.allocate(bytes, 64);
        engine.copyToHost(back, address);
        assertThat(back.mismatch(source)).isEqualTo(-1);
        engine.zero(address, bytes);
        engine.copyToHost(back, address);
        assertThat(back.asByteBuffer().equals(arena.allocate(bytes).asByteBuffer())).as("zeroed").isTrue();
    }

    @Test
    void allocationBeyondTheDeviceIsDeviceOutOfMemory() {
        assertThatThrownBy(() -> device.memory().allocate(device.capacityBytes()))
                .isInstanceOf(DeviceOutOfMemoryException.class)
                .hasMessageContaining("cuda:0");
        // The context is still fine afterwards.
        long address = allocate(1 << 20);
        assertThat(address % device.memory().alignment()).isZero();
    }

    @Test
    void badFreesAreRejected() {
        long address = allocate(4096);
        assertThatThrownBy(() -> device.memory().deallocate(address, 8192)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> device.memory().deallocate(address + 256, 4096)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> device.memory().allocate(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 31, 257, 1_000_003})
    void fillScaleAxpyMatchJava(int n) {
        float[] xs = random(n, 1);
        float[] ys = random(n, 2);
        KernelArgument.Buffer x = upload(xs, Access.READ_WRITE);
        KernelArgument.Buffer y = upload(ys, Access.READ_WRITE);

        launch(BuiltinKernel.AXPY, n, x, y, of(2.5f), of((long) n));
        float[] axpy = download(y, n);
        for (int i = 0; i < n; i++) {
            float expected = 2.5f * xs[i] + ys[i];
            assertThat(axpy[i]).as("axpy[%d]", i).isCloseTo(expected, within(1e-6f * (1 + Math.abs(expected))));
        }

        launch(BuiltinKernel.SCALE, n, x, of(-3f), of((long) n));
        float[] scaled = download(x, n);
        for (int i = 0; i < n; i++)
            assertThat(scaled[i]).as("scale[%d]", i).isEqualTo(-3f * xs[i]);

        launch(BuiltinKernel.FILL, n, x, of(7f), of((long) n));
        float[] filled = download(x, n);
        for (int i = 0; i < n; i++)
            assertThat(filled[i]).as("fill[%d]", i).isEqualTo(7f);
    }

    @Test
    void aSmallGridStillCoversEveryElement() {
        int n = 2_000_001;
        KernelArgument.Buffer x = upload(new float[n], Access.WRITE);
        launch(BuiltinKernel.FILL, 1, x, of(4f), of((long) n));
        float[] filled = download(x, n);
        for (int i = 0; i < n; i++)
            assertThat(filled[i]).as("fill[%d]", i).isEqualTo(4f);
    }

    @Test
    void nSmallerThanTheBufferLeavesTheRestAlone() {
        float[] xs = random(1000, 3);
        KernelArgument.Buffer x = upload(xs, Access.READ_WRITE);
        launch(BuiltinKernel.FILL, 1000, x, of(9f), of(500L));
        float[] after = download(x, 1000);
        for (int i = 0; i < 1000; i++)
            assertThat(after[i]).isEqualTo(i < 500 ? 9f : xs[i]);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 33, 4097, 1_000_003, 16 * 1024 * 1024 + 5})
    void dotAndSumMatchJava(int n) {
        float[] xs = random(n, 4);
        float[] ys = random(n, 5);
        KernelArgument.Buffer x = upload(xs, Access.READ);
        KernelArgument.Buffer y = upload(ys, Access.READ);
        // out holds garbage first: the backend must zero out[0] itself.
        KernelArgument.Buffer out = upload(new float[] {12345f, 6f}, Access.WRITE);

        double dot = 0;
        double dotMagnitude = 0;
        double sum = 0;
        double sumMagnitude = 0;
        for (int i = 0; i < n; i++) {
            dot += (double) xs[i] * ys[i];
            dotMagnitude += Math.abs((double) xs[i] * ys[i]);
            sum += xs[i];
            sumMagnitude += Math.abs(xs[i]);
        }
        launch(BuiltinKernel.DOT, n, x, y, out, of((long) n));
        float[] result = download(out, 2);
        assertThat((double) result[0]).as("dot n=%d", n).isCloseTo(dot, within(1e-5 * dotMagnitude + 1e-6));
        assertThat(result[1]).as("out[1] untouched").isEqualTo(6f);

        launch(BuiltinKernel.SUM, n, x, out, of((long) n));
        result = download(out, 1);
        assertThat((double) result[0]).as("sum n=%d", n).isCloseTo(sum, within(1e-5 * sumMagnitude + 1e-6));
    }

    @Test
    void sumOfOnesIsExact() {
        int n = 1 << 22; // every partial sum is an integer below 2^24: exact in float whatever the order
        float[] ones = new float[n];
        java.util.Arrays.fill(ones, 1f);
        KernelArgument.Buffer x = upload(ones, Access.READ);
        KernelArgument.Buffer out = upload(new float[1], Access.WRITE);
        for (int repeat = 0; repeat < 3; repeat++) {
            launch(BuiltinKernel.SUM, n, x, out, of((long) n));
            assertThat(download(out, 1)[0]).isEqualTo((float) n);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"300x200", "1x1", "2x5", "1025x3"})
    void stencilMatchesJava(String size) {
        int w = Integer.parseInt(size.split("x")[0]);
        int h = Integer.parseInt(size.split("x")[1]);
        float[] g = random(w * h, 6);
        KernelArgument.Buffer in = upload(g, Access.READ);
        KernelArgument.Buffer out = upload(new float[w * h], Access.WRITE);
        launch(BuiltinKernel.STENCIL_2D, (long) w * h, in, out, of(w), of(h), of(0.2f));
        float[] result = download(out, w * h);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                float expected = (x == 0 || y == 0 || x == w - 1 || y == h - 1) ? g[i]
                        : g[i] + 0.2f * (g[i - 1] + g[i + 1] + g[i - w] + g[i + w] - 4 * g[i]);
                assertThat(result[i]).as("cell %d,%d", x, y).isCloseTo(expected, within(1e-5f));
            }
        }
    }

    static final String USER_PTX = """
            .version 7.0
            .target sm_70
            .address_size 64
            .visible .entry add_index(.param .u64 out, .param .u32 n, .param .f64 base)
            {
                .reg .pred %p;
                .reg .b32 %r<6>;
                .reg .b64 %rd<4>;
                .reg .f64 %d<3>;
                .reg .f32 %f;
                ld.param.u64 %rd1, [out];
                ld.param.u32 %r1, [n];
                ld.param.f64 %d1, [base];
                mov.u32 %r2, %ctaid.x;
                mov.u32 %r3, %ntid.x;
                mov.u32 %r4, %tid.x;
                mad.lo.s32 %r5, %r2, %r3, %r4;
                setp.ge.u32 %p, %r5, %r1;
                @%p bra DONE;
                cvt.rn.f64.u32 %d2, %r5;
                add.f64 %d2, %d2, %d1;
                cvt.rn.f32.f64 %f, %d2;
                cvta.to.global.u64 %rd2, %rd1;
                mul.wide.u32 %rd3, %r5, 4;
                add.u64 %rd2, %rd2, %rd3;
                st.global.f32 [%rd2], %f;
            DONE:
                ret;
            }
            """;

    @Test
    void userPtxKernelsLoadAndRun() {
        Kernel kernel = device.load(KernelSource.ptx("add_index", USER_PTX));
        assertThat(kernel.name()).isEqualTo("add_index");
        int n = 1000;
        KernelArgument.Buffer out = upload(new float[n], Access.WRITE);
        device.launch(kernel, n, List.of(out, of(n), of(0.5)));
        float[] result = download(out, n);
        for (int i = 0; i < n; i++)
            assertThat(result[i]).isEqualTo(i + 0.5f);
    }

    @Test
    void brokenPtxIsAKernelBuildExceptionWithTheJitLog() {
        String broken = USER_PTX.replace("add.f64 %d2, %d2, %d1;", "add.f64 %d2, %d2, %nosuchreg;");
        assertThatThrownBy(() -> device.load(KernelSource.ptx("add_index", broken)))
                .isInstanceOf(KernelBuildException.class)
                .hasMessageContaining("CUDA_ERROR_INVALID_PTX")
                .satisfies(e -> assertThat(((KernelBuildException) e).buildLog()).contains("nosuchreg"));
        assertThatThrownBy(() -> device.load(KernelSource.ptx("no_such_entry", USER_PTX)))
                .isInstanceOf(KernelBuildException.class).hasMessageContaining("no_such_entry");
    }

    @Test
    void otherLanguagesAreRejected() {
        assertThatThrownBy(() -> device.load(KernelSource.openCl("k", "__kernel void k() {}")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("OPENCL_C");
        assertThatThrownBy(() -> device.load(KernelSource.java("k", (size, args) -> {})))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("JAVA");
    }

    @Test
    void launchesChecksTheirArguments() {
        KernelArgument.Buffer x = upload(new float[10], Access.WRITE);
        assertThatThrownBy(() -> launch(BuiltinKernel.FILL, 10, x, of(1f), of(11L)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> launch(BuiltinKernel.FILL, -1, x, of(1f), of(10L)))
                .isInstanceOf(IllegalArgumentException.class);
        Kernel foreign = () -> "foreign";
        assertThatThrownBy(() -> device.launch(foreign, 1, List.of(x)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not loaded by cuda:0");
    }
}
