package io.hmm4j.internal.policy;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.MemoryGroup.DevicePolicy;
import io.hmm4j.internal.engine.Region;
import io.hmm4j.internal.ffm.hmm4j_stats;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Which cold arrays the host tier moves to devices first: PREFERRED before EMERGENCY, each least recently used first. */
class HostTierSpillOrderTest {

    @Test
    void preferredGroupsGoFirstThenEmergencyOnesAndNeverOnesNot() {
        try (Arena arena = Arena.ofConfined()) {
            var stats = arena.allocate(hmm4j_stats.$LAYOUT);
            List<Region> regions = List.of(Region.create(4096, 4096, stats), Region.create(4096, 4096, stats),
                    Region.create(4096, 4096, stats), Region.create(4096, 4096, stats));
            try {
                HostTier tier = new HostTier(1 << 20, 4096);
                for (Region region : regions)
                    tier.used(region);
                tier.used(regions.get(0)); // now the most recently used
                Map<Region, DevicePolicy> policies = Map.of(regions.get(0), DevicePolicy.EMERGENCY,
                        regions.get(1), DevicePolicy.NEVER, regions.get(2), DevicePolicy.EMERGENCY,
                        regions.get(3), DevicePolicy.PREFERRED);

                assertThat(tier.spillOrder(policies::get))
                        .containsExactly(regions.get(3), regions.get(2), regions.get(0));
            } finally {
                regions.forEach(Region::destroy);
            }
        }
    }
}
