package io.hmm4j.internal.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.ffm.hmm4j_migrate;
import io.hmm4j.internal.ffm.hmm4j_stats;
import java.lang.foreign.Arena;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** The Java struct layouts must agree with what the C compiler made of hmm4j.h. */
class BindingsLayoutTest {

    private static long[] describe(int layoutId) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG, 64);
            int n = hmm4j_h.hmm4j_layout_describe(layoutId, out, 64);
            assertThat(n).isPositive();
            return out.asSlice(0, n * 8L).toArray(ValueLayout.JAVA_LONG);
        }
    }

    private static void assertMatches(int layoutId, GroupLayout layout, String[] fields) {
        long[] c = describe(layoutId);
        assertThat(c[0]).as("sizeof").isEqualTo(layout.byteSize());
        assertThat(c.length - 1).as("field count").isEqualTo(fields.length);
        for (int i = 0; i < fields.length; i++)
            assertThat(c[i + 1]).as("offsetof(%s)", fields[i])
                    .isEqualTo(layout.byteOffset(java.lang.foreign.MemoryLayout.PathElement.groupElement(fields[i])));
    }

    @Test
    void statsLayoutMatchesC() {
        assertMatches(hmm4j_h.HMM4J_LAYOUT_STATS, hmm4j_stats.$LAYOUT, hmm4j_stats.FIELDS);
    }

    @Test
    void migrateLayoutMatchesC() {
        assertMatches(hmm4j_h.HMM4J_LAYOUT_MIGRATE, hmm4j_migrate.$LAYOUT, hmm4j_migrate.FIELDS);
    }

    @Test
    void unknownLayoutIsRefused() {
        try (Arena arena = Arena.ofConfined()) {
            assertThat(hmm4j_h.hmm4j_layout_describe(99, arena.allocate(8), 1)).isEqualTo(-22);
        }
    }

    @Test
    void abiVersionMatches() {
        assertThat(hmm4j_h.hmm4j_abi_version()).isEqualTo(NativeLibrary.EXPECTED_ABI_VERSION);
    }
}
