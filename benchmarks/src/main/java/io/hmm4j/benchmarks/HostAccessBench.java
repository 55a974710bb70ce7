package io.hmm4j.benchmarks;

import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What does a managed handle cost the host when its data is already home? The same loops (sequential and random,
 * read and write) run over a HOST-resident handle's segment ({@code handle*}) and over a plain shared Arena
 * segment of the same size ({@code arena*}, the baseline). Only the segment differs: a handle is ordinary FFM
 * memory over a memfd mapping, so the ratio should be ~1 — any gap is the mapping (page size, NUMA), not hmm4j
 * code, which never runs on this path. The sequential read sums longs (vectorised, bandwidth-bound).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class HostAccessBench {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    @Param("emulated")
    public String backend;

    /** Array size in bytes. */
    @Param("16777216")
    public long bytes;

    /** Number of random accesses per operation. */
    private static final int RANDOM_ACCESSES = 1 << 16;

    private ManagedHeap heap;
    private FloatArray array;
    private Arena arena;
    private MemorySegment handle;
    private MemorySegment plain;
    private long[] randomIndices;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend(backend).build();
        array = heap.allocateFloats(bytes / Float.BYTES);
        handle = array.segment();
        arena = Arena.ofShared();
        plain = arena.allocate(bytes, 64);
        // Touch both once so first-touch page faults are not part of any measurement.
        handle.fill((byte) 0);
        plain.fill((byte) 0);
        if (!heap.residency(array).all(io.hmm4j.BlockState.HOST))
            throw new IllegalStateException("handle is not HOST-resident: " + heap.residency(array));
        SplittableRandom random = new SplittableRandom(42);
        long elements = bytes / Float.BYTES;
        randomIndices = new long[RANDOM_ACCESSES];
        for (int i = 0; i < randomIndices.length; i++)
            randomIndices[i] = random.nextLong(elements);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
        arena.close();
    }

    // ---- the loops: identical code, only the segment differs ----

    /*
     * A float sum is one dependent add chain (Java may not reorder float adds), so it measured the adder's
     * latency, not memory. A long sum has no such order: C2 vectorises it and the loop runs at read bandwidth.
     */
    private static long sequentialRead(MemorySegment s) {
        long sum = 0;
        long n = s.byteSize() / Long.BYTES;
        for (long i = 0; i < n; i++)
            sum += s.getAtIndex(ValueLayout.JAVA_LONG, i);
        return sum;
    }

    private static void sequentialWrite(MemorySegment s) {
        long n = s.byteSize() / Float.BYTES;
        for (long i = 0; i < n; i++)
            s.setAtIndex(F, i, i);
    }

    private static float randomRead(MemorySegment s, long[] indices) {
        float sum = 0;
        for (long i : indices)
            sum += s.getAtIndex(F, i);
        return sum;
    }

    private static void randomWrite(MemorySegment s, long[] indices) {
        for (long i : indices)
            s.setAtIndex(F, i, i);
    }

    @Benchmark
    public long arenaSequentialRead() {
        return sequentialRead(plain);
    }

    @Benchmark
    public long handleSequentialRead() {
        return sequentialRead(handle);
    }

    @Benchmark
    public void arenaSequentialWrite() {
        sequentialWrite(plain);
    }

    @Benchmark
    public void handleSequentialWrite() {
        sequentialWrite(handle);
    }

    @Benchmark
    public float arenaRandomRead() {
        return randomRead(plain, randomIndices);
    }

    @Benchmark
    public float handleRandomRead() {
        return randomRead(handle, randomIndices);
    }

    @Benchmark
    public void arenaRandomWrite() {
        randomWrite(plain, randomIndices);
    }

    @Benchmark
    public void handleRandomWrite() {
        randomWrite(handle, randomIndices);
    }
}
