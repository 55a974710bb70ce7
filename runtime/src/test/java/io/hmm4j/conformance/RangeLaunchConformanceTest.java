package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
import io.hmm4j.ManagedHeap;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Range launches ({@link Arg#read(io.hmm4j.ManagedArray, long, long)}, a global offset): a launch moves only the
 * blocks covering its arguments' ranges, a write range keeps the bytes of its edge blocks outside it, launches whose
 * block ranges are apart run at once on different devices while overlapping ones wait, and a host access to a block a
 * launch writes waits for that launch. A backend subclasses it; cases needing more devices than it has, or launches
 * that stay in flight (an asynchronous device), are skipped saying so.
 */
public abstract class RangeLaunchConformanceTest extends MultiDeviceKit {

    /** Skips where launches complete before launchOn returns: nothing can be seen in flight there. */
    private void assumeAsynchronous() {
        Assumptions.assumeFalse(heap.devices().stream().allMatch(d -> d.launchesAreSynchronous()),
                () -> backend() + ": launches are synchronous here, none stays in flight beside another");
    }

    static Stream<Arguments> runs() {
        List<Arguments> runs = new ArrayList<>();
        for (int devices = 2; devices <= 4; devices++)
            for (long seed = 1; seed <= 4; seed++)
                runs.add(Arguments.of(devices, seed * 6271 + devices));
        return runs.stream();
    }

    @ParameterizedTest(name = "{0} devices, seed {1}")
    @MethodSource("runs")
    void rangeLaunchesMatchTheModelOfBytesAndPlaces(int devices, long seed) {
        heap(devices);
        int length = 5 * BLOCK_FLOATS + 100;
        MultiDeviceModel.run(heap, MultiDeviceModel.randomRangeOps(seed, 80, 3, length, devices), 3, length, true);
    }

    @Test
    void aWriteRangeCopiesInOnlyItsPartlyCoveredBlocksAndKeepsTheirOtherBytes() {
        heap(1);
        int n = 4 * BLOCK_FLOATS;
        FloatArray a = heap.allocateFloats(n);
        for (int i = 0; i < n; i++)
            a.set(i, i);
        // Floats [BLOCK_FLOATS / 2, 3 * BLOCK_FLOATS + 3): block 0 and 3 in part, 1 and 2 whole; block 3 untouched past.
        int first = BLOCK_FLOATS / 2;
        int floats = 3 * BLOCK_FLOATS + 3 - first;
        long toDevice = heap.stats().bytesToDevice();
        heap.launchOn(0, BuiltinKernel.FILL, first, floats, Arg.write(a, first, floats), Arg.of(-1f),
                Arg.of((long) floats)).await();
        assertThat(heap.stats().bytesToDevice() - toDevice).as("only the two edge blocks are copied in")
                .isEqualTo(2 * BLOCK);
        assertThat(heap.residency(a).devicePicture()).isEqualTo("D0 D0 D0 D0");
        for (int i = 0; i < n; i++)
            assertThat(a.get(i)).as("float %d", i).isEqualTo(i >= first && i < first + floats ? -1f : (float) i);
    }

    @Test
    void aRangeLaunchMovesOnlyTheBlocksOfItsRange() {
        heap(1);
        int n = 4 * BLOCK_FLOATS;
        FloatArray x = filled(n, 2);
        FloatArray y = filled(n, 1);
        long toDevice = heap.stats().bytesToDevice();
        heap.launchOn(0, BuiltinKernel.AXPY, BLOCK_FLOATS, BLOCK_FLOATS, Arg.read(x, BLOCK_FLOATS, BLOCK_FLOATS),
                Arg.readWrite(y, BLOCK_FLOATS, BLOCK_FLOATS), Arg.of(3f), Arg.of((long) BLOCK_FLOATS)).await();
        assertThat(heap.stats().bytesToDevice() - toDevice).isEqualTo(2 * BLOCK);
        assertThat(heap.residency(x).devicePicture()).isEqualTo("H S0 H H");
        assertThat(heap.residency(y).devicePicture()).isEqualTo("H D0 H H");
        for (int i = 0; i < n; i += BLOCK_FLOATS / 4)
            assertThat(y.get(i)).as("y[%d]", i).isEqualTo(i >= BLOCK_FLOATS && i < 2 * BLOCK_FLOATS ? 7f : 1f);
    }

    @Test
    void launchesOnDisjointBlockRangesOfOneArrayRunAtOnceOnTwoDevices() {
        heap(2);
        assumeAsynchronous();
        int half = 8 * BLOCK_FLOATS;
        FloatArray a = filled(2 * half, 1);
        Launch first = heap.launchOn(0, BuiltinKernel.SCALE, 0, half, Arg.readWrite(a, 0, half), Arg.of(2f),
                Arg.of((long) half));
        Launch second = heap.launchOn(1, BuiltinKernel.SCALE, half, half, Arg.readWrite(a, half, half), Arg.of(3f),
                Arg.of((long) half));
        // The second was placed and enqueued without waiting for the first: nobody has completed it yet.
        assertThat(first.isDone()).as("the first launch is still in flight after the second was enqueued").isFalse();
        first.await();
        second.await();
        assertThat(heap.residency(a).devicePicture()).isEqualTo("D0 ".repeat(8) + "D1 ".repeat(7) + "D1");
        for (int i = 0; i < 2 * half; i += BLOCK_FLOATS / 2)
            assertThat(a.get(i)).as("a[%d]", i).isEqualTo(i < half ? 2f : 3f);
    }

    @Test
    void launchesWhoseRangesShareABlockWaitForEachOther() {
        heap(2);
        assumeAsynchronous();
        int n = 4 * BLOCK_FLOATS;
        FloatArray a = filled(n, 1);
        // Apart by elements, not by blocks: float BLOCK_FLOATS + 5 starts the second, inside the first's last block.
        int split = BLOCK_FLOATS + 5;
        Launch first = heap.launchOn(0, BuiltinKernel.SCALE, 0, split, Arg.readWrite(a, 0, split), Arg.of(2f),
                Arg.of((long) split));
        Launch second = heap.launchOn(1, BuiltinKernel.SCALE, split, n - split, Arg.readWrite(a, split, n - split),
                Arg.of(3f), Arg.of((long) (n - split)));
        assertThat(first.isDone()).as("the second launch waited for the first").isTrue();
        second.await();
        // A read of what another launch writes waits too, on any device.
        Launch writer = heap.launchOn(0, BuiltinKernel.FILL, 0, BLOCK_FLOATS, Arg.write(a, 0, BLOCK_FLOATS),
                Arg.of(5f), Arg.of((long) BLOCK_FLOATS));
        FloatArray y = filled(n, 0);
        heap.launchOn(1, BuiltinKernel.AXPY, 0, BLOCK_FLOATS, Arg.read(a, 0, BLOCK_FLOATS),
                Arg.readWrite(y, 0, BLOCK_FLOATS), Arg.of(1f), Arg.of((long) BLOCK_FLOATS)).await();
        assertThat(writer.isDone()).as("the reader waited for the writer").isTrue();
        assertThat(y.get(0)).isEqualTo(5f);
        assertThat(a.get(split - 1)).isEqualTo(2f);
        assertThat(a.get(split)).isEqualTo(3f);
        assertThat(a.get(n - 1)).isEqualTo(3f);
    }

    @Test
    void aHostAccessWaitsForTheLaunchWritingItsBlock() {
        heap(2);
        int half = 64 * BLOCK_FLOATS;
        FloatArray[] blockers = {heap.allocateFloats(256 * BLOCK_FLOATS), heap.allocateFloats(256 * BLOCK_FLOATS)};
        for (int round = 0; round < 5; round++) {
            FloatArray a = filled(2 * half, 1);
            // Each device busy with another array first: the kernels writing a run only after, while the host reads.
            for (int d = 0; d < 2; d++)
                heap.launchOn(d, BuiltinKernel.FILL, blockers[d].length(), Arg.write(blockers[d]), Arg.of((float) round),
                        Arg.of(blockers[d].length()));
            Launch first = heap.launchOn(0, BuiltinKernel.SCALE, 0, half, Arg.readWrite(a, 0, half), Arg.of(2f),
                    Arg.of((long) half));
            Launch second = heap.launchOn(1, BuiltinKernel.SCALE, half, half, Arg.readWrite(a, half, half),
                    Arg.of(3f), Arg.of((long) half));
            // No await: the fault on the last block of each range waits for the kernel that writes it.
            assertThat(a.get(half - 1)).as("round %d, a block the first launch writes", round).isEqualTo(2f);
            assertThat(a.get(2 * half - 1)).as("round %d, a block the second launch writes", round).isEqualTo(3f);
            first.await();
            second.await();
            a.close();
        }
    }

    @Test
    void badRangesAndOffsetsAreRefusedBeforeAnythingMoves() {
        heap(1);
        int n = 2 * BLOCK_FLOATS;
        FloatArray a = filled(n, 1);
        FloatArray out = heap.allocateFloats(1);
        assertThatThrownBy(() -> Arg.read(a, -1, 4)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> Arg.write(a, 0, -1)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> Arg.readWrite(a, 8, Long.MAX_VALUE)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> Arg.read(a, n - 1, 2)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> Arg.read(null, 0, 1)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> heap.launchOn(0, BuiltinKernel.SCALE, -1, 4, Arg.readWrite(a), Arg.of(2f),
                Arg.of(4L))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("offset");
        assertThatThrownBy(() -> heap.launchOn(0, BuiltinKernel.SCALE, Long.MAX_VALUE, 4, Arg.readWrite(a),
                Arg.of(2f), Arg.of(4L))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("offset");
        // The offset plus n past the array's end.
        assertThatThrownBy(() -> heap.launchOn(0, BuiltinKernel.SCALE, n - 2, 4, Arg.readWrite(a), Arg.of(2f),
                Arg.of(4L))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("SCALE");
        assertThatThrownBy(() -> heap.launchOn(0, BuiltinKernel.SCALE, n + 1, 4, Arg.readWrite(a), Arg.of(2f),
                Arg.of(0L))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("offset");
        // A range that does not cover what the built-in processes.
        assertThatThrownBy(() -> heap.launchOn(0, BuiltinKernel.SCALE, 4, 8, Arg.readWrite(a, 4, 7), Arg.of(2f),
                Arg.of(8L))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("[4, 12)");
        // A whole array written at an offset would lose everything before it.
        assertThatThrownBy(() -> heap.launchOn(0, BuiltinKernel.FILL, 4, 8, Arg.write(a), Arg.of(2f), Arg.of(8L)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("WRITE");
        // Reductions and grids take neither an offset nor ranges.
        assertThatThrownBy(() -> heap.launchOn(0, BuiltinKernel.SUM, 4, 8, Arg.read(a), Arg.write(out), Arg.of(8L)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("offset");
        assertThatThrownBy(() -> heap.launchOn(0, BuiltinKernel.SUM, 8, Arg.read(a, 0, 8), Arg.write(out),
                Arg.of(8L))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("range");
        assertThatThrownBy(() -> heap.launchTiledOn(0, BuiltinKernel.SCALE, 8, BLOCK, Arg.readWrite(a, 0, 8),
                Arg.of(2f), Arg.of(8L))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("range");
        assertThat(heap.residency(a).all(BlockState.HOST)).isTrue();
        assertThat(heap.residency(a).devices()).isEmpty();
        assertThat(heap.stats().bytesToDevice()).isZero();
        a.close();
        assertThatThrownBy(() -> heap.launchOn(0, BuiltinKernel.SCALE, 0, 4, Arg.readWrite(a, 0, 4), Arg.of(2f),
                Arg.of(4L))).isInstanceOf(IllegalStateException.class);
    }
}
