package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Several threads faulting one device-resident array many times larger than a host budget of one block per thread:
 * each fault makes room with the region's own clean pages, which may be a block another thread has just brought home
 * and not read yet. Every thread must finish, read every byte right, and a block a thread moves on to must cost it
 * about one fault: blocks ping-ponging between the threads would show as many faults per visit (or a hang).
 */
class TinyBudgetManyFaultersTest {

    private static final long BLOCK = 64 * 1024;
    private static final int THREADS = 4;
    private static final int FLOATS = (int) (4 * 1024 * 1024 / Float.BYTES);
    private static final int STEP = 1031; // floats: a little over 4 KiB, so that a thread visits ~16 places per block

    @Test
    void threadsReadingOneArrayFarLargerThanTheBudgetAllFinishWithAboutOneFaultPerBlockVisited() throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).hostBudget(THREADS * BLOCK)
                .releaseHostMemory(true).build()) {
            FloatArray array = heap.allocateFloats(FLOATS);
            // A block at a time, each sent to the device at once: the host's first writes take pages without a fault.
            int perBlock = (int) (BLOCK / Float.BYTES);
            for (int b = 0; b < FLOATS / perBlock; b++) {
                for (int i = b * perBlock; i < (b + 1) * perBlock; i++)
                    array.set(i, i);
                heap.migrate(array, b * BLOCK, BLOCK, Location.device(0));
            }
            AtomicLong blockVisits = new AtomicLong();
            long faultsBefore = heap.stats().faults();
            for (int round = 0; round < 3; round++) {
                heap.migrate(array, Location.device(0));
                AtomicReference<Throwable> failure = new AtomicReference<>();
                CountDownLatch done = new CountDownLatch(THREADS);
                for (int t = 0; t < THREADS; t++) {
                    int stride = t + 1;
                    int start = t * 4096;
                    Thread.ofPlatform().daemon().start(() -> {
                        try {
                            // Different strides: the threads' faults interleave over the same blocks.
                            long lastBlock = -1;
                            for (long k = 0; k < 4096; k++) {
                                int i = (int) ((start + k * stride * STEP) % FLOATS);
                                if (i / perBlock != lastBlock) {
                                    lastBlock = i / perBlock;
                                    blockVisits.incrementAndGet();
                                }
                                if (array.get(i) != i)
                                    throw new AssertionError("[" + i + "] = " + array.get(i));
                            }
                        } catch (Throwable e) {
                            failure.compareAndSet(null, e);
                        } finally {
                            done.countDown();
                        }
                    });
                }
                assertThat(done.await(60, TimeUnit.SECONDS)).as("every faulting thread finished (round %d)", round)
                        .isTrue();
                if (failure.get() != null)
                    throw new AssertionError(failure.get());
            }
            long faults = heap.stats().faults() - faultsBefore;
            assertThat(heap.stats().reclaimedBytes()).as("the budget made the faults give pages back").isPositive();
            assertThat(faults).as("faults for %d block visits", blockVisits.get())
                    .isLessThanOrEqualTo(blockVisits.get() * 3 / 2);
        }
    }
}
