package io.hmm4j.internal.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.BlockState;
import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.ffm.hmm4j_stats;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The fault engine below the heap: regions, the three-phase migration, faults and rollback. */
class RegionEngineTest {

    private static final long BLOCK = 4096;
    private static final int BLOCKS = 8;
    private static final int TO_DEVICE = hmm4j_h.HMM4J_TO_DEVICE;
    private static final int TO_HOST = hmm4j_h.HMM4J_TO_HOST;
    private static final int READ = hmm4j_h.HMM4J_INTENT_READ;
    private static final int WRITE = hmm4j_h.HMM4J_INTENT_WRITE;

    private Arena arena;
    private MemorySegment stats;
    private MemorySegment deviceMemory;
    private NativeCopyEngine engine;
    private Region region;
    private MemorySegment user;

    @BeforeEach
    void setUp() {
        arena = Arena.ofShared();
        stats = arena.allocate(hmm4j_stats.$LAYOUT);
        deviceMemory = arena.allocate(BLOCK * BLOCKS, 4096);
        engine = NativeCopyEngine.emulated("test:0", 0, 0);
        region = Region.create(BLOCK * BLOCKS, BLOCK, stats);
        region.bind(engine.handle(), deviceMemory.address());
        user = region.userView().reinterpret(BLOCK * BLOCKS, arena, null);
        for (int i = 0; i < BLOCK * BLOCKS / 4; i++)
            user.setAtIndex(ValueLayout.JAVA_INT, i, i);
    }

    @AfterEach
    void tearDown() {
        region.unbind(0);
        region.destroy();
        engine.close();
        arena.close();
    }

    private String picture() {
        StringBuilder b = new StringBuilder();
        for (BlockState s : region.snapshot())
            b.append(s.name().charAt(0));
        return b.toString();
    }

    @Test
    void regionRoundsUpToWholeBlocks() {
        Region r = Region.create(BLOCK + 1, BLOCK, stats);
        try {
            assertThat(r.size()).isEqualTo(2 * BLOCK);
            assertThat(r.blockCount()).isEqualTo(2);
        } finally {
            r.destroy();
        }
    }

    @Test
    void badRegionArgumentsAreRefused() {
        assertThatThrownBy(() -> Region.create(0, BLOCK, stats)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Region.create(BLOCK, 3000, stats)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Region.create(BLOCK, 1024, stats)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void migrateToDeviceCopiesAndProtects() {
        long[] moved = new long[2];
        assertThat(region.migrate(0, BLOCKS, TO_DEVICE, READ | WRITE, 1, moved)).isZero();
        assertThat(moved).containsExactly(BLOCKS, BLOCK * BLOCKS);
        assertThat(picture()).isEqualTo("DDDDDDDD");
        assertThat(deviceMemory.getAtIndex(ValueLayout.JAVA_INT, 1234)).isEqualTo(1234);
        // device-side change, then a host read faults the block back
        deviceMemory.setAtIndex(ValueLayout.JAVA_INT, 1024 * 3 + 5, -7);
        assertThat(user.getAtIndex(ValueLayout.JAVA_INT, 1024 * 3 + 5)).isEqualTo(-7);
        assertThat(picture()).isEqualTo("DDDSDDDD");
        assertThat(hmm4j_stats.read_faults(stats)).isEqualTo(1);
        user.setAtIndex(ValueLayout.JAVA_INT, 1024 * 3, 11);
        assertThat(picture()).isEqualTo("DDDHDDDD");
        assertThat(hmm4j_stats.write_faults(stats)).isEqualTo(1);
    }

    @Test
    void readIntentLeavesHostCopyReadable() {
        assertThat(region.migrate(2, 2, TO_DEVICE, READ, 2, null)).isZero();
        assertThat(picture()).isEqualTo("HHSSHHHH");
        assertThat(user.getAtIndex(ValueLayout.JAVA_INT, 1024 * 2)).isEqualTo(2048);
        assertThat(hmm4j_stats.read_faults(stats)).isZero();
    }

    @Test
    void writeOnlyIntentCopiesNothing() {
        long[] moved = new long[2];
        assertThat(region.migrate(0, BLOCKS, TO_DEVICE, WRITE, 1, moved)).isZero();
        assertThat(moved[0]).isZero();
        assertThat(deviceMemory.getAtIndex(ValueLayout.JAVA_INT, 1234)).isZero();
    }

    @Test
    void failedCopyToDeviceRollsBackAndKeepsData() {
        engine.inject(NativeCopyEngine.Injection.COPY_TO_DEVICE, BLOCK + 100);
        int rc = region.migrate(0, BLOCKS, TO_DEVICE, READ | WRITE, 1, null);
        assertThat(rc).isEqualTo(-5);
        assertThat(picture()).isEqualTo("HHHHHHHH");
        assertThat(hmm4j_stats.copy_errors(stats)).isEqualTo(1);
        for (int i = 0; i < BLOCK * BLOCKS / 4; i += 511)
            assertThat(user.getAtIndex(ValueLayout.JAVA_INT, i)).isEqualTo(i);
        user.setAtIndex(ValueLayout.JAVA_INT, 0, 5); // still writable: protection restored
        assertThat(region.migrate(0, BLOCKS, TO_DEVICE, READ | WRITE, 1, null)).isZero();
    }

    @Test
    void failedCopyHomeLeavesBlocksOnDevice() {
        region.migrate(0, BLOCKS, TO_DEVICE, READ | WRITE, 1, null);
        engine.inject(NativeCopyEngine.Injection.COPY_TO_HOST, 10);
        assertThat(region.migrate(0, BLOCKS, TO_HOST, READ, 2, null)).isEqualTo(-5);
        assertThat(picture()).isEqualTo("DDDDDDDD");
        assertThat(region.unbind(3)).isZero();
        assertThat(picture()).isEqualTo("HHHHHHHH");
        assertThat(user.getAtIndex(ValueLayout.JAVA_INT, 4000)).isEqualTo(4000);
    }

    @Test
    void sequentialFaultsPrefetchAhead() {
        region.setPrefetch(4);
        region.migrate(0, BLOCKS, TO_DEVICE, READ | WRITE, 1, null);
        long sum = 0;
        for (int i = 0; i < BLOCK * BLOCKS / 4; i++)
            sum += user.getAtIndex(ValueLayout.JAVA_INT, i);
        assertThat(sum).isEqualTo((BLOCK * BLOCKS / 4) * (BLOCK * BLOCKS / 4 - 1) / 2);
        assertThat(hmm4j_stats.read_faults(stats)).isLessThan(BLOCKS);
        assertThat(hmm4j_stats.prefetched_blocks(stats)).isPositive();
    }

    @Test
    void migrateRefusesOutOfRangeBlocks() {
        assertThat(region.migrate(BLOCKS, 1, TO_DEVICE, READ, 1, null)).isEqualTo(-22);
        assertThat(region.migrate(0, BLOCKS + 1, TO_DEVICE, READ, 1, null)).isEqualTo(-22);
        assertThat(region.migrate(0, 1, 7, READ, 1, null)).isEqualTo(-22);
    }

    @Test
    void bindTwiceIsRefused() {
        assertThatThrownBy(() -> region.bind(engine.handle(), deviceMemory.address()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("EBUSY");
    }
}
