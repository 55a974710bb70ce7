package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.hmm4j.Access;
import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.HeapStats;
import io.hmm4j.IntArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.MigrationCause;
import io.hmm4j.Residency;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The behaviour every backend must show, written once. A backend's test module subclasses it, names the backend
 * and its settings, and says whether blocks migrate (discrete, emulated) or stay in host memory (coherent).
 * Without the backend's device the whole suite is skipped with {@link #unavailabilityCause()} as the reason.
 *
 * <p>Floating-point results are compared with a relative tolerance of 1e-5 per element operation (float
 * rounding), and 1e-4 relative for reductions, whose summation order differs between backends.
 */
public abstract class BackendConformanceTest {

    protected static final long BLOCK = 64 * 1024;
    protected static final int BLOCK_FLOATS = (int) (BLOCK / Float.BYTES);

    protected ManagedHeap heap;

    /** The backend name for {@link ManagedHeap.Builder#backend(String)}. */
    protected abstract String backend();

    /** Backend settings, e.g. {@code Map.of("placement", "migrate")}. */
    protected Map<String, String> settings() {
        return Map.of();
    }

    /** Whether launches move blocks (false for coherent devices, whose kernels use host memory). */
    protected abstract boolean migrates();

    /** {@code null} when the backend can run here, else why not (the skip reason). */
    protected abstract String unavailabilityCause();

    protected ManagedHeap.Builder configure(ManagedHeap.Builder builder) {
        builder.backend(backend()).blockSize(BLOCK);
        settings().forEach(builder::setting);
        return builder;
    }

    @BeforeEach
    void openHeap() {
        String cause = unavailabilityCause();
        Assumptions.assumeTrue(cause == null, () -> backend() + " not available: " + cause);
        heap = configure(ManagedHeap.builder()).build();
    }

    @AfterEach
    void closeHeap() {
        if (heap != null)
            heap.close();
    }

    protected FloatArray floats(int n, int seed) {
        FloatArray a = heap.allocateFloats(n);
        Random random = new Random(seed);
        for (int i = 0; i < n; i++)
            a.set(i, random.nextFloat() * 2 - 1);
        return a;
    }

    @Test
    void newArraysAreZeroedAndHostResident() {
        FloatArray a = heap.allocateFloats(3 * BLOCK_FLOATS + 7);
        for (long i = 0; i < a.length(); i++)
            assertThat(a.get(i)).isZero();
        Residency r = heap.residency(a);
        assertThat(r.blockCount()).isEqualTo(4);
        assertThat(r.all(BlockState.HOST)).isTrue();
    }

    @Test
    void builtinsMatchAJavaReference() {
        int n = 2 * BLOCK_FLOATS + 333;
        FloatArray x = floats(n, 1);
        FloatArray y = floats(n, 2);
        float[] xs = x.toArray();
        float[] ys = y.toArray();

        heap.launch(BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(y), Arg.of(2.5f), Arg.of((long) n)).await();
        for (int i = 0; i < n; i++)
            assertThat(y.get(i)).isCloseTo(2.5f * xs[i] + ys[i], within(1e-5f * (1 + Math.abs(ys[i]))));

        heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(-3f), Arg.of((long) n)).await();
        for (int i = 0; i < n; i++)
            assertThat(x.get(i)).isCloseTo(-3f * xs[i], within(1e-5f));

        FloatArray out = heap.allocateFloats(1);
        heap.launch(BuiltinKernel.SUM, n, Arg.read(x), Arg.write(out), Arg.of((long) n)).await();
        double expected = 0;
        for (float v : xs)
            expected += -3.0 * v;
        assertThat((double) out.get(0)).isCloseTo(expected, within(1e-4 * n));

        heap.launch(BuiltinKernel.DOT, n, Arg.read(x), Arg.read(x), Arg.write(out), Arg.of((long) n)).await();
        double dot = 0;
        for (float v : xs)
            dot += 9.0 * v * v;
        assertThat((double) out.get(0)).isCloseTo(dot, within(1e-4 * dot));

        heap.launch(BuiltinKernel.FILL, n, Arg.write(x), Arg.of(7f), Arg.of((long) n)).await();
        for (int i = 0; i < n; i++)
            assertThat(x.get(i)).isEqualTo(7f);
    }

    @Test
    void stencilMatchesAJavaReference() {
        int w = 300;
        int h = 200;
        FloatArray in = floats(w * h, 3);
        FloatArray out = heap.allocateFloats(w * h);
        float[] g = in.toArray();
        heap.launch(BuiltinKernel.STENCIL_2D, (long) w * h, Arg.read(in), Arg.write(out), Arg.of(w), Arg.of(h),
                Arg.of(0.2f)).await();
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int i = y * w + x;
                float expected = (x == 0 || y == 0 || x == w - 1 || y == h - 1) ? g[i]
                        : g[i] + 0.2f * (g[i - 1] + g[i + 1] + g[i - w] + g[i + w] - 4 * g[i]);
                assertThat(out.get(i)).as("cell %d,%d", x, y).isCloseTo(expected, within(1e-5f));
            }
        }
    }

    @Test
    void launchLeavesWrittenArraysOnDeviceAndReadArraysShared() {
        Assumptions.assumeTrue(migrates(), "coherent device: nothing migrates");
        int n = 4 * BLOCK_FLOATS;
        FloatArray x = floats(n, 4);
        FloatArray y = floats(n, 5);
        heap.launch(BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(y), Arg.of(1f), Arg.of((long) n)).await();
        assertThat(heap.residency(x).all(BlockState.SHARED)).isTrue();
        assertThat(heap.residency(y).all(BlockState.DEVICE)).isTrue();
        assertThat(heap.residency(y).devices()).containsExactly(0);
    }

    @Test
    void hostReadOfDeviceBlockFaultsItBackShared() {
        Assumptions.assumeTrue(migrates(), "coherent device: nothing migrates");
        int n = 4 * BLOCK_FLOATS;
        FloatArray y = heap.allocateFloats(n);
        heap.launch(BuiltinKernel.FILL, n, Arg.write(y), Arg.of(3f), Arg.of((long) n)).await();
        HeapStats before = heap.stats();
        assertThat(y.get(BLOCK_FLOATS + 1)).isEqualTo(3f);
        HeapStats after = heap.stats();
        assertThat(after.readFaults() - before.readFaults()).isEqualTo(1);
        assertThat(heap.residency(y).state(1)).isEqualTo(BlockState.SHARED);
        assertThat(heap.residency(y).state(3)).isEqualTo(BlockState.DEVICE);
        assertThat(after.bytesToHost(MigrationCause.FAULT) - before.bytesToHost(MigrationCause.FAULT)).isEqualTo(BLOCK);
    }

    @Test
    void hostWriteMakesTheBlockHostAndTheNextLaunchCopiesOnlyIt() {
        Assumptions.assumeTrue(migrates(), "coherent device: nothing migrates");
        int n = 4 * BLOCK_FLOATS;
        FloatArray y = heap.allocateFloats(n);
        heap.launch(BuiltinKernel.FILL, n, Arg.write(y), Arg.of(1f), Arg.of((long) n)).await();
        y.set(2 * BLOCK_FLOATS + 5, 42f);
        assertThat(heap.residency(y).state(2)).isEqualTo(BlockState.HOST);
        assertThat(heap.stats().writeFaults()).isGreaterThanOrEqualTo(1);
        long before = heap.stats().bytesToDevice(MigrationCause.LAUNCH);
        heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(y), Arg.of(2f), Arg.of((long) n)).await();
        assertThat(heap.stats().bytesToDevice(MigrationCause.LAUNCH) - before).isEqualTo(BLOCK);
        assertThat(y.get(2 * BLOCK_FLOATS + 5)).isEqualTo(84f);
        assertThat(y.get(0)).isEqualTo(2f);
    }

    @Test
    void writeOnlyArgumentsCopyNothingIn() {
        Assumptions.assumeTrue(migrates(), "coherent device: nothing migrates");
        int n = 8 * BLOCK_FLOATS;
        FloatArray y = floats(n, 6);
        long before = heap.stats().bytesToDevice();
        heap.launch(BuiltinKernel.FILL, n, Arg.write(y), Arg.of(5f), Arg.of((long) n)).await();
        assertThat(heap.stats().bytesToDevice() - before).isZero();
        assertThat(y.get(n - 1)).isEqualTo(5f);
    }

    @Test
    void onlyStaleBlocksAreCopiedToTheDevice() {
        Assumptions.assumeTrue(migrates(), "coherent device: nothing migrates");
        int n = 4 * BLOCK_FLOATS;
        FloatArray x = floats(n, 7);
        FloatArray out = heap.allocateFloats(1);
        heap.launch(BuiltinKernel.SUM, n, Arg.read(x), Arg.write(out), Arg.of((long) n)).await();
        long afterFirst = heap.stats().bytesToDevice(MigrationCause.LAUNCH);
        heap.launch(BuiltinKernel.SUM, n, Arg.read(x), Arg.write(out), Arg.of((long) n)).await();
        assertThat(heap.stats().bytesToDevice(MigrationCause.LAUNCH)).isEqualTo(afterFirst);
    }

    @Test
    void prefetchMovesBlocksBothWays() {
        Assumptions.assumeTrue(migrates(), "coherent device: nothing migrates");
        int n = 4 * BLOCK_FLOATS;
        FloatArray x = floats(n, 8);
        heap.prefetch(x, Location.device(0));
        assertThat(heap.residency(x).all(BlockState.SHARED)).isTrue();
        heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(2f), Arg.of((long) n)).await();
        assertThat(heap.residency(x).all(BlockState.DEVICE)).isTrue();
        heap.prefetch(x, BLOCK, BLOCK, Location.HOST);
        assertThat(heap.residency(x).picture()).isEqualTo("DSDD");
        heap.prefetch(x, Location.HOST);
        assertThat(heap.residency(x).all(BlockState.SHARED)).isTrue();
    }

    @Test
    void migrateMovesARangeExclusively() {
        Assumptions.assumeTrue(migrates(), "coherent device: nothing migrates");
        int n = 4 * BLOCK_FLOATS;
        FloatArray x = floats(n, 9);
        float[] expected = new float[n];
        for (int i = 0; i < n; i++)
            expected[i] = x.get(i);
        heap.migrate(x, BLOCK, 2 * BLOCK, Location.device(0));
        assertThat(heap.residency(x).picture()).isEqualTo("HDDH");
        HeapStats before = heap.stats();
        // Exclusive: the host copy is gone, so a read faults the block home.
        assertThat(x.get(BLOCK_FLOATS + 3)).isEqualTo(expected[BLOCK_FLOATS + 3]);
        assertThat(heap.stats().readFaults() - before.readFaults()).isEqualTo(1);
        // Home exclusively: the device copy is invalid, so a launch reading the array copies every block again.
        heap.migrate(x, Location.HOST);
        assertThat(heap.residency(x).all(BlockState.HOST)).isTrue();
        long copied = heap.stats().bytesToDevice(MigrationCause.LAUNCH);
        FloatArray sum = heap.allocateFloats(1);
        heap.launch(BuiltinKernel.SUM, n, Arg.read(x), Arg.write(sum), Arg.of((long) n)).await();
        assertThat(heap.stats().bytesToDevice(MigrationCause.LAUNCH) - copied).isEqualTo(n * 4L);
        for (int i = 0; i < n; i += 97)
            assertThat(x.get(i)).isEqualTo(expected[i]);
    }

    @Test
    void migrateOfAWrittenDeviceRangeBringsTheKernelsBytesHome() {
        Assumptions.assumeTrue(migrates(), "coherent device: nothing migrates");
        int n = 2 * BLOCK_FLOATS;
        FloatArray y = heap.allocateFloats(n);
        heap.launch(BuiltinKernel.FILL, n, Arg.write(y), Arg.of(7f), Arg.of((long) n)).await();
        heap.migrate(y, 0, BLOCK, Location.HOST);
        assertThat(heap.residency(y).picture()).isEqualTo("HD");
        long faults = heap.stats().faults();
        y.set(3, 8f);
        assertThat(heap.stats().faults()).isEqualTo(faults);
        assertThat(y.get(3)).isEqualTo(8f);
        assertThat(y.get(n - 1)).isEqualTo(7f);
    }

    @Test
    void migrateRejectsBadRangesAndDevices() {
        FloatArray x = heap.allocateFloats(BLOCK_FLOATS);
        assertThatThrownBy(() -> heap.migrate(x, -1, 4, Location.HOST)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.migrate(x, 0, BLOCK + 1, Location.HOST))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.migrate(x, Long.MAX_VALUE, Long.MAX_VALUE, Location.device(0)))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.migrate(x, Location.device(heap.devices().size())))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> heap.migrate(x, null)).isInstanceOf(NullPointerException.class);
        x.close();
        assertThatThrownBy(() -> heap.migrate(x, Location.device(0))).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void segmentViewWorksWithPlainFfmCode() {
        int n = 3 * BLOCK_FLOATS;
        FloatArray x = floats(n, 9);
        heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(0.5f), Arg.of((long) n)).await();
        MemorySegment copy = MemorySegment.ofArray(new float[n]);
        MemorySegment.copy(x.segment(), 0, copy, 0, x.byteSize());
        assertThat(copy.getAtIndex(ValueLayout.JAVA_FLOAT, n - 1)).isEqualTo(x.get(n - 1));
        x.segment().fill((byte) 0);
        assertThat(x.get(17)).isZero();
    }

    @Test
    void closedArrayGivesACleanException() {
        FloatArray x = heap.allocateFloats(BLOCK_FLOATS);
        heap.launch(BuiltinKernel.FILL, BLOCK_FLOATS, Arg.write(x), Arg.of(1f), Arg.of((long) BLOCK_FLOATS)).await();
        MemorySegment view = x.segment();
        x.close();
        assertThatThrownBy(() -> x.get(0)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> view.get(ValueLayout.JAVA_BYTE, 0)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> heap.launch(BuiltinKernel.FILL, 1, Arg.write(x), Arg.of(1f), Arg.of(1L)))
                .isInstanceOf(IllegalStateException.class);
        x.close(); // idempotent
    }

    @Test
    void freedDeviceMemoryIsZeroedBeforeReuse() {
        Assumptions.assumeTrue(migrates(), "coherent device: nothing migrates");
        int n = 2 * BLOCK_FLOATS;
        FloatArray secret = heap.allocateFloats(n);
        heap.launch(BuiltinKernel.FILL, n, Arg.write(secret), Arg.of(99f), Arg.of((long) n)).await();
        secret.close();
        FloatArray next = heap.allocateFloats(n);
        // A kernel that writes nothing: the device copy is exposed as is.
        heap.launch(BuiltinKernel.SCALE, n, Arg.write(next), Arg.of(1f), Arg.of(0L)).await();
        for (int i = 0; i < n; i += 97)
            assertThat(next.get(i)).isZero();
    }

    @Test
    void intArraysRoundTripThroughTheDevice() {
        IntArray a = heap.allocateInts(2 * BLOCK_FLOATS);
        for (int i = 0; i < a.length(); i++)
            a.set(i, i * 7);
        heap.prefetch(a, Location.device(0));
        heap.prefetch(a, Location.HOST);
        for (int i = 0; i < a.length(); i++)
            assertThat(a.get(i)).isEqualTo(i * 7);
    }

    @Test
    void accessModesAreMergedWhenAnArrayIsPassedTwice() {
        int n = BLOCK_FLOATS;
        FloatArray x = floats(n, 10);
        float[] xs = x.toArray();
        heap.launch(BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(x), Arg.of(1f), Arg.of((long) n)).await();
        for (int i = 0; i < n; i++)
            assertThat(x.get(i)).isCloseTo(2 * xs[i], within(1e-6f));
    }

    @Test
    void evictionLetsAWorkingSetLargerThanTheBudgetRun() {
        Assumptions.assumeTrue(migrates(), "coherent device: nothing migrates");
        heap.close();
        heap = configure(ManagedHeap.builder()).deviceBudget(4 * BLOCK).poolChunkBytes(2 * BLOCK).build();
        FloatArray[] arrays = new FloatArray[6];
        for (int i = 0; i < arrays.length; i++) {
            arrays[i] = heap.allocateFloats(2 * BLOCK_FLOATS);
            heap.launch(BuiltinKernel.FILL, 2 * BLOCK_FLOATS, Arg.write(arrays[i]), Arg.of((float) i),
                    Arg.of(2L * BLOCK_FLOATS)).await();
        }
        assertThat(heap.stats().evictions()).isGreaterThanOrEqualTo(4);
        assertThat(heap.deviceBytesUsed(0)).isLessThanOrEqualTo(4 * BLOCK);
        for (int i = 0; i < arrays.length; i++)
            assertThat(arrays[i].get(2 * BLOCK_FLOATS - 1)).isEqualTo((float) i);
    }

    @Test
    void evacuateBringsEverythingHome() {
        Assumptions.assumeTrue(migrates(), "coherent device: nothing migrates");
        int n = 2 * BLOCK_FLOATS;
        FloatArray x = heap.allocateFloats(n);
        heap.launch(BuiltinKernel.FILL, n, Arg.write(x), Arg.of(4f), Arg.of((long) n)).await();
        heap.evacuate(0);
        assertThat(heap.residency(x).all(BlockState.HOST)).isTrue();
        assertThat(heap.residency(x).devices()).isEmpty();
        assertThat(heap.deviceBytesUsed(0)).isZero();
        assertThat(x.get(n - 1)).isEqualTo(4f);
    }

    @Test
    void accessOfAClosedHeapThrows() {
        FloatArray x = heap.allocateFloats(16);
        heap.close();
        assertThatThrownBy(() -> x.get(0)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> heap.allocateFloats(1)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> heap.stats()).isInstanceOf(IllegalStateException.class);
        assertThat(x.isAlive()).isFalse();
        heap = null;
    }

    @Test
    void randomOperationSequencesMatchAByteModel() {
        heap.close();
        heap = configure(ManagedHeap.builder()).blockSize(4096).prefetchBlocks(2).build();
        int length = 3 * 1024 + 512; // three and a half 4 KiB blocks
        for (long seed = 1; seed <= 12; seed++)
            ByteModel.run(heap, ByteModel.randomOps(seed, 150, 3, length), 3, length);
    }

    @Test
    void randomOperationSequencesOverFileBackedArraysMatchAByteModelAndTheirFiles(@TempDir Path directory)
            throws IOException {
        heap.close();
        heap = configure(ManagedHeap.builder()).blockSize(4096).prefetchBlocks(2).build();
        int length = 3 * 1024 + 512;
        for (long seed = 1; seed <= 6; seed++) {
            Path run = directory.resolve("seed-" + seed);
            Files.createDirectory(run);
            ByteModel.run(heap, ByteModel.randomOps(seed, 150, 3, length), 3, length, new FileBacking(run));
        }
    }

    @Test
    void hostAccessWaitsForAnInFlightLaunchThatWritesTheArray() {
        int n = 1 << 22;
        FloatArray x = heap.allocateFloats(n);
        heap.launch(BuiltinKernel.FILL, n, Arg.write(x), Arg.of(1f), Arg.of((long) n)).await();
        for (int round = 0; round < 3; round++) {
            float expected = (float) Math.pow(3, round + 1);
            io.hmm4j.Launch launch = heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(3f), Arg.of((long) n));
            // No await: the fault engine must wait for the kernel before it copies the block home.
            assertThat(x.get(n - 1)).isEqualTo(expected);
            assertThat(x.get(0)).isEqualTo(expected);
            launch.await();
            assertThat(launch.isDone()).isTrue();
        }
    }

    /**
     * A built-in launch whose arguments do not match {@link BuiltinKernel}'s signature.
     *
     * @param argument what the message must name besides the kernel, e.g. {@code "argument 1 (value)"}
     */
    record BadLaunch(String name, BuiltinKernel kernel, String argument, Function<ManagedHeap, Arg[]> arguments) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static BadLaunch bad(String name, BuiltinKernel kernel, String argument, Function<ManagedHeap, Arg[]> arguments) {
        return new BadLaunch(name, kernel, argument, arguments);
    }

    /** A float array of {@code n} elements, all {@link #UNTOUCHED}, so a rejected launch can be seen to leave it alone. */
    private static FloatArray untouched(ManagedHeap heap, long n) {
        FloatArray a = heap.allocateFloats(n);
        for (long i = 0; i < n; i++)
            a.set(i, UNTOUCHED);
        return a;
    }

    private static final float UNTOUCHED = 5f;

    static Stream<BadLaunch> badLaunches() {
        return Stream.of(
                bad("int FILL value", BuiltinKernel.FILL, "argument 1 (value)",
                        h -> new Arg[] {Arg.write(untouched(h, 16)), Arg.of(1), Arg.of(16L)}),
                bad("double FILL value", BuiltinKernel.FILL, "argument 1 (value)",
                        h -> new Arg[] {Arg.write(untouched(h, 16)), Arg.of(1.0), Arg.of(16L)}),
                bad("long SCALE factor", BuiltinKernel.SCALE, "argument 1 (a)",
                        h -> new Arg[] {Arg.readWrite(untouched(h, 16)), Arg.of(2L), Arg.of(16L)}),
                bad("float n", BuiltinKernel.AXPY, "argument 3 (n)",
                        h -> new Arg[] {Arg.read(untouched(h, 16)), Arg.readWrite(untouched(h, 16)), Arg.of(2f), Arg.of(16f)}),
                bad("long stencil width", BuiltinKernel.STENCIL_2D, "argument 2 (width)",
                        h -> new Arg[] {Arg.read(untouched(h, 12)), Arg.write(untouched(h, 12)), Arg.of(4L), Arg.of(3), Arg.of(0.1f)}),
                bad("scalar where an array is expected", BuiltinKernel.FILL, "argument 0 (out)",
                        h -> new Arg[] {Arg.of(1f), Arg.of(1f), Arg.of(1L)}),
                bad("array where a scalar is expected", BuiltinKernel.SCALE, "argument 1 (a)",
                        h -> new Arg[] {Arg.readWrite(untouched(h, 16)), Arg.read(untouched(h, 16)), Arg.of(16L)}),
                bad("int array where a float array is expected", BuiltinKernel.SUM, "argument 0 (x)",
                        h -> new Arg[] {Arg.read(h.allocateInts(16)), Arg.write(untouched(h, 1)), Arg.of(16L)}),
                bad("one-byte DOT output", BuiltinKernel.DOT, "argument 2 (out)",
                        h -> new Arg[] {Arg.read(untouched(h, 16)), Arg.read(untouched(h, 16)), Arg.write(h.allocateBytes(1)), Arg.of(16L)}),
                bad("too few arguments", BuiltinKernel.FILL, "takes 3 arguments",
                        h -> new Arg[] {Arg.write(untouched(h, 16)), Arg.of(1f)}),
                bad("too many arguments", BuiltinKernel.DOT, "takes 4 arguments",
                        h -> new Arg[] {Arg.read(untouched(h, 16)), Arg.read(untouched(h, 16)), Arg.write(untouched(h, 1)), Arg.of(16L), Arg.of(16L)}),
                bad("n beyond the output", BuiltinKernel.FILL, "argument 0 (out)",
                        h -> new Arg[] {Arg.write(untouched(h, 10)), Arg.of(1f), Arg.of(11L)}),
                bad("n beyond the second input", BuiltinKernel.AXPY, "argument 1 (y)",
                        h -> new Arg[] {Arg.read(untouched(h, 16)), Arg.readWrite(untouched(h, 10)), Arg.of(2f), Arg.of(16L)}),
                bad("stencil grid beyond the output", BuiltinKernel.STENCIL_2D, "argument 1 (out)",
                        h -> new Arg[] {Arg.read(untouched(h, 12)), Arg.write(untouched(h, 11)), Arg.of(4), Arg.of(3), Arg.of(0.1f)}),
                bad("negative n", BuiltinKernel.SCALE, "argument 2 (n)",
                        h -> new Arg[] {Arg.readWrite(untouched(h, 16)), Arg.of(2f), Arg.of(-1L)}),
                bad("negative stencil height", BuiltinKernel.STENCIL_2D, "argument 3 (height)",
                        h -> new Arg[] {Arg.read(untouched(h, 12)), Arg.write(untouched(h, 12)), Arg.of(4), Arg.of(-3), Arg.of(0.1f)}),
                // (2^31 - 1)^2 floats are 2^64 - 2^34 + 4 bytes: a long byte count wraps negative and passes a naive check.
                bad("stencil grid whose byte size overflows a long", BuiltinKernel.STENCIL_2D, "argument 0 (in)",
                        h -> new Arg[] {Arg.read(untouched(h, 12)), Arg.write(untouched(h, 12)), Arg.of(Integer.MAX_VALUE),
                                Arg.of(Integer.MAX_VALUE), Arg.of(0.1f)}),
                bad("n whose byte size overflows a long", BuiltinKernel.FILL, "argument 0 (out)",
                        h -> new Arg[] {Arg.write(untouched(h, 16)), Arg.of(1f), Arg.of(Long.MAX_VALUE)}));
    }

    /**
     * Every backend refuses the same bad built-in launches with the same exception, naming the kernel and the
     * argument, before any array moves: the arrays stay on the host with their bytes.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("badLaunches")
    void badBuiltinArgumentsAreRejectedAlikeBeforeAnyArrayMoves(BadLaunch bad) {
        Arg[] args = bad.arguments().apply(heap);
        assertThatThrownBy(() -> heap.launch(bad.kernel(), 16, args).await())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining(bad.kernel().name())
                .hasMessageContaining(bad.argument());
        for (Arg arg : args) {
            if (arg instanceof Arg.Array(ManagedArray array, Access access)) {
                assertThat(heap.residency(array).all(BlockState.HOST)).as("%s stays on the host", array).isTrue();
                if (array instanceof FloatArray floats)
                    assertThat(floats.toArray()).as("%s keeps its values", array).containsOnly(UNTOUCHED);
            }
        }
    }

    @Test
    void anIntElementCountIsWidenedToLongOnEveryBackend() {
        int n = BLOCK_FLOATS + 3;
        FloatArray x = heap.allocateFloats(n);
        heap.launch(BuiltinKernel.FILL, n, Arg.write(x), Arg.of(2f), Arg.of(n)).await();
        assertThat(x.toArray()).containsOnly(2f);
    }

    @Test
    void builtinsDoTheirWholeCountWhateverTheGlobalSize() {
        int n = BLOCK_FLOATS + 3;
        FloatArray x = heap.allocateFloats(n);
        heap.launch(BuiltinKernel.FILL, 1, Arg.write(x), Arg.of(3f), Arg.of((long) n)).await();
        assertThat(x.toArray()).containsOnly(3f);
        FloatArray out = heap.allocateFloats(1);
        heap.launch(BuiltinKernel.SUM, 7, Arg.read(x), Arg.write(out), Arg.of((long) n)).await();
        assertThat((double) out.get(0)).isCloseTo(3.0 * n, within(1e-4 * 3 * n));
    }

    @Test
    void accessEnumsSayWhatTheyDo() {
        assertThat(Access.READ.reads()).isTrue();
        assertThat(Access.READ.writes()).isFalse();
        assertThat(Access.WRITE.reads()).isFalse();
        assertThat(Access.READ_WRITE.writes()).isTrue();
    }
}
