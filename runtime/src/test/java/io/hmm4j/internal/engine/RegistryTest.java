package io.hmm4j.internal.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.internal.ffm.hmm4j_h;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The fault handler looks every SIGSEGV of the process up in the region registry, the JVM's own included
 * (safepoint polls, implicit null checks): the scan must stay bounded by the live regions, not by the most
 * regions that ever lived.
 */
class RegistryTest {

    private static final long BLOCK = 4096;

    @Test
    void theScannedSpanShrinksWhenRegionsAreDestroyed() {
        Engine.ensureInitialized();
        int before = hmm4j_h.hmm4j_engine_registry_span();
        List<Region> regions = new ArrayList<>();
        for (int i = 0; i < 200; i++)
            regions.add(Region.create(BLOCK, BLOCK, MemorySegment.NULL));
        assertThat(hmm4j_h.hmm4j_engine_registry_span()).isGreaterThanOrEqualTo(before + 200);
        // The first stays alive; the others go in creation order, so the top slot is freed last.
        Region first = regions.getFirst();
        regions.subList(1, regions.size()).forEach(Region::destroy);
        assertThat(hmm4j_h.hmm4j_engine_registry_span()).isLessThanOrEqualTo(before + 1);
        first.destroy();
        assertThat(hmm4j_h.hmm4j_engine_registry_span()).isLessThanOrEqualTo(before);
        List<Region> again = new ArrayList<>();
        for (int i = 0; i < 50; i++)
            again.add(Region.create(BLOCK, BLOCK, MemorySegment.NULL));
        again.forEach(Region::destroy);
        assertThat(hmm4j_h.hmm4j_engine_registry_span()).isLessThanOrEqualTo(before);
    }
}
