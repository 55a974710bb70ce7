package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.ByteArray;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.MemoryGroup;
import io.hmm4j.MemoryLimitExceededException;
import org.junit.jupiter.api.Test;

class MemoryGroupTest {

    private static final long BLOCK = 4096;

    @Test
    void chargesFollowAllocationNotResidency() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            MemoryGroup group = heap.createGroup("jobs", 10 * BLOCK);
            FloatArray a = group.allocateFloats(1000); // 4000 bytes: one block
            assertThat(group.used()).isEqualTo(BLOCK);
            heap.launch(BuiltinKernel.FILL, 1000, Arg.write(a), Arg.of(1f), Arg.of(1000L)).await();
            assertThat(group.used()).isEqualTo(BLOCK);
            heap.evacuate(0);
            assertThat(group.used()).isEqualTo(BLOCK);
            a.close();
            assertThat(group.used()).isZero();
            assertThat(group.peak()).isEqualTo(BLOCK);
        }
    }

    @Test
    void limitIsEnforcedAcrossNestedGroupsAndNothingLeaks() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            MemoryGroup parent = heap.createGroup("tenant", 4 * BLOCK);
            MemoryGroup child = parent.createChild("job", 100 * BLOCK);
            child.allocateBytes(3 * BLOCK);
            assertThat(parent.used()).isEqualTo(3 * BLOCK);
            assertThatThrownBy(() -> child.allocateBytes(2 * BLOCK)).isInstanceOf(MemoryLimitExceededException.class)
                    .hasMessageContaining("tenant");
            assertThat(child.used()).isEqualTo(3 * BLOCK);
            assertThat(parent.used()).isEqualTo(3 * BLOCK);
            assertThat(heap.liveArrays()).isEqualTo(1);
            assertThat(child.name()).isEqualTo("tenant/job");
            child.allocateBytes(BLOCK);
            assertThatThrownBy(() -> heap.createGroup("bad", 0)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void closingTheHeapUnchargesEverything() {
        ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build();
        MemoryGroup group = heap.createGroup("g", 8 * BLOCK);
        group.allocateLongs(1024);
        group.allocateDoubles(512);
        assertThat(group.used()).isEqualTo(3 * BLOCK);
        heap.close();
        assertThat(group.used()).isZero();
        assertThatThrownBy(() -> group.allocateInts(1)).isInstanceOf(IllegalStateException.class);
    }

    /**
     * Issue 9 item 11: charges that fit were refused when a concurrent charge that did not fit was counted first
     * (add, then subtract on failure). Two small requesters always fit beside the filler; four large ones never do.
     */
    @Test
    void chargesThatFitAreNeverRefusedBecauseOfConcurrentOnesThatDoNot() throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            MemoryGroup group = heap.createGroup("contended", 4 * BLOCK);
            ByteArray filler = group.allocateBytes(2 * BLOCK);
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(6);
            java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            java.util.List<java.util.concurrent.Future<Integer>> small = new java.util.ArrayList<>();
            for (int t = 0; t < 4; t++) {
                pool.submit(() -> {
                    go.await();
                    while (!stop.get()) {
                        try {
                            group.allocateBytes(3 * BLOCK).close();
                            throw new AssertionError("3 blocks cannot fit beside 2 in a limit of 4");
                        } catch (MemoryLimitExceededException expected) {
                            // never fits
                        }
                    }
                    return null;
                });
            }
            for (int t = 0; t < 2; t++) {
                small.add(pool.submit(() -> {
                    go.await();
                    int refused = 0;
                    for (int i = 0; i < 500; i++) {
                        try {
                            group.allocateBytes(BLOCK).close();
                        } catch (MemoryLimitExceededException e) {
                            refused++;
                        }
                    }
                    return refused;
                }));
            }
            go.countDown();
            int refused = 0;
            for (var f : small)
                refused += f.get();
            stop.set(true);
            pool.shutdown();
            assertThat(pool.awaitTermination(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            assertThat(refused).as("1-block requests refused although they fit").isZero();
            filler.close();
            assertThat(group.used()).isZero();
            assertThat(group.peak()).isLessThanOrEqualTo(4 * BLOCK);
        }
    }
}
