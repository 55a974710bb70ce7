package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceException;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.KernelArgument;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Issue 12 item 3: built-in kernels queued on the emulated device's compute engine while its copy engine uploads the
 * next launch's arrays. Kernels are slowed down by a kernel model ({@code kernel.bandwidth}) so that they are still
 * running when the test touches what they write.
 */
class OverlapTest {

    private static final long BLOCK = 64 * 1024;
    private static final int N = (int) (16 * BLOCK / Float.BYTES);

    /** 1 MiB of SCALE (read and write) takes about 10 ms at 200 MB/s. */
    private static ManagedHeap slowKernels() {
        return ManagedHeap.builder().backend("emulated").blockSize(BLOCK).setting("kernel.bandwidth", "200000000")
                .setting("bandwidth", "4000000000").build();
    }

    @Test
    void hostAccessRightAfterAnUnawaitedLaunchWaitsForItsQueuedKernel() {
        Random random = new Random(12);
        try (ManagedHeap heap = slowKernels()) {
            NativeCopyEngine engine = heap.devices().getFirst().copyEngine();
            FloatArray x = heap.allocateFloats(N);
            FloatArray y = heap.allocateFloats(N);
            float[] modelX = new float[N];
            float[] modelY = new float[N];
            for (int i = 0; i < N; i++) {
                modelX[i] = i % 7;
                modelY[i] = i % 5;
                x.set(i, modelX[i]);
                y.set(i, modelY[i]);
            }
            long waitsBefore = engine.eventWaits();
            for (int round = 0; round < 20; round++) {
                switch (random.nextInt(3)) {
                    case 0 -> {
                        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(x), Arg.of(2f), Arg.of((long) N));
                        for (int i = 0; i < N; i++)
                            modelX[i] *= 2;
                    }
                    case 1 -> {
                        heap.launch(BuiltinKernel.AXPY, N, Arg.read(x), Arg.readWrite(y), Arg.of(-1f), Arg.of((long) N));
                        for (int i = 0; i < N; i++)
                            modelY[i] = -1f * modelX[i] + modelY[i];
                    }
                    default -> {
                        float value = random.nextInt(100);
                        heap.launch(BuiltinKernel.FILL, N, Arg.write(y), Arg.of(value), Arg.of((long) N));
                        java.util.Arrays.fill(modelY, value);
                    }
                }
                // No await: the host access faults on a block the queued kernel writes and must wait for it.
                int i = random.nextInt(N);
                FloatArray array = random.nextBoolean() ? x : y;
                float[] model = array == x ? modelX : modelY;
                if (random.nextBoolean()) {
                    assertThat(array.get(i)).as("round %d element %d", round, i).isEqualTo(model[i]);
                } else {
                    float value = random.nextInt(1000);
                    array.set(i, value);
                    model[i] = value;
                }
            }
            for (int i = 0; i < N; i++) {
                assertThat(x.get(i)).as("x[%d]", i).isEqualTo(modelX[i]);
                assertThat(y.get(i)).as("y[%d]", i).isEqualTo(modelY[i]);
            }
            assertThat(engine.eventWaits() - waitsBefore).as("faults waited for the kernels' events").isPositive();
        }
    }

    @Test
    void launchesQueueWhileTheirUploadsRunAndAwaitCompletesThem() {
        try (ManagedHeap heap = slowKernels()) {
            List<FloatArray> inputs = new ArrayList<>();
            List<FloatArray> sums = new ArrayList<>();
            List<Launch> launches = new ArrayList<>();
            for (int k = 0; k < 6; k++) {
                FloatArray x = heap.allocateFloats(N);
                for (int i = 0; i < N; i++)
                    x.set(i, k);
                inputs.add(x);
                sums.add(heap.allocateFloats(1));
            }
            for (int k = 0; k < 6; k++)
                launches.add(heap.launch(BuiltinKernel.SUM, N, Arg.read(inputs.get(k)), Arg.write(sums.get(k)),
                        Arg.of((long) N)));
            launches.forEach(Launch::await);
            for (int k = 0; k < 6; k++)
                assertThat(sums.get(k).get(0)).as("launch %d", k).isEqualTo((float) k * N);
        }
    }

    @Test
    void aFailedQueuedUploadFailsTheLaunchsAwaitAndLosesNothing() {
        try (ManagedHeap heap = slowKernels()) {
            Device device = heap.devices().getFirst();
            FloatArray x = heap.allocateFloats(N);
            FloatArray sum = heap.allocateFloats(1);
            for (int i = 0; i < N; i++)
                x.set(i, 1f);
            long asyncBefore = device.copyEngine().asyncCopies();
            device.copyEngine().inject(NativeCopyEngine.Injection.COPY_TO_DEVICE, 3 * BLOCK + 17);
            Launch launch = heap.launch(BuiltinKernel.SUM, N, Arg.read(x), Arg.write(sum), Arg.of((long) N));
            assertThat(device.copyEngine().asyncCopies() - asyncBefore).as("the upload was queued").isPositive();
            assertThatThrownBy(launch::await).isInstanceOf(DeviceException.class).hasMessageContaining("EIO");
            assertThat(heap.residency(x).all(BlockState.HOST)).as("blocks the failed upload read").isTrue();
            for (int i = 0; i < N; i++)
                assertThat(x.get(i)).as("x[%d]", i).isEqualTo(1f);
            heap.launch(BuiltinKernel.SUM, N, Arg.read(x), Arg.write(sum), Arg.of((long) N)).await();
            assertThat(sum.get(0)).isEqualTo((float) N);
        }
    }

    /**
     * Two launches reading one array on two devices: the queued upload to the second fails. Only the launch on that
     * device reports it; the other one's kernel read bytes that were copied to its own device, and its await must not
     * throw another device's failure.
     */
    @Test
    void aFailedQueuedUploadToOneDeviceFailsOnlyTheLaunchOnThatDevice() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").setting("devices", "2").blockSize(BLOCK)
                .setting("kernel.bandwidth", "200000000").setting("bandwidth", "4000000000").thrashControl(false)
                .build()) {
            FloatArray x = heap.allocateFloats(N);
            FloatArray y0 = heap.allocateFloats(N);
            FloatArray y1 = heap.allocateFloats(N);
            for (int i = 0; i < N; i++)
                x.set(i, 1f);
            Device second = heap.devices().get(1);
            long asyncBefore = second.copyEngine().asyncCopies();
            second.copyEngine().inject(NativeCopyEngine.Injection.COPY_TO_DEVICE, 3 * BLOCK + 17);
            Launch onFirst = heap.launchOn(0, BuiltinKernel.AXPY, N, Arg.read(x), Arg.readWrite(y0), Arg.of(2f),
                    Arg.of((long) N));
            Launch onSecond = heap.launchOn(1, BuiltinKernel.AXPY, N, Arg.read(x), Arg.readWrite(y1), Arg.of(2f),
                    Arg.of((long) N));
            assertThat(second.copyEngine().asyncCopies() - asyncBefore).as("the upload was queued").isPositive();
            onFirst.await();
            assertThatThrownBy(onSecond::await).isInstanceOf(DeviceException.class).hasMessageContaining("EIO");
            // The failed copy is no copy: x is valid on the host and on the first device, which read it fine.
            assertThat(heap.residency(x).countValidOn(Location.device(1))).isZero();
            assertThat(heap.residency(x).countValidOn(Location.device(0))).isEqualTo(heap.residency(x).blockCount());
            for (int i = 0; i < N; i++) {
                assertThat(y0.get(i)).as("y0[%d]", i).isEqualTo(2f);
                assertThat(x.get(i)).as("x[%d]", i).isEqualTo(1f);
            }
        }
    }

    @Test
    void aJavaKernelAfterAFailedQueuedUploadDoesNotRun() {
        try (ManagedHeap heap = slowKernels()) {
            Device device = heap.devices().getFirst();
            FloatArray read = heap.allocateFloats(N);
            FloatArray written = heap.allocateFloats(N);
            for (int i = 0; i < N; i++) {
                read.set(i, i);
                written.set(i, i);
            }
            var copy = heap.load(io.hmm4j.spi.KernelSource.java("copy", (n, args) -> {
                throw new AssertionError("the kernel must not run");
            }));
            device.copyEngine().inject(NativeCopyEngine.Injection.COPY_TO_DEVICE, 100);
            assertThatThrownBy(() -> heap.launch(copy, N, Arg.write(written), Arg.read(read)).await())
                    .isInstanceOf(DeviceException.class);
            for (int i = 0; i < N; i++) {
                assertThat(read.get(i)).isEqualTo(i);
                assertThat(written.get(i)).isEqualTo(i);
            }
        }
    }

    /**
     * Closing the backend while kernels are queued on its compute engine: the queued ones fail instead of running,
     * the one running finishes, and only then is the device memory they write freed (a kernel writing freed memory
     * would crash the test JVM).
     */
    @Test
    void closingTheBackendWithQueuedKernelsFreesMemoryOnlyOnceNothingRuns() {
        for (int round = 0; round < 5; round++) {
            EmulatedBackend backend = (EmulatedBackend) new EmulatedBackendProvider().open(new BackendConfig(
                    Map.of("kernel.bandwidth", "100000000")));
            Device device = backend.devices().getFirst();
            long bytes = 4L << 20;
            long address = device.memory().allocate(bytes);
            MemorySegment host = MemorySegment.ofArray(new float[(int) (bytes / Float.BYTES)]);
            var fill = device.builtin(BuiltinKernel.FILL);
            for (int k = 0; k < 8; k++) {
                long event = device.launchRecorded(fill, bytes / Float.BYTES, List.of(
                        new KernelArgument.Buffer(address, bytes, io.hmm4j.Access.WRITE, host),
                        new KernelArgument.Scalar((float) k), new KernelArgument.Scalar(bytes / Float.BYTES)));
                assertThat(event).as("queued, not run").isNotZero();
            }
            NativeCopyEngine engine = device.copyEngine();
            backend.close();
            assertThatThrownBy(engine::synchronize).isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void withoutOverlapLaunchesCompleteBeforeTheyReturn() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).setting("overlap", "false")
                .build()) {
            EmulatedDevice device = (EmulatedDevice) heap.devices().getFirst();
            assertThat(device.overlaps()).isFalse();
            assertThat(device.launchesAreSynchronous()).isTrue();
            FloatArray x = heap.allocateFloats(N);
            FloatArray sum = heap.allocateFloats(1);
            for (int i = 0; i < N; i++)
                x.set(i, 2f);
            long asyncBefore = device.copyEngine().asyncCopies();
            heap.launch(BuiltinKernel.SUM, N, Arg.read(x), Arg.write(sum), Arg.of((long) N));
            assertThat(device.copyEngine().asyncCopies()).isEqualTo(asyncBefore);
            assertThat(sum.get(0)).isEqualTo(2f * N);
        }
    }
}
