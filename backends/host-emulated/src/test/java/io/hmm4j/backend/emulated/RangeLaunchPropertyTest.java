package io.hmm4j.backend.emulated;

import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.MultiDeviceModel;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * jqwik drives the multi-device model with range launches and split launches on two devices mixed in: random seeds,
 * device counts, lengths and overlap, shrunk to the smallest failing sequence; every step checks the bytes and where
 * each block is valid. Thrash control off: the model has no zero-copy switch.
 */
class RangeLaunchPropertyTest {

    @Property(tries = 30)
    void rangeLaunchesOnEveryDeviceMatchTheModel(@ForAll long seed, @ForAll @IntRange(min = 2, max = 4) int devices,
            @ForAll @IntRange(min = 1, max = 100) int steps, @ForAll @IntRange(min = 1, max = 5000) int length,
            @ForAll boolean overlap) {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").setting("devices", String.valueOf(devices))
                .setting("overlap", String.valueOf(overlap)).blockSize(4096).prefetchBlocks(0).thrashControl(false)
                .build()) {
            MultiDeviceModel.run(heap, MultiDeviceModel.randomRangeOps(seed, steps, 3, length, devices), 3, length,
                    true);
        }
    }
}
