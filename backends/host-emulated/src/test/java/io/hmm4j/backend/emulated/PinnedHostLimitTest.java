package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.NativeCopyEngine;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Issue 10 item 2: kept pages are page-locked with the device (CUDA) within their own limit, and reclaim unpins
 * before it releases. The emulated device cannot page-lock; {@link NativeCopyEngine#pretendPinning} makes it
 * account pins as CUDA does, so the limit and its bookkeeping run here.
 */
class PinnedHostLimitTest {

    private static final long MIB = 1 << 20;
    private static final long FLOATS = MIB / Float.BYTES;

    private static NativeCopyEngine pretendPinning(ManagedHeap heap) {
        NativeCopyEngine engine = ((EmulatedDevice) heap.devices().get(0)).copyEngine();
        engine.pretendPinning();
        return engine;
    }

    /** An array whose host pages hold its bytes and are kept (so reclaimable) after a launch moved it. */
    private static FloatArray launched(ManagedHeap heap, float value) {
        FloatArray array = heap.allocateFloats(FLOATS);
        float[] halves = new float[(int) FLOATS];
        java.util.Arrays.fill(halves, value / 2);
        array.copyFrom(halves);
        heap.launch(BuiltinKernel.SCALE, FLOATS, Arg.readWrite(array), Arg.of(2f), Arg.of(FLOATS)).await();
        return array;
    }

    @Test
    void arraysBeyondTheLimitStayUnpinnedAndEveryPinIsGivenBack() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").hostBudget(64 * MIB)
                .pinnedHostLimit(3 * MIB).build()) {
            NativeCopyEngine engine = pretendPinning(heap);
            List<FloatArray> arrays = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                arrays.add(launched(heap, i));
                assertThat(heap.pinnedHostBytes(0)).isLessThanOrEqualTo(3 * MIB);
            }
            assertThat(heap.pinnedHostBytes(0)).isEqualTo(3 * MIB);
            assertThat(engine.pinRefusals()).isEqualTo(2);

            // Reclaim unpins what it releases; the bytes come home intact by fault.
            heap.reclaimHostMemory(Long.MAX_VALUE);
            assertThat(heap.pinnedHostBytes(0)).isZero();
            for (int i = 0; i < arrays.size(); i++)
                assertThat(arrays.get(i).get(FLOATS - 1)).isEqualTo(i);

            for (FloatArray array : arrays)
                array.close();
            assertThat(heap.pinnedHostBytes(0)).isZero();
        }
    }

    @Test
    void closingAPinnedArrayGivesItsShareBackForTheNextOne() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").hostBudget(64 * MIB)
                .pinnedHostLimit(MIB).build()) {
            NativeCopyEngine engine = pretendPinning(heap);
            FloatArray first = launched(heap, 1);
            FloatArray second = launched(heap, 2);
            assertThat(heap.pinnedHostBytes(0)).isEqualTo(MIB);
            assertThat(engine.pinRefusals()).isEqualTo(1);
            first.close();
            assertThat(heap.pinnedHostBytes(0)).isZero();
            FloatArray third = launched(heap, 3);
            assertThat(heap.pinnedHostBytes(0)).isEqualTo(MIB);
            assertThat(second.get(0)).isEqualTo(2f);
            assertThat(third.get(0)).isEqualTo(3f);
        }
    }

    @Test
    void theDefaultLimitIsHalfTheHostBudget() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").hostBudget(4 * MIB).build()) {
            pretendPinning(heap);
            List<FloatArray> arrays = new ArrayList<>();
            for (int i = 0; i < 3; i++)
                arrays.add(launched(heap, i));
            assertThat(heap.pinnedHostBytes(0)).isLessThanOrEqualTo(2 * MIB);
            arrays.forEach(FloatArray::close);
        }
    }

    @Test
    void zeroPinsNothingAndANegativeLimitIsRefused() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").pinnedHostLimit(0).build()) {
            pretendPinning(heap);
            launched(heap, 1);
            assertThat(heap.pinnedHostBytes(0)).isZero();
        }
        assertThatThrownBy(() -> ManagedHeap.builder().pinnedHostLimit(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("-1");
    }

    @Test
    void devicesThatCannotPageLockPinNothing() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").build()) {
            launched(heap, 1);
            assertThat(heap.pinnedHostBytes(0)).isZero();
        }
    }
}
