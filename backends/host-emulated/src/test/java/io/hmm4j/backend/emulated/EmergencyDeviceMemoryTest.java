package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.MemoryGroup;
import org.junit.jupiter.api.Test;

/**
 * Issue 10 item 3: when the host budget is exhausted and nothing is reclaimable, cold host-only arrays of groups
 * that allow it move to a device with free budget (emergency memory) and come back by fault; a group with device
 * policy NEVER keeps its arrays on the host.
 */
class EmergencyDeviceMemoryTest {

    private static final long MIB = 1 << 20;
    private static final long BLOCK = 64 * 1024;
    private static final long FLOATS = MIB / Float.BYTES;

    /** One float per 4 KiB page, so every page of the array is host memory. */
    private static void write(FloatArray array, float seed) {
        for (long i = 0; i < FLOATS; i += 1024)
            array.set(i, seed + i);
    }

    private static void check(FloatArray array, float seed) {
        for (long i = 0; i < FLOATS; i += 1024)
            assertThat(array.get(i)).isEqualTo(seed + i);
    }

    @Test
    void coldArraysOfAnAllowingGroupSpillToTheDeviceAndANeverGroupStaysHome() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).hostBudget(2 * MIB).build()) {
            MemoryGroup spill = heap.createGroup("spill", 64 * MIB).devicePolicy(MemoryGroup.DevicePolicy.EMERGENCY);
            MemoryGroup stays = heap.createGroup("stays", 64 * MIB).devicePolicy(MemoryGroup.DevicePolicy.NEVER);
            // Allocated while the heap holds nothing, written after: the budget is exceeded by writes, not allocations
            // (an allocation over the budget makes room first: HostMemoryExhaustionTest).
            FloatArray kept = stays.allocateFloats(FLOATS);
            FloatArray[] cold = new FloatArray[3];
            for (int i = 0; i < cold.length; i++)
                cold[i] = spill.allocateFloats(FLOATS);
            write(kept, 1000f);
            for (int i = 0; i < cold.length; i++)
                write(cold[i], i * 100f);
            assertThat(heap.hostBytesUsed()).isEqualTo(4 * MIB);

            FloatArray work = heap.allocateFloats(1024);
            heap.launch(BuiltinKernel.FILL, 1024, Arg.write(work), Arg.of(1f), Arg.of(1024L)).await();

            assertThat(heap.hostBytesUsed()).isLessThanOrEqualTo(2 * MIB + BLOCK);
            assertThat(heap.residency(kept).all(BlockState.HOST)).as("NEVER").isTrue();
            assertThat(heap.residency(cold[0]).all(BlockState.DEVICE)).as("the coldest array").isTrue();
            check(kept, 1000f);
            for (int i = 0; i < cold.length; i++)
                check(cold[i], i * 100f);
        }
    }

    @Test
    void arraysOnTheDeviceAsEmergencyMemoryMakeRoomForALaunchThatNeedsIt() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).hostBudget(2 * MIB)
                .deviceBudget(2 * MIB + MIB / 2).build()) {
            FloatArray[] cold = new FloatArray[3];
            for (int i = 0; i < cold.length; i++)
                cold[i] = heap.allocateFloats(FLOATS);
            for (int i = 0; i < cold.length; i++)
                write(cold[i], i * 100f);
            FloatArray trigger = heap.allocateFloats(1024);
            heap.launch(BuiltinKernel.FILL, 1024, Arg.write(trigger), Arg.of(1f), Arg.of(1024L)).await();
            assertThat(heap.deviceBytesUsed(0)).as("cold arrays spilled").isGreaterThan(MIB);

            FloatArray big = heap.allocateFloats(2 * FLOATS);
            heap.launch(BuiltinKernel.FILL, big.length(), Arg.write(big), Arg.of(3f), Arg.of(big.length())).await();

            assertThat(big.get(big.length() - 1)).isEqualTo(3f);
            for (int i = 0; i < cold.length; i++)
                check(cold[i], i * 100f);
        }
    }
}
