package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.NativeCopyEngine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Issue 10, the host tier: host pages of blocks that also live on the device are kept (the way home costs only
 * the copy) and given back, least recently used first, when the heap holds more than its host budget.
 */
class HostTierTest {

    private static final long MIB = 1 << 20;
    private static final long BLOCK = 64 * 1024;
    private static final long BUDGET = 4 * MIB;
    private static final int ARRAYS = 8;
    private static final long FLOATS = 2 * MIB / Float.BYTES;

    /**
     * Host RAM of the process's hmm4j regions, from /proc/self/smaps: a region's memfd is mapped twice (user and
     * engine view), and Pss splits each page between the two, so the sum over both views counts it once.
     */
    private static long regionHostBytes() throws IOException {
        List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        long kib = 0;
        boolean inRegion = false;
        for (String line : lines) {
            if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*"))
                inRegion = line.contains("memfd:hmm4j-region");
            else if (inRegion && line.startsWith("Pss:"))
                kib += Long.parseLong(line.replaceAll("\\D", ""));
        }
        return kib * 1024;
    }

    private static void scale(ManagedHeap heap, FloatArray array, float factor) {
        heap.launch(BuiltinKernel.SCALE, array.length(), Arg.readWrite(array), Arg.of(factor), Arg.of(array.length()))
                .await();
    }

    @Test
    void aWorkingSetFourTimesTheHostBudgetStaysWithinItAtEveryLaunch() throws IOException {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).hostBudget(BUDGET).build()) {
            FloatArray[] arrays = new FloatArray[ARRAYS];
            float[][] model = new float[ARRAYS][(int) FLOATS];
            long worst = 0;
            for (int i = 0; i < ARRAYS; i++) {
                arrays[i] = heap.allocateFloats(FLOATS);
                for (int j = 0; j < FLOATS; j++)
                    model[i][j] = (i * 7 + j) % 64;
                arrays[i].copyFrom(model[i]);
                scale(heap, arrays[i], 2f);
                for (int j = 0; j < FLOATS; j++)
                    model[i][j] *= 2f;
                worst = Math.max(worst, regionHostBytes());
            }
            // Rounds over all arrays: a launch, then the host reads the whole array back (every block faults home).
            for (int round = 0; round < 2; round++) {
                float factor = round % 2 == 0 ? 0.5f : 2f;
                for (int i = 0; i < ARRAYS; i++) {
                    scale(heap, arrays[i], factor);
                    worst = Math.max(worst, regionHostBytes());
                    float[] read = arrays[i].toArray();
                    for (int j = 0; j < FLOATS; j++)
                        model[i][j] *= factor;
                    assertThat(read).as("array %d after round %d", i, round).isEqualTo(model[i]);
                }
            }
            // One thread: the budget plus one block.
            assertThat(worst).isLessThanOrEqualTo(BUDGET + BLOCK);
            assertThat(heap.stats().reclaimedBytes()).isGreaterThanOrEqualTo(ARRAYS * 2 * MIB - BUDGET);
            for (int i = 0; i < ARRAYS; i++)
                assertThat(arrays[i].toArray()).isEqualTo(model[i]);
        }
    }

    @Test
    void byDefaultAKernelWriteKeepsTheHostPagesSoTheWayHomeIsOnlyTheCopy() throws IOException {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").build()) {
            FloatArray a = heap.allocateFloats(32 * MIB / Float.BYTES);
            a.segment().fill((byte) 1);
            long resident = regionHostBytes();
            heap.launch(BuiltinKernel.FILL, a.length(), Arg.write(a), Arg.of(2f), Arg.of(a.length())).await();
            assertThat(resident - regionHostBytes()).isLessThan(2 * MIB);
            assertThat(a.get(a.length() - 1)).isEqualTo(2f);
            assertThat(heap.stats().reclaimedBytes()).isZero();
        }
    }

    @Test
    void aHostBudgetMustBePositive() {
        assertThatThrownBy(() -> ManagedHeap.builder().hostBudget(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("host budget");
    }

    @Test
    void reclaimingOnRequestGivesBackKeptPagesOnlyAndTheDataComesHome() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            FloatArray older = heap.allocateFloats(FLOATS);
            FloatArray newer = heap.allocateFloats(FLOATS);
            for (FloatArray a : new FloatArray[] {older, newer}) {
                a.segment().fill((byte) 0);
                scale(heap, a, 2f);
            }
            assertThat(heap.hostBytesUsed()).isEqualTo(4 * MIB);

            FloatArray hostOnly = heap.allocateFloats(FLOATS);
            hostOnly.segment().fill((byte) 0);

            assertThat(heap.reclaimHostMemory(MIB)).isEqualTo(MIB);
            assertThat(heap.stats().reclaimedBytes()).isEqualTo(MIB);
            assertThat(heap.reclaimHostMemory(100 * MIB)).as("only the kept pages").isEqualTo(3 * MIB);
            assertThat(heap.hostBytesUsed()).as("the host-only array").isEqualTo(2 * MIB);
            assertThatThrownBy(() -> heap.reclaimHostMemory(-1)).isInstanceOf(IllegalArgumentException.class);
            assertThat(older.get(FLOATS - 1)).isZero();
            assertThat(newer.get(0)).isZero();
        }
    }

    @Test
    void aDeviceThatCannotGiveItsCopyBackKeepsTheHostCopyOfSharedBlocks() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            FloatArray input = heap.allocateFloats(FLOATS);
            FloatArray output = heap.allocateFloats(FLOATS);
            input.set(FLOATS - 1, 5f);
            // Read by the kernel: SHARED, valid on both sides.
            heap.launch(BuiltinKernel.AXPY, FLOATS, Arg.read(input), Arg.readWrite(output), Arg.of(1f), Arg.of(FLOATS))
                    .await();
            ((EmulatedDevice) heap.devices().getFirst()).copyEngine()
                    .inject(NativeCopyEngine.Injection.DEVICE_UNREADABLE, 0);

            heap.reclaimHostMemory(100 * MIB);

            assertThat(input.get(FLOATS - 1)).isEqualTo(5f);
        }
    }

    /**
     * An explicit migrate to a device leaves the host pages it kept reclaimable: a heap over its host budget gives
     * them back then, as after a launch, not at some later launch that may never come.
     */
    @Test
    void aMigrateToTheDeviceBringsTheHeapBackWithinItsHostBudget() {
        long budget = 4 * BLOCK;
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).hostBudget(budget)
                .thrashControl(false).build()) {
            long floats = 64 * BLOCK / Float.BYTES;
            FloatArray array = heap.allocateFloats(floats);
            for (long i = 0; i < floats; i++)
                array.set(i, i % 100);
            assertThat(heap.hostBytesUsed()).as("written by the host: over the budget").isGreaterThan(budget);
            heap.migrate(array, Location.device(0));
            assertThat(heap.hostBytesUsed()).isLessThanOrEqualTo(budget);
            for (long i = 0; i < floats; i += 1000)
                assertThat(array.get(i)).isEqualTo(i % 100);
        }
    }
}
