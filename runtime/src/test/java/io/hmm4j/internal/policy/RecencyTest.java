package io.hmm4j.internal.policy;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The victim order shared by eviction and the host tier. */
class RecencyTest {

    @Test
    void theLeastRecentlyTouchedEligibleItemIsTheVictim() {
        Recency<String> recency = new Recency<>();
        assertThat(recency.touch("a")).isTrue();
        recency.touch("b");
        recency.touch("c");
        assertThat(recency.touch("a")).as("known already").isFalse();

        assertThat(recency.oldestFirst()).containsExactly("b", "c", "a");
        assertThat(recency.leastRecent(item -> true)).contains("b");
        assertThat(recency.leastRecent(item -> !item.equals("b"))).contains("c");
        assertThat(recency.leastRecent(item -> false)).isEmpty();
    }

    @Test
    void aForgottenItemIsNoLongerAVictimAndAWalkIsASnapshot() {
        Recency<String> recency = new Recency<>();
        recency.touch("a");
        recency.touch("b");
        var walk = recency.oldestFirst();
        recency.touch("a");
        assertThat(walk).containsExactly("a", "b");
        assertThat(recency.forget("b")).isTrue();
        assertThat(recency.forget("b")).isFalse();
        assertThat(recency.leastRecent(item -> true)).contains("a");
        assertThat(recency.size()).isOne();
    }

    @Test
    void aColdItemCanJoinAsTheFirstVictim() {
        Recency<String> recency = new Recency<>();
        recency.touch("a");
        recency.touch("b");
        recency.touchAsOldest("cold");
        recency.touchAsOldest("b");
        assertThat(recency.oldestFirst()).containsExactly("b", "cold", "a");
    }
}
