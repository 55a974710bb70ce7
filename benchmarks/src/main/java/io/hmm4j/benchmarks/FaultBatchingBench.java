package io.hmm4j.benchmarks;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
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
 * What does fault batching buy when many threads fault the same array? An array of {@value #BLOCKS} blocks of 64 KiB
 * lives on an emulated device behind a PCIe-like bus (10 µs per copy, 12 GB/s); one operation reads one float of
 * every block from the host, so every block faults home (read faults, prefetch off so each fault is one block).
 * {@code threads} = 1 reads the blocks one at a time (the baseline: each fault its own copy); 4 threads read
 * interleaved blocks at once, so faults that find the array's lock taken are served by the holder's copy of the
 * union of their blocks (consecutive blocks in one copy). Same blocks, same bytes, same pool of worker threads.
 * Reported: time per operation, and the batched faults per operation as a secondary result
 * ({@code heap.stats().batchedFaults()}, read after the run).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class FaultBatchingBench {

    static final int BLOCKS = 256;
    static final long BLOCK_BYTES = 64 * 1024;
    static final long N = BLOCKS * BLOCK_BYTES / Float.BYTES;

    @Param({"1", "4"})
    public int threads;

    private ManagedHeap heap;
    private FloatArray array;
    private ExecutorService pool;
    private long operations;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK_BYTES).prefetchBlocks(0)
                .setting("latency.ns", "10000").setting("bandwidth", "12000000000").build();
        array = heap.allocateFloats(N);
        array.segment().fill((byte) 1);
        pool = Executors.newFixedThreadPool(threads);
    }

    /** Puts every block back on the device (DEVICE): the next operation faults all of them home. */
    @Setup(Level.Invocation)
    public void toDevice() {
        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(array), Arg.of(1f), Arg.of(N)).await();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.shutdownNow();
        long batched = heap.stats().batchedFaults();
        System.out.printf("%n[FaultBatchingBench threads=%d] batched faults: %d of %d faults (%.1f per operation)%n",
                threads, batched, heap.stats().faults(), operations == 0 ? 0.0 : (double) batched / operations);
        heap.close();
    }

    @Benchmark
    public float faultEveryBlock() throws InterruptedException, ExecutionException {
        MemorySegment segment = array.segment();
        List<Future<Float>> parts = new ArrayList<>(threads);
        for (int t = 0; t < threads; t++) {
            int first = t;
            parts.add(pool.submit(() -> {
                float sum = 0;
                for (long b = first; b < BLOCKS; b += threads)
                    sum += segment.get(ValueLayout.JAVA_FLOAT, b * BLOCK_BYTES);
                return sum;
            }));
        }
        float sum = 0;
        for (Future<Float> part : parts)
            sum += part.get();
        operations++;
        return sum;
    }
}
