package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.HostOutOfMemoryException;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.MemoryGroup;
import io.hmm4j.conformance.ChildJvm;
import io.hmm4j.conformance.HostMemoryFaults;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 10 item 3, when host memory runs out: an allowing group's cold arrays land on a device and the program runs
 * on; a NEVER group's allocation that does not fit is refused with an exception that says what to do, and nothing is
 * lost or half-allocated; a block that cannot get host memory to come home is first reclaimed for (kept pages of
 * other DEVICE blocks), then fails cleanly: an exception for an explicit move, the JVM's InternalError for a plain
 * access, the data still on the device either way. No host memory really runs out here: the budget is small, and
 * the engine's reservation failure (fallocate ENOSPC) is injected.
 */
class HostMemoryExhaustionTest {

    private static final long MIB = 1 << 20;
    private static final long BLOCK = 64 * 1024;
    private static final long FLOATS = MIB / Float.BYTES;

    @AfterEach
    void disarm() {
        HostMemoryFaults.failReservations(0, 0);
    }

    private static void fill(FloatArray array, float seed) {
        for (long i = 0; i < FLOATS; i++)
            array.set(i, seed + i % 1000);
    }

    private static void check(FloatArray array, float seed) {
        float[] values = array.toArray();
        for (int i = 0; i < values.length; i++)
            if (values[i] != seed + i % 1000)
                throw new AssertionError(array + "[" + i + "] = " + values[i] + ", expected " + (seed + i % 1000));
    }

    @Test
    void aNeverGroupThatDoesNotFitTheHostBudgetIsRefusedAndNothingIsAllocated() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).hostBudget(2 * MIB).build()) {
            MemoryGroup pinned = heap.createGroup("pinned", 64 * MIB).devicePolicy(MemoryGroup.DevicePolicy.NEVER);
            FloatArray first = pinned.allocateFloats(FLOATS);
            FloatArray second = pinned.allocateFloats(FLOATS);
            fill(first, 1f);
            fill(second, 2f);

            assertThatThrownBy(() -> pinned.allocateFloats(FLOATS)).isInstanceOf(HostOutOfMemoryException.class)
                    .hasMessageContaining("memory group pinned").hasMessageContaining("NEVER")
                    .hasMessageContaining("hostBudget").hasMessageContaining("DevicePolicy.EMERGENCY")
                    .satisfies(e -> assertThat(((HostOutOfMemoryException) e).requestedBytes()).isEqualTo(MIB));

            assertThat(pinned.used()).as("the refused array is not charged").isEqualTo(2 * MIB);
            assertThat(heap.liveArrays()).isEqualTo(2);
            assertThat(heap.residency(first).all(BlockState.HOST)).isTrue();
            check(first, 1f);
            check(second, 2f);
            // Room again: the same allocation succeeds.
            first.close();
            FloatArray third = pinned.allocateFloats(FLOATS);
            fill(third, 3f);
            check(third, 3f);
        }
    }

    @Test
    void anAllowingGroupsColdArraysMoveToADeviceToMakeRoomForAnAllocation() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).hostBudget(2 * MIB).build()) {
            MemoryGroup spill = heap.createGroup("spill", 64 * MIB);
            MemoryGroup pinned = heap.createGroup("pinned", 64 * MIB).devicePolicy(MemoryGroup.DevicePolicy.NEVER);
            FloatArray cold = spill.allocateFloats(FLOATS);
            FloatArray warm = spill.allocateFloats(FLOATS);
            fill(cold, 10f);
            fill(warm, 20f);

            FloatArray kept = pinned.allocateFloats(FLOATS);
            fill(kept, 30f);

            assertThat(heap.residency(cold).all(BlockState.DEVICE)).as("the coldest array made room").isTrue();
            assertThat(heap.hostBytesUsed()).isLessThanOrEqualTo(2 * MIB);
            check(kept, 30f);
            check(warm, 20f);
            check(cold, 10f);
        }
    }

    /** Two arrays on the device with their host pages kept; the older one's pages reclaimed. */
    private static FloatArray[] onDeviceOlderReclaimed(ManagedHeap heap) {
        FloatArray older = heap.allocateFloats(FLOATS);
        FloatArray newer = heap.allocateFloats(FLOATS);
        fill(older, 100f);
        fill(newer, 200f);
        for (FloatArray a : new FloatArray[] {older, newer})
            heap.launch(BuiltinKernel.SCALE, FLOATS, Arg.readWrite(a), Arg.of(1f), Arg.of(FLOATS)).await();
        assertThat(heap.reclaimHostMemory(MIB)).isEqualTo(MIB);
        assertThat(heap.hostBytesUsed()).as("the newer array's kept pages").isEqualTo(MIB);
        return new FloatArray[] {older, newer};
    }

    @Test
    void aBlockThatGetsNoHostMemoryToComeHomeIsReclaimedForFirst() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).prefetchBlocks(0).build()) {
            FloatArray[] arrays = onDeviceOlderReclaimed(heap);
            long reclaimedBefore = heap.stats().reclaimedBytes();
            HostMemoryFaults.failReservations(0, 1);

            assertThat(arrays[0].get(5)).isEqualTo(105f);

            // The one block that came home took the place of the kept pages given back for it.
            assertThat(heap.stats().reclaimedBytes() - reclaimedBefore).isGreaterThanOrEqualTo(BLOCK);
            assertThat(heap.hostBytesUsed()).isLessThanOrEqualTo(MIB);
            assertThat(heap.stats().hostMemoryFailures()).isZero();
            check(arrays[0], 100f);
            check(arrays[1], 200f);
        }
    }

    @Test
    void anExplicitMoveHomeWithoutHostMemoryFailsCleanlyAndLosesNothing() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            FloatArray[] arrays = onDeviceOlderReclaimed(heap);
            HostMemoryFaults.failReservations(0, Integer.MAX_VALUE);

            assertThatThrownBy(() -> heap.prefetch(arrays[0], Location.HOST))
                    .isInstanceOf(HostOutOfMemoryException.class).hasMessageContaining("HMM4J_ENOHOSTMEM");
            assertThatThrownBy(() -> heap.evacuate(0)).isInstanceOf(HostOutOfMemoryException.class);
            assertThat(heap.residency(arrays[0]).all(BlockState.DEVICE)).isTrue();
            assertThat(heap.stats().hostMemoryFailures()).isPositive();
            assertThat(heap.hostBytesUsed()).as("every kept page was given back trying").isZero();

            HostMemoryFaults.failReservations(0, 0);
            heap.evacuate(0);
            check(arrays[0], 100f);
            check(arrays[1], 200f);
        }
    }

    /**
     * The engine writes HOST blocks of other arrays back to their device while faults keep a small budget; arrays are
     * closed and their device memory reused by new ones all the while. A write-back into the device memory of an array
     * being closed would land in whatever array gets that memory next: every array is checked against its model.
     */
    @Test
    void writeBacksUnderATightBudgetNeverLandInAClosedArraysDeviceMemory() throws Exception {
        long small = 256 * 1024;
        int floats = (int) (small / Float.BYTES);
        // Two arrays per thread of 256 KiB, a budget of 512 KiB: the engine writes back at nearly every fault.
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).hostBudget(MIB / 2).build()) {
            java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
            long end = System.nanoTime() + 4_000_000_000L;
            Runnable churn = () -> {
                java.util.Random random = new java.util.Random(Thread.currentThread().threadId());
                try {
                    FloatArray kept = heap.allocateFloats(floats);
                    float[] keptModel = new float[floats];
                    while (System.nanoTime() < end && failure.get() == null) {
                        FloatArray array = heap.allocateFloats(floats);
                        float[] model = new float[floats];
                        for (int i = 0; i < floats; i++)
                            model[i] = random.nextInt(1000);
                        array.copyFrom(model);
                        heap.launch(BuiltinKernel.SCALE, floats, Arg.readWrite(array), Arg.of(1f), Arg.of((long) floats))
                                .await();
                        for (int w = 0; w < 16; w++) {
                            int i = random.nextInt(floats);
                            model[i] = -w;
                            array.set(i, -w);
                            int k = random.nextInt(floats);
                            keptModel[k] = w;
                            kept.set(k, w);
                        }
                        assertThat(array.toArray()).isEqualTo(model);
                        array.close();
                        heap.launch(BuiltinKernel.SCALE, floats, Arg.readWrite(kept), Arg.of(1f), Arg.of((long) floats))
                                .await();
                        assertThat(kept.toArray()).isEqualTo(keptModel);
                    }
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
            };
            Thread a = Thread.ofPlatform().start(churn);
            Thread b = Thread.ofPlatform().start(churn);
            a.join();
            b.join();
            if (failure.get() != null)
                throw new AssertionError(failure.get());
            assertThat(heap.stats().reclaimedBytes()).isPositive();
            assertThat(heap.stats().bytesToDevice(io.hmm4j.MigrationCause.EVICTION)).as("written back").isPositive();
        }
    }

    /** Child JVM: a plain host access whose block gets no host memory. */
    public static void main(String[] args) {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).userfaultfd(args[0]).build()) {
            FloatArray[] arrays = onDeviceOlderReclaimed(heap);
            HostMemoryFaults.failReservations(0, Integer.MAX_VALUE);
            try {
                System.out.println("READ " + arrays[0].get(5));
            } catch (InternalError e) {
                System.out.println("INTERNAL_ERROR " + e.getMessage());
            }
            System.out.println("STATE " + heap.residency(arrays[0]).state(0) + " FAILURES "
                    + (heap.stats().hostMemoryFailures() > 0));
            HostMemoryFaults.failReservations(0, 0);
            System.out.println("AGAIN " + arrays[0].get(5) + " " + arrays[1].get(5));
        }
    }

    @Test
    void aPlainAccessWhoseBlockGetsNoHostMemoryIsTheJvmsInternalErrorAndTheDataStays() throws Exception {
        ChildJvm.Result result = ChildJvm.run(HostMemoryExhaustionTest.class, List.of(), 60, "off");
        assertThat(result.output()).as(result.output()).contains("INTERNAL_ERROR").contains("STATE DEVICE FAILURES true")
                .contains("AGAIN 105.0 205.0");
        assertThat(result.exitCode()).as(result.output()).isZero();
    }

    @Test
    void onAUserfaultfdHeapToo() throws Exception {
        String cause = io.hmm4j.RuntimeInfo.userfaultfdUnavailabilityCause();
        org.junit.jupiter.api.Assumptions.assumeTrue(cause == null, () -> "userfaultfd not available: " + cause);
        ChildJvm.Result result = ChildJvm.run(HostMemoryExhaustionTest.class, List.of(), 60, "on");
        assertThat(result.output()).as(result.output()).contains("INTERNAL_ERROR").contains("STATE DEVICE FAILURES true")
                .contains("AGAIN 105.0 205.0");
        assertThat(result.exitCode()).as(result.output()).isZero();
    }
}
