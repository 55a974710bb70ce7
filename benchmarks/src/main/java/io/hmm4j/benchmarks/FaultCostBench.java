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
import org.openjdk.jmh.infra.Blackhole;

/**
 * The cost of one host read fault, by block size. Before each invocation a FILL launch with {@code Arg.write}
 * leaves all {@value #BATCH} blocks of an array DEVICE (the write-only launch copies nothing); the measured
 * {@code fault} operation then reads one byte of each block, i.e. one fault serving one block (read-ahead is off,
 * {@code prefetchBlocks(0)}, so each fault moves exactly one block). Scores are per fault.
 *
 * <p>Baselines, per block, on an anonymous mapping with libc called through FFM: {@code rawFloor} is what C
 * cannot avoid, a memcpy of the block from a "device" buffer plus one mprotect pair (PROT_NONE, then
 * PROT_READ|PROT_WRITE); {@code rawFloorFreshPages} adds madvise(MADV_DONTNEED) first, because the engine gives a
 * DEVICE block's host RAM back (DESIGN.md invariant 4) and so copies into freshly faulted-in pages.
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

    @Param("emulated")
    public String backend;

    @Param({"4096", "65536", "262144", "2097152"})
    public long blockSize;

    /**
     * Whether DEVICE blocks give their host pages back (DESIGN.md invariant 4, the default). With {@code false}
     * a block coming home needs no fresh zeroed pages and no page-table refill.
     */
    @Param("true")
    public boolean releaseHostMemory;

    private ManagedHeap heap;
    private FloatArray array;
    private MemorySegment handle;
    private MemorySegment hostBlocks;
    private MemorySegment deviceBlocks;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend(backend).blockSize(blockSize).prefetchBlocks(0)
                .releaseHostMemory(releaseHostMemory).build();
        array = heap.allocateFloats(BATCH * blockSize / Float.BYTES);
        handle = array.segment();
        hostBlocks = LibC.mapAnonymous(BATCH * blockSize);
        deviceBlocks = LibC.mapAnonymous(BATCH * blockSize);
        DeviceResident.fillAndCheck(heap, array, 1.0f);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
        LibC.unmap(hostBlocks);
        LibC.unmap(deviceBlocks);
    }

    @Setup(Level.Invocation)
    public void toDevice() {
        DeviceResident.fill(heap, array, 1.0f);
    }

    /** One read per block: each one faults and migrates exactly one block home. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void fault(Blackhole bh) {
        for (int b = 0; b < BATCH; b++)
            bh.consume(handle.get(ValueLayout.JAVA_BYTE, b * blockSize + 8));
    }

    /** memcpy of one block + one mprotect pair: the floor of serving a fault in C. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void rawFloor(Blackhole bh) {
        for (int b = 0; b < BATCH; b++) {
            MemorySegment host = hostBlocks.asSlice(b * blockSize, blockSize);
            LibC.memcpy(host, deviceBlocks.asSlice(b * blockSize, blockSize), blockSize);
            LibC.mprotect(host, LibC.PROT_NONE);
            LibC.mprotect(host, LibC.PROT_READ | LibC.PROT_WRITE);
            bh.consume(host.get(ValueLayout.JAVA_BYTE, 8));
        }
    }

    /** As {@link #rawFloor}, into pages given back with MADV_DONTNEED (fresh zero pages, like a punched hole). */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void rawFloorFreshPages(Blackhole bh) {
        for (int b = 0; b < BATCH; b++) {
            MemorySegment host = hostBlocks.asSlice(b * blockSize, blockSize);
            LibC.dontNeed(host);
            LibC.memcpy(host, deviceBlocks.asSlice(b * blockSize, blockSize), blockSize);
            LibC.mprotect(host, LibC.PROT_NONE);
            LibC.mprotect(host, LibC.PROT_READ | LibC.PROT_WRITE);
            bh.consume(host.get(ValueLayout.JAVA_BYTE, 8));
        }
    }
}
