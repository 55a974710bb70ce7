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
import java.util.function.BiConsumer;
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

    private static final int MAP_LIMIT = -hmm4j_h.HMM4J_EMAPLIMIT;

    @Test
    void protectionFailureAtCommitLeavesStateMatchingProtection() {
        // The run's mprotect fails, so does every single-block retry: nothing moves to DEVICE.
        region.injectProtectFailure(0, 1 + BLOCKS);
        assertThat(region.migrate(0, BLOCKS, TO_DEVICE, WRITE, 1, null)).isEqualTo(MAP_LIMIT);
        assertThat(picture()).isEqualTo("HHHHHHHH");
        user.setAtIndex(ValueLayout.JAVA_INT, 5, 55); // still writable, no fault
        assertThat(hmm4j_stats.write_faults(stats) + hmm4j_stats.spurious_faults(stats)).isZero();
        assertThat(region.migrate(0, BLOCKS, TO_DEVICE, WRITE, 1, null)).isZero();
        assertThat(picture()).isEqualTo("DDDDDDDD");
    }

    @Test
    void protectionFailureOfTheRunFallsBackToSingleBlocks() {
        // SHARED blocks handed to a writer: the run's PROT_NONE fails (as it does part-way at the mapping limit),
        // block by block succeeds.
        assertThat(region.migrate(0, BLOCKS, TO_DEVICE, READ, 1, null)).isZero();
        region.injectProtectFailure(0, 1);
        assertThat(region.migrate(0, BLOCKS, TO_DEVICE, READ | WRITE, 1, null)).isZero();
        assertThat(picture()).isEqualTo("DDDDDDDD");
        // The run and then blocks 0 and 1 fail alone: exactly those two keep their state.
        region.injectProtectFailure(0, 3);
        long[] moved = new long[2];
        assertThat(region.migrate(0, BLOCKS, TO_HOST, WRITE, 2, moved)).isEqualTo(MAP_LIMIT);
        assertThat(picture()).isEqualTo("DDHHHHHH");
        assertThat(moved[0]).isEqualTo(BLOCKS - 2);
        assertThat(user.getAtIndex(ValueLayout.JAVA_INT, 1024 * 3 + 9)).isEqualTo(1024 * 3 + 9);
        assertThat(user.getAtIndex(ValueLayout.JAVA_INT, 1024 + 9)).isEqualTo(1024 + 9); // faults block 1 home
        assertThat(picture()).isEqualTo("DSHHHHHH");
    }

    @Test
    void hostBlocksTheDeviceWritesLoseAccessOnceOnTheirWayThere() {
        // Each protection change of present pages costs a TLB shootdown per page: writable -> no access directly,
        // not through read-only for the copy. Every change after the first would fail.
        region.injectProtectFailure(1, 1 + BLOCKS);
        long[] moved = new long[2];
        assertThat(region.migrate(0, BLOCKS, TO_DEVICE, READ | WRITE, 1, moved)).isZero();
        region.injectProtectFailure(0, 0);
        assertThat(picture()).isEqualTo("DDDDDDDD");
        assertThat(moved[0]).isEqualTo(BLOCKS);
        assertThat(user.getAtIndex(ValueLayout.JAVA_INT, 77)).isEqualTo(77);
        assertThat(picture()).isEqualTo("SDDDDDDD");
    }

    /** Runs {@code test} on a region of {@code blocks} 64 KiB blocks, every int its index, all of it on the device. */
    private void withWideBlocksOnTheDevice(long blocks, BiConsumer<Region, MemorySegment> test) {
        long wide = 16 * BLOCK;
        MemorySegment device = arena.allocate(wide * blocks, 4096);
        Region r = Region.create(wide * blocks, wide, stats);
        try {
            r.bind(engine.handle(), device.address());
            MemorySegment view = r.userView().reinterpret(wide * blocks, arena, null);
            for (int i = 0; i < wide * blocks / 4; i++)
                view.setAtIndex(ValueLayout.JAVA_INT, i, i);
            assertThat(r.migrate(0, blocks, TO_DEVICE, READ | WRITE, 1, null)).isZero();
            test.accept(r, view);
        } finally {
            r.unbind(0);
            r.destroy();
        }
    }

    @Test
    void aFaultOpensOnlyThePageItTouched() {
        withWideBlocksOnTheDevice(2, (wide, view) -> {
            int page = (int) (BLOCK / 4);
            assertThat(view.getAtIndex(ValueLayout.JAVA_INT, 3 * page + 7)).isEqualTo(3 * page + 7);
            assertThat(view.getAtIndex(ValueLayout.JAVA_INT, 3 * page + 1000)).isEqualTo(3 * page + 1000);
            assertThat(hmm4j_stats.read_faults(stats)).isEqualTo(1);
            assertThat(hmm4j_stats.spurious_faults(stats)).isZero();
            view.setAtIndex(ValueLayout.JAVA_INT, 3 * page + 8, -8); // a write fault opens its page alone too
            assertThat(hmm4j_stats.write_faults(stats)).isEqualTo(1);
            // The block's other pages stay closed: the first touch of one opens the block (HOST already) whole.
            assertThat(view.getAtIndex(ValueLayout.JAVA_INT, 9 * page)).isEqualTo(9 * page);
            assertThat(hmm4j_stats.spurious_faults(stats)).isEqualTo(1);
            assertThat(view.getAtIndex(ValueLayout.JAVA_INT, 15 * page + 3)).isEqualTo(15 * page + 3);
            assertThat(hmm4j_stats.spurious_faults(stats)).isEqualTo(1);
            assertThat(wide.snapshot()).containsExactly(BlockState.HOST, BlockState.DEVICE);
            // This host touches more than a page: the region opens whole blocks from now on.
            assertThat(view.getAtIndex(ValueLayout.JAVA_INT, 16 * page + 2 * page)).isEqualTo(18 * page);
            assertThat(view.getAtIndex(ValueLayout.JAVA_INT, 16 * page + 11 * page)).isEqualTo(27 * page);
            assertThat(hmm4j_stats.read_faults(stats)).isEqualTo(2);
            assertThat(hmm4j_stats.spurious_faults(stats)).isEqualTo(1);
            assertThat(view.getAtIndex(ValueLayout.JAVA_INT, 3 * page + 8)).isEqualTo(-8);
        });
    }

    @Test
    void aPartlyOpenedBlockLosesAllAccessWhenAWriterTakesIt() {
        withWideBlocksOnTheDevice(1, (wide, view) -> {
            int page = (int) (BLOCK / 4);
            view.setAtIndex(ValueLayout.JAVA_INT, 5 * page, -5);
            assertThat(wide.migrate(0, 1, TO_DEVICE, READ | WRITE, 1, null)).isZero();
            assertThat(wide.snapshot()).containsExactly(BlockState.DEVICE);
            // Every page faults again, the one that was open among them.
            long before = hmm4j_stats.read_faults(stats);
            assertThat(view.getAtIndex(ValueLayout.JAVA_INT, 5 * page)).isEqualTo(-5);
            assertThat(hmm4j_stats.read_faults(stats)).isEqualTo(before + 1);
        });
    }

    @Test
    void aPartlyOpenedBlockMadeHostIsWritableThroughout() {
        withWideBlocksOnTheDevice(1, (wide, view) -> {
            int page = (int) (BLOCK / 4);
            assertThat(view.getAtIndex(ValueLayout.JAVA_INT, 2 * page)).isEqualTo(2 * page);
            assertThat(wide.migrate(0, 1, TO_HOST, WRITE, 1, null)).isZero();
            long faults = hmm4j_stats.read_faults(stats) + hmm4j_stats.write_faults(stats)
                    + hmm4j_stats.spurious_faults(stats);
            for (int p = 0; p < 16; p++)
                view.setAtIndex(ValueLayout.JAVA_INT, p * page + 1, -p);
            assertThat(hmm4j_stats.read_faults(stats) + hmm4j_stats.write_faults(stats)
                    + hmm4j_stats.spurious_faults(stats)).isEqualTo(faults);
            assertThat(wide.snapshot()).containsExactly(BlockState.HOST);
        });
    }

    @Test
    void protectionFailureBeforeTheCopyToAWriterMovesNothing() {
        region.injectProtectFailure(0, 1);
        long[] moved = new long[2];
        assertThat(region.migrate(0, BLOCKS, TO_DEVICE, READ | WRITE, 1, moved)).isEqualTo(MAP_LIMIT);
        assertThat(picture()).isEqualTo("HHHHHHHH");
        assertThat(moved[0]).isZero();
        user.setAtIndex(ValueLayout.JAVA_INT, 77, -77); // still writable, no fault
        assertThat(hmm4j_stats.write_faults(stats) + hmm4j_stats.spurious_faults(stats)).isZero();
    }

    @Test
    void faultWhoseProtectionFailsOnceIsServedByTheNextAttempt() {
        region.migrate(0, BLOCKS, TO_DEVICE, READ | WRITE, 1, null);
        // The run (one block) and its single-block retry fail; the fault path's second attempt passes.
        region.injectProtectFailure(0, 2);
        assertThat(user.getAtIndex(ValueLayout.JAVA_INT, 4 * 1024 + 1)).isEqualTo(4 * 1024 + 1);
        assertThat(picture()).isEqualTo("DDDDSDDD");
    }

    @Test
    void failedRollbackIsRepairedByTheNextFault() {
        // No access for the copy passes, the copy fails, restoring read-write fails: HOST behind protected pages.
        engine.inject(NativeCopyEngine.Injection.COPY_TO_DEVICE, 0);
        region.injectProtectFailure(1, 1 + BLOCKS);
        assertThat(region.migrate(0, BLOCKS, TO_DEVICE, READ | WRITE, 1, null)).isEqualTo(-5);
        assertThat(picture()).isEqualTo("HHHHHHHH");
        user.setAtIndex(ValueLayout.JAVA_INT, 3, 33); // faults once; the spurious path restores read-write
        assertThat(user.getAtIndex(ValueLayout.JAVA_INT, 3)).isEqualTo(33);
        assertThat(hmm4j_stats.spurious_faults(stats)).isEqualTo(1);
        assertThat(picture()).isEqualTo("HHHHHHHH");
    }

    @Test
    void mapLimitBecomesAClearErrorNotADeviceOutOfMemory() {
        assertThatThrownBy(() -> NativeErrors.checkDevice("hmm4j_migrate", MAP_LIMIT, "emulated:0", 0))
                .isInstanceOf(OutOfMemoryError.class).hasMessageContaining("vm.max_map_count");
        assertThatThrownBy(() -> NativeErrors.check("hmm4j_region_unbind", MAP_LIMIT))
                .isInstanceOf(OutOfMemoryError.class).hasMessageContaining("vm.max_map_count");
    }

    @Test
    void snapshotOfMoreBlocksThanAnArrayHoldsFailsClearly() {
        // 2^31 + 1 blocks: 8 TiB of address space per view, nothing touched.
        Region huge = Region.create(((1L << 31) + 1) * BLOCK, BLOCK, stats);
        try {
            assertThat(huge.blockCount()).isEqualTo((1L << 31) + 1);
            assertThatThrownBy(huge::snapshot).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("2147483649 blocks");
        } finally {
            huge.destroy();
        }
    }
}
