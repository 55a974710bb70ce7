package io.hmm4j.internal.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The device tiers' eviction order: LRU, turning MRU while evicted items keep coming back (a cyclic access). */
class ScanResistantOrderTest {

    /** Places items in a cycle on a tier holding {@code capacity}; returns the number of placements that hit. */
    private static int hitsOfCycle(ScanResistantOrder<String> order, int items, int capacity, int steps) {
        Set<String> resident = new LinkedHashSet<>();
        int hits = 0;
        for (int step = 0; step < steps; step++) {
            String item = "a" + step % items;
            if (resident.contains(item)) {
                hits++;
            } else if (resident.size() == capacity) {
                String victim = order.victim(candidate -> !candidate.equals(item)).orElseThrow();
                order.evicted(victim);
                resident.remove(victim);
            }
            order.touch(item);
            resident.add(item);
        }
        return hits;
    }

    @Test
    void aCycleLargerThanTheTierTurnsItMostRecentlyUsedFirstAndHitsWhereLruNeverDoes() {
        ScanResistantOrder<String> order = new ScanResistantOrder<>();
        int hits = hitsOfCycle(order, 4, 2, 400);
        assertThat(order.cyclic()).isTrue();
        // LRU on 4 items cycling through 2 places never hits; MRU keeps one of them until the cycle comes back.
        assertThat(hits).isGreaterThan(100);
    }

    @Test
    void aWorkingSetThatFitsAndStreamsOfNewItemsStayLeastRecentlyUsed() {
        ScanResistantOrder<String> order = new ScanResistantOrder<>();
        order.touch("hot");
        for (int i = 0; i < 200; i++) {
            order.touch("hot");
            String fresh = "new" + i;
            if (order.size() == 3)
                order.evicted(order.victim(candidate -> !candidate.equals("hot")).orElseThrow());
            order.touch(fresh);
        }
        assertThat(order.cyclic()).isFalse();
        List<String> victims = new ArrayList<>(order.victimsInOrder());
        assertThat(victims.getFirst()).as("least recently used first").isNotEqualTo(victims.getLast());
    }

    @Test
    void itTurnsBackToLeastRecentlyUsedOnceEvictedItemsStopComingBack() {
        ScanResistantOrder<String> order = new ScanResistantOrder<>();
        hitsOfCycle(order, 4, 2, 100);
        assertThat(order.cyclic()).isTrue();
        for (int i = 0; i < 50; i++)
            order.touch("new" + i);
        assertThat(order.cyclic()).isFalse();
    }

    @Test
    void aForgottenItemIsNeitherAVictimNorAGhost() {
        ScanResistantOrder<String> order = new ScanResistantOrder<>();
        order.touch("a");
        order.touch("b");
        order.evicted("a");
        assertThat(order.forget("a")).isFalse();
        assertThat(order.forget("b")).isTrue();
        assertThat(order.size()).isZero();
        assertThat(order.victim(x -> true)).isEmpty();
    }
}
