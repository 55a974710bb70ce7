package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.HeapStats;
import io.hmm4j.ManagedHeap;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Fault batching (issue 12, item 5): threads that fault on blocks of one array while a fault of it is being served
 * are served by the holder's copy of their blocks, not one copy each after the other. A slow modelled bus (a copy
 * takes milliseconds) makes the faults overlap; the engine's counters say which faults were batched.
 */
class FaultBatchingTest {

    private static final int BLOCK = 4096;
    private static final int FLOATS_PER_BLOCK = BLOCK / Float.BYTES;
    private static final int THREADS = 8;

    @Test
    void threadsFaultingOneArrayTogetherAreServedByBatchedCopies() throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).prefetchBlocks(0)
                .setting("latency.ns", "5000000").build()) {
            FloatArray a = heap.allocateFloats((long) THREADS * FLOATS_PER_BLOCK);
            for (int i = 0; i < a.length(); i++)
                a.set(i, i);
            long batched = 0;
            for (int round = 1; round <= 5 && batched == 0; round++) {
                heap.launch(BuiltinKernel.SCALE, a.length(), Arg.readWrite(a), Arg.of(2f), Arg.of(a.length())).await();
                assertThat(heap.residency(a).all(BlockState.DEVICE)).isTrue();
                HeapStats before = heap.stats();
                float factor = (float) Math.pow(2, round);
                CyclicBarrier start = new CyclicBarrier(THREADS);
                AtomicReference<Throwable> failure = new AtomicReference<>();
                List<Thread> threads = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    int block = t;
                    threads.add(Thread.ofPlatform().start(() -> {
                        try {
                            start.await();
                            // Odd blocks are written, even ones read: both intents are batched.
                            int i = block * FLOATS_PER_BLOCK + 3;
                            float seen = a.get(i);
                            if (seen != factor * i)
                                throw new AssertionError("a[" + i + "] = " + seen + ", expected " + factor * i);
                            if (block % 2 == 1)
                                a.set(i, seen);
                        } catch (Throwable e) {
                            failure.compareAndSet(null, e);
                        }
                    }));
                }
                for (Thread thread : threads)
                    thread.join();
                assertThat(failure.get()).isNull();
                HeapStats after = heap.stats();
                assertThat(after.blocksToHost() - before.blocksToHost()).isEqualTo(THREADS);
                batched = after.batchedFaults() - before.batchedFaults();
                assertThat(after.faults() - before.faults()).isGreaterThanOrEqualTo(THREADS);
                for (int b = 0; b < THREADS; b++) {
                    BlockState expected = b % 2 == 1 ? BlockState.HOST : BlockState.SHARED;
                    assertThat(heap.residency(a).state(b)).as("block %d", b).isIn(expected, BlockState.HOST);
                }
            }
            assertThat(batched).as("faults served by another fault's batched copy").isPositive();
        }
    }
}
