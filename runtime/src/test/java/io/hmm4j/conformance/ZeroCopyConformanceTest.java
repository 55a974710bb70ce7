package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.ByteArray;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Zero-copy placement on a backend (README, "Zero-copy memory and thrash control"), written once: arrays whose bytes
 * stay in host memory that the device addresses directly. Checked against a plain float[] model: host writes, kernels
 * that read and write, host reads after await and without it (the access must wait for the kernel), races of launches
 * with close, and bad input. A backend's test module subclasses it; without its device the suite is skipped.
 */
public abstract class ZeroCopyConformanceTest {

    protected static final long BLOCK = 64 * 1024;
    protected static final int BLOCK_FLOATS = (int) (BLOCK / Float.BYTES);

    protected ManagedHeap heap;

    protected abstract String backend();

    protected Map<String, String> settings() {
        return Map.of();
    }

    /** {@code null} when the backend can run here (and address host memory), else the skip reason. */
    protected abstract String unavailabilityCause();

    /**
     * Settings under which a built-in kernel over {@code n} floats takes long enough that a host access right after
     * the launch certainly finds it running (emulated: a slow compute engine); empty where kernels are fast anyway.
     */
    protected Map<String, String> slowKernelSettings() {
        return Map.of();
    }

    protected ManagedHeap open(Map<String, String> extra) {
        ManagedHeap.Builder builder = ManagedHeap.builder().backend(backend()).blockSize(BLOCK).thrashControl(false);
        settings().forEach(builder::setting);
        extra.forEach(builder::setting);
        return builder.build();
    }

    @BeforeEach
    void openHeap() {
        String cause = unavailabilityCause();
        Assumptions.assumeTrue(cause == null, () -> backend() + " not available: " + cause);
        heap = open(Map.of());
    }

    @AfterEach
    void closeHeap() {
        if (heap != null)
            heap.close();
    }

    @Test
    void randomOperationsMatchAFloatModelAndNothingMigrates() {
        int n = 3 * BLOCK_FLOATS + 101;
        FloatArray x = heap.allocateFloats(n);
        FloatArray out = heap.allocateFloats(1);
        heap.placeZeroCopy(x);
        heap.placeZeroCopy(out);
        float[] model = new float[n];
        Random random = new Random(11);
        Launch pending = null;
        for (int step = 0; step < 200; step++) {
            switch (random.nextInt(5)) {
                case 0 -> {
                    int at = random.nextInt(n);
                    float v = random.nextInt(100) - 50;
                    x.set(at, v);
                    model[at] = v;
                }
                case 1 -> {
                    float factor = random.nextBoolean() ? 2f : 0.5f;
                    pending = heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(factor), Arg.of((long) n));
                    for (int i = 0; i < n; i++)
                        model[i] *= factor;
                }
                case 2 -> {
                    heap.launch(BuiltinKernel.SUM, n, Arg.read(x), Arg.write(out), Arg.of((long) n)).await();
                    double sum = 0;
                    for (float v : model)
                        sum += v;
                    assertThat((double) out.get(0)).isCloseTo(sum, within(1e-3 * (1 + Math.abs(sum))));
                }
                case 3 -> {
                    // Possibly without await: the read must see the kernel's result, never bytes from before it.
                    int at = random.nextInt(n);
                    assertThat(x.get(at)).as("step %d, element %d", step, at).isEqualTo(model[at]);
                }
                default -> {
                    if (pending != null)
                        pending.await();
                }
            }
        }
        for (int i = 0; i < n; i++)
            assertThat(x.get(i)).isEqualTo(model[i]);
        assertThat(heap.isZeroCopy(x)).isTrue();
        assertThat(heap.residency(x).all(BlockState.HOST)).isTrue();
        assertThat(heap.deviceBytesUsed(0)).isZero();
        assertThat(heap.stats().bytesToDevice()).isZero();
        assertThat(heap.stats().bytesToHost()).isZero();
    }

    @Test
    void hostAccessWithoutAwaitWaitsForTheKernel() {
        heap.close();
        heap = open(slowKernelSettings());
        int n = 64 * BLOCK_FLOATS;
        FloatArray x = heap.allocateFloats(n);
        for (int i = 0; i < n; i++)
            x.set(i, 1f);
        heap.placeZeroCopy(x);
        // A read right after the launch sees the kernel's result.
        heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(3f), Arg.of((long) n));
        assertThat(x.get(n - 1)).isEqualTo(3f);
        // A write right after the launch lands after the kernel: the kernel does not overwrite it.
        Launch scale = heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(2f), Arg.of((long) n));
        x.set(n - 1, 5f);
        scale.await();
        assertThat(x.get(n - 1)).isEqualTo(5f);
        assertThat(x.get(0)).isEqualTo(6f);
        // A kernel that only reads lets the host read meanwhile (no fault); a host write is caught and waits for it.
        FloatArray out = heap.allocateFloats(1);
        Launch sum = heap.launch(BuiltinKernel.SUM, n, Arg.read(x), Arg.write(out), Arg.of((long) n));
        long faults = heap.stats().faults();
        assertThat(x.get(1)).isEqualTo(6f);
        assertThat(heap.stats().faults()).isEqualTo(faults);
        x.set(n - 1, 0f);
        assertThat(heap.stats().faults()).isEqualTo(faults + 1);
        sum.await();
        assertThat((double) out.get(0)).isCloseTo(6.0 * (n - 1) + 5.0, within(1.0));
        assertThat(x.get(n - 1)).isZero();
    }

    @Test
    void movingBackWithPrefetchOrPlaceMigratingMigratesAgain() {
        int n = 2 * BLOCK_FLOATS;
        FloatArray x = heap.allocateFloats(n);
        x.set(7, 7f);
        heap.placeZeroCopy(x);
        heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(2f), Arg.of((long) n)).await();
        heap.prefetch(x, Location.device(0));
        assertThat(heap.isZeroCopy(x)).isFalse();
        heap.placeZeroCopy(x);
        heap.placeMigrating(x);
        heap.placeMigrating(x); // no-op
        assertThat(heap.isZeroCopy(x)).isFalse();
        heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(2f), Arg.of((long) n)).await();
        assertThat(x.get(7)).isEqualTo(28f);
        heap.placeZeroCopy(x);
        assertThat(heap.residency(x).all(BlockState.HOST)).isTrue();
        assertThat(x.get(7)).isEqualTo(28f);
    }

    @Test
    void launchesRacingWithCloseEndCleanly() throws Exception {
        int n = 8 * BLOCK_FLOATS;
        for (int round = 0; round < 20; round++) {
            FloatArray x = heap.allocateFloats(n);
            heap.placeZeroCopy(x);
            CountDownLatch start = new CountDownLatch(1);
            AtomicReference<Throwable> unexpected = new AtomicReference<>();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                threads.add(Thread.ofPlatform().start(() -> {
                    try {
                        start.await();
                        for (int i = 0; i < 5; i++) {
                            heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(1f), Arg.of((long) n));
                            x.get(i);
                        }
                    } catch (IllegalStateException closed) {
                        // the array was closed under the launch: the clean outcome
                    } catch (Throwable e) {
                        unexpected.compareAndSet(null, e);
                    }
                }));
            }
            start.countDown();
            x.close();
            for (Thread t : threads)
                t.join();
            assertThat(unexpected.get()).isNull();
        }
        FloatArray after = heap.allocateFloats(n);
        heap.placeZeroCopy(after);
        heap.launch(BuiltinKernel.FILL, n, Arg.write(after), Arg.of(4f), Arg.of((long) n)).await();
        assertThat(after.get(n - 1)).isEqualTo(4f);
    }

    @Test
    void badInputIsRefusedClearly(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> heap.placeZeroCopy(null)).isInstanceOf(NullPointerException.class);
        FloatArray closed = heap.allocateFloats(10);
        closed.close();
        assertThatThrownBy(() -> heap.placeZeroCopy(closed)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> heap.isZeroCopy(closed)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> heap.placeMigrating(closed)).isInstanceOf(IllegalStateException.class);
        Path file = dir.resolve("data");
        Files.write(file, new byte[(int) BLOCK]);
        ByteArray readOnly = heap.map(file, 0, BLOCK, FileChannel.MapMode.READ_ONLY);
        assertThatThrownBy(() -> heap.placeZeroCopy(readOnly)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("READ_ONLY");
        try (ManagedHeap other = open(Map.of())) {
            FloatArray foreign = other.allocateFloats(10);
            assertThatThrownBy(() -> heap.placeZeroCopy(foreign)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("another heap");
            FloatArray kept = other.allocateFloats(10);
            other.close();
            assertThatThrownBy(() -> other.placeZeroCopy(kept)).isInstanceOf(IllegalStateException.class);
        }
        assertThatThrownBy(() -> ManagedHeap.builder().thrashControl(0, 8)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> ManagedHeap.builder().thrashControl(4, 4)).isInstanceOf(IllegalArgumentException.class);
    }
}
