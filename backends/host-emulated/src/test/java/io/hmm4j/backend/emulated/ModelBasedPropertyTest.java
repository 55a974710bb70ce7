package io.hmm4j.backend.emulated;

import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.ByteModel;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/** jqwik drives the byte-model test: random seeds and lengths, shrunk to the smallest failing sequence. */
class ModelBasedPropertyTest {

    @Property(tries = 60)
    void heapMatchesAPlainByteArrayModel(@ForAll long seed, @ForAll @IntRange(min = 1, max = 120) int steps,
            @ForAll @IntRange(min = 1, max = 5000) int length, @ForAll @IntRange(min = 0, max = 3) int prefetch) {
        // Room for the two arrays an AXPY pins, never all three: every third placement evicts.
        long arrayBytes = (length * 4L + 4095) / 4096 * 4096;
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(4096).prefetchBlocks(prefetch)
                .deviceBudget(2 * arrayBytes).poolChunkBytes(arrayBytes).build()) {
            ByteModel.run(heap, ByteModel.randomOps(seed, steps, 3, length), 3, length);
        }
    }
}
