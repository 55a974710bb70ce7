package io.hmm4j.backend.emulated;

import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.MultiDeviceModel;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * jqwik drives the multi-device model: random seeds, device counts and lengths, shrunk to the smallest failing
 * sequence; every step checks the bytes and where each block is valid.
 */
class MultiDevicePropertyTest {

    @Property(tries = 40)
    void blocksOnEveryDeviceMatchTheModel(@ForAll long seed, @ForAll @IntRange(min = 2, max = 4) int devices,
            @ForAll @IntRange(min = 1, max = 100) int steps, @ForAll @IntRange(min = 1, max = 5000) int length,
            @ForAll boolean overlap) {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").setting("devices", String.valueOf(devices))
                .setting("overlap", String.valueOf(overlap)).blockSize(4096).prefetchBlocks(0).thrashControl(false).build()) {
            // thrashControl(false): the model says where each block is valid, and thrash control moves arrays to
            // zero-copy on purpose (ThrashControlTest).
            MultiDeviceModel.run(heap, MultiDeviceModel.randomOps(seed, steps, 3, length, devices), 3, length, true);
        }
    }
}
