package io.hmm4j;

import io.hmm4j.internal.engine.NativeErrors;
import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.jfr.MigrationEvent;
import io.hmm4j.internal.policy.HostTier;
import java.lang.foreign.MemorySegment;

/**
 * One migration of an array's blocks, as every caller needs it: the engine's call, one retry after the host tier
 * gave back pages where blocks coming home found no host memory, the JFR event, and the device error as an
 * exception. Launches, prefetches, emergency moves and evictions all migrate through here, so that the retry and
 * the event cannot differ between them. Called with the heap's lock held (the host tier is guarded by it).
 */
final class Migrator {

    private final HostTier hostTier;
    private final long blockSize;

    Migrator(HostTier hostTier, long blockSize) {
        this.hostTier = hostTier;
        this.blockSize = blockSize;
    }

    /**
     * Migrates blocks of {@code array}; {@code target} is the device a move to the device goes to (one the array is
     * bound to), and is ignored for a move home, which copies each block from a device that holds it.
     */
    void migrate(ManagedArray array, ManagedHeap.DeviceState target, long firstBlock, long blocks, int direction,
            int intent, MigrationCause cause, MemorySegment outcome) {
        boolean toDevice = direction == hmm4j_h.HMM4J_TO_DEVICE;
        ManagedHeap.DeviceState ds = toDevice ? target : array.bindings.keySet().iterator().next();
        int slot = toDevice ? array.bindings.get(target).slot() : 0;
        MigrationEvent event = new MigrationEvent();
        event.begin();
        long[] moved = new long[2];
        int rc = array.region.migrate(firstBlock, blocks, direction, intent, slot, cause.code(), moved, outcome);
        if (rc == -hmm4j_h.HMM4J_ENOHOSTMEM && reclaimForBlocksComingHome(blocks * blockSize)) {
            long[] movedBefore = moved.clone();
            rc = array.region.migrate(firstBlock, blocks, direction, intent, slot, cause.code(), moved, outcome);
            moved[0] += movedBefore[0];
            moved[1] += movedBefore[1];
        }
        if (moved[0] > 0 && event.shouldCommit()) {
            event.arrayId = array.id;
            event.device = toDevice || array.bindings.size() == 1 ? ds.device.id() : "any";
            event.direction = toDevice ? "to_device" : "to_host";
            event.cause = cause.name().toLowerCase(java.util.Locale.ROOT);
            event.bytes = moved[1];
            event.blocks = moved[0];
            event.commit();
        }
        if (rc < 0) {
            NativeErrors.checkDevice("hmm4j_migrate(" + (toDevice ? "to device " + ds.device.id() : "to host")
                    + ", array " + array.id + ")", rc, ds.device.id(), ds.engine.lastError());
        }
    }

    /**
     * Blocks could not come home for want of host memory although the engine had given back kept pages of DEVICE
     * blocks for them: the host tier also gives back SHARED blocks' pages (which the engine, changing no protection,
     * leaves alone), least recently used first. Returns whether anything was given back, so a retry may succeed.
     */
    boolean reclaimForBlocksComingHome(long bytes) {
        return hostTier.reclaim(bytes, HostTier.Cause.NO_HOST_MEMORY) > 0;
    }
}
