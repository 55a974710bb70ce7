package io.hmm4j.benchmarks;

import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The cost of one host read fault that touches its whole block, by block size. Before each invocation a FILL
 * launch with {@code Arg.write} leaves all {@value #BATCH} blocks of an array DEVICE (the write-only launch copies
 * nothing); the measured {@code fault} operation then reads one byte of every 4 KiB page of each block, so the
 * first read faults one block home (read-ahead is off, {@code prefetchBlocks(0)}) and the others pay whatever page
 * population the block still needs. Scores are per block.
 *
 * <p>Baselines, same loop over the engine's benchmark floor ({@code hmm4j_floor_*}): memory laid out like a
 * region (memfd, user view and engine view) whose faults the engine's SIGSEGV handler serves with exactly the
 * trap, one memcpy of the block from a stand-in for device memory into the engine view and one mprotect of the
 * user view. {@code rawFloor} keeps the pages between invocations (what the host tier does for a DEVICE block
 * whose pages were not reclaimed); {@code rawFloorFreshPages} punches them out first (a reclaimed block: fresh
 * zeroed pages, filled by the copy and mapped into the user view one page at a time by the touches).
 * The managed {@code fault} and its floor run in separate JMH forks of the same run (JMH forks every benchmark
 * method); compare rows of one run only.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class FaultCostBench {

    /** Blocks faulted per invocation; scores are divided by it. */
    static final int BATCH = 32;
    private static final long PAGE = 4096;

    @Param("emulated")
    public String backend;

    @Param({"4096", "65536", "262144", "2097152"})
    public long blockSize;

    /**
     * Whether DEVICE blocks give their host pages back at once ({@code false}, the default: kept, reclaimable by the
     * host tier). With {@code false} a block coming home needs no
     * fresh zeroed pages and no page-table refill.
     */
    @Param("false")
    public boolean releaseHostMemory;

    private ManagedHeap heap;
    private FloatArray array;
    private MemorySegment handle;
    private FaultFloor floor;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend(backend).blockSize(blockSize).prefetchBlocks(0)
                .releaseHostMemory(releaseHostMemory).build();
        array = heap.allocateFloats(BATCH * blockSize / Float.BYTES);
        handle = array.segment();
        floor = new FaultFloor(BATCH * blockSize, blockSize);
        DeviceResident.fillAndCheck(heap, array, 1.0f);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
        floor.close();
    }

    @Setup(Level.Invocation)
    public void makeBlocksFault(BenchmarkParams params) {
        String benchmark = params.getBenchmark();
        if (benchmark.endsWith(".fault"))
            DeviceResident.fill(heap, array, 1.0f);
        else
            floor.protect(benchmark.endsWith(".rawFloorFreshPages"));
    }

    /** One byte of every page of every block: the first touch of each block faults, the others find it home. */
    private static void touchEveryPage(MemorySegment memory, long blockSize, Blackhole bh) {
        for (int b = 0; b < BATCH; b++)
            for (long page = 0; page < blockSize; page += PAGE)
                bh.consume(memory.get(ValueLayout.JAVA_BYTE, b * blockSize + page + 8));
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void fault(Blackhole bh) {
        touchEveryPage(handle, blockSize, bh);
    }

    /** The same touches on the floor's memory with its pages kept: trap + memcpy + one mprotect per block. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void rawFloor(Blackhole bh) {
        touchEveryPage(floor.userView(), blockSize, bh);
    }

    /** As {@link #rawFloor}, after the floor's pages were punched out (fresh zeroed pages, like a reclaimed block). */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void rawFloorFreshPages(Blackhole bh) {
        touchEveryPage(floor.userView(), blockSize, bh);
    }
}
