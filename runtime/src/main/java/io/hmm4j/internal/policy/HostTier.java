package io.hmm4j.internal.policy;

import io.hmm4j.internal.engine.Region;
import io.hmm4j.internal.jfr.ReclaimEvent;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import io.hmm4j.MemoryGroup;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * Host memory as a managed tier. Host pages of blocks whose bytes are also on the device (DEVICE blocks whose pages
 * were kept, SHARED blocks) are a cache: they make the way home cost only the copy, and are given back
 * least-recently-used region first when the heap holds more host RAM than its budget. HOST blocks (the only copy)
 * are never reclaimed. The engine does the work (hmm4j_region_reclaim_host, under the region's lock, in one
 * downcall); this class only chooses.
 *
 * <p>Not thread-safe: the heap calls it with its lock held, which is also what keeps a region from being destroyed
 * while it is reclaimed (the heap destroys regions under that lock and calls {@link #forget} first).
 */
public final class HostTier {

    /**
     * Headroom of a heap that cannot be over its budget (all its regions together are smaller); the engine skips its
     * accounting above 2^60 (hosttier.c HEADROOM_UNLIMITED), which charges never take this below.
     */
    static final long UNLIMITED = Long.MAX_VALUE / 4;

    public enum Cause {
        /** Over the host budget (after a launch, before an allocation). */
        BUDGET,
        /** The system is short of memory, or the application asked. */
        PRESSURE,
        /** Blocks coming home got no host pages. */
        NO_HOST_MEMORY;

        String tag() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private final long budget;
    private final long blockSize;
    private final VictimOrder<Region> regions = new Recency<>();
    private final AtomicLong reclaimedBytes = new AtomicLong();
    /** Sum of the regions' sizes: while it is within the budget, no region can put the heap over it. */
    private long mappedBytes;
    /**
     * What the heap may still take before it is over its budget, shared with the engine (each region of the heap
     * points at it): Java sets it whenever it has looked at the heap's host RAM, the fault path charges the pages it
     * reserves to it and reclaims first where it would go below zero, so that the budget holds between launches too.
     * The automatic arena frees it only once the tier (and with it the heap that owns the regions) is unreachable.
     */
    private final MemorySegment headroom = Arena.ofAuto().allocate(ValueLayout.JAVA_LONG);
    /**
     * Regions allocated and not yet used by a launch: the host fills them with first writes, which take pages without
     * a fault, so until a launch has used them they count as their whole size (or what they hold, if more).
     */
    private final java.util.Set<Region> fresh = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    /** Admitted allocations whose regions are not published yet: room another admission must not give away. */
    private long admittedBytes;
    /** Stamps of use, shared with the engine's spill choice (hmm4j_region_touch). */
    private long useStamp;
    /** The engine's own reclaims (hmm4j_stats.host_reclaimed_bytes) already reported to JFR. */
    private long engineReclaimedReported;

    public HostTier(long budget, long blockSize) {
        if (budget <= 0)
            throw new IllegalArgumentException("host budget must be > 0: " + budget);
        this.budget = budget;
        this.blockSize = blockSize;
        headroom.set(ValueLayout.JAVA_LONG, 0, UNLIMITED);
    }

    /** The headroom every anonymous region of the heap shares with the engine ({@code Region.setHostHeadroom}). */
    public MemorySegment headroom() {
        return headroom;
    }

    /**
     * Sets the headroom from the heap's host RAM now, with {@code extraBytes} about to be allocated counted as held
     * (they are the new array's, which its first writes take without a fault). Faults that run meanwhile may have
     * charged it; their pages are in what was just measured, so nothing is counted twice.
     */
    public void syncHeadroom(long extraBytes) {
        // Faults charge the headroom while the regions are measured: the new value goes in as a difference from what
        // was there before, so their charges are kept (where their pages were measured too they count twice, which
        // errs on the side of the budget).
        long before = (long) HEADROOM.getVolatile(headroom, 0L);
        long value = mappedBytes + admittedBytes + extraBytes <= budget ? UNLIMITED
                : budget - committedBytes() - extraBytes;
        if (value == UNLIMITED)
            HEADROOM.setVolatile(headroom, 0L, UNLIMITED);
        else
            HEADROOM.getAndAdd(headroom, 0L, value - before);
    }

    private static final java.lang.invoke.VarHandle HEADROOM = ValueLayout.JAVA_LONG.varHandle();

    /**
     * Host RAM held, with fresh regions counted at their whole size (what their first writes will take), and
     * allocations admitted but not yet published.
     */
    private long committedBytes() {
        long total = admittedBytes;
        for (Region region : regions.victimsInOrder()) {
            long held = region.hostBytes();
            total += fresh.contains(region) ? Math.max(held, region.size()) : held;
        }
        return total;
    }

    /**
     * An allocation of {@code bytes} was admitted: it counts until its region is published ({@link #allocated}, after
     * {@link #cancelAdmission}) or it failed ({@link #cancelAdmission}); the engine's headroom is set with it counted.
     */
    public void admit(long bytes) {
        admittedBytes += bytes;
        syncHeadroom(0);
    }

    /** Ends an admission ({@link #admit}): the region is now counted as fresh, or the allocation failed. */
    public void cancelAdmission(long bytes) {
        admittedBytes -= bytes;
    }

    /**
     * What the budget is checked against: for an allocation's admission ({@code extraBytes > 0}) the committed bytes
     * (fresh arrays at their whole size, admitted ones), else the host RAM held now (after a launch, nothing is
     * reclaimed or moved for pages that do not exist yet).
     */
    private long held(long extraBytes) {
        return extraBytes > 0 ? committedBytes() : hostBytes();
    }

    /**
     * Whether {@code region} was allocated and has not been written in full since (nor used by a launch): an
     * allocation's admission does not move it to a device, which would move zeros.
     */
    public boolean unwritten(Region region) {
        return fresh.contains(region) && region.hostBytes() < region.size();
    }

    /** {@code region}'s bytes moved to a device on the host tier's own initiative: it counts as what it holds. */
    public void movedToDevice(Region region) {
        fresh.remove(region);
    }

    /** {@code region} was just allocated: it counts as its whole size until a launch uses it. */
    public void allocated(Region region) {
        used(region);
        fresh.add(region);
    }

    /**
     * Reports reclaims the engine did on its own (for blocks coming home) to JFR, as one event for everything since
     * the last report; {@code engineReclaimedTotal} is the heap's counter of them.
     */
    public void reportEngineReclaims(long engineReclaimedTotal) {
        long bytes = engineReclaimedTotal - engineReclaimedReported;
        if (bytes <= 0)
            return;
        engineReclaimedReported = engineReclaimedTotal;
        ReclaimEvent event = new ReclaimEvent();
        if (event.shouldCommit()) {
            event.cause = "fault";
            event.bytes = bytes;
            event.hostBytesBefore = -1;
            event.budget = budget;
            event.commit();
        }
    }

    public long budget() {
        return budget;
    }

    /** Bytes given back so far (readable without the heap's lock). */
    public long reclaimedBytes() {
        return reclaimedBytes.get();
    }

    /** {@code region} was just used (allocated, or by a launch): it becomes the last to be reclaimed. */
    public void used(Region region) {
        region.touch(++useStamp);
        fresh.remove(region);
        if (regions.touch(region))
            mappedBytes += region.size();
    }

    /** Called before {@code region} is destroyed. */
    public void forget(Region region) {
        fresh.remove(region);
        if (regions.forget(region))
            mappedBytes -= region.size();
    }

    /** Whether the heap holds more host RAM than its budget leaves room for, with {@code extraBytes} more to come. */
    public boolean overBudget(long extraBytes) {
        return mappedBytes + admittedBytes + extraBytes > budget && held(extraBytes) + extraBytes > budget;
    }

    /**
     * Brings the heap within its budget with room for {@code extraBytes} more (an allocation's admission; 0 after a
     * launch): reclaimable pages first, least recently used regions first, then, if that is not enough,
     * {@code spill} (the heap's emergency moves of cold arrays to devices, given {@code extraBytes}). Returns whether
     * the heap is within its budget now.
     */
    public boolean makeRoom(long extraBytes, java.util.function.LongConsumer spill) {
        if (!overBudget(extraBytes)) {
            syncHeadroom(extraBytes);
            return true;
        }
        reclaimOverBudget(extraBytes);
        if (overBudget(extraBytes))
            spill.accept(extraBytes);
        return !overBudget(extraBytes);
    }

    /** Share of its host RAM a heap gives back (reclaimable pages only) on each memory-pressure event. */
    static final int PRESSURE_RECLAIM_DIVISOR = 4;

    /** A memory-pressure event: a quarter of the host RAM held, least recently used pages first. */
    public long reclaimUnderPressure() {
        return reclaim(hostBytes() / PRESSURE_RECLAIM_DIVISOR, Cause.PRESSURE);
    }

    /**
     * The regions the host tier may move to a device as emergency memory, in the order it moves them: those whose
     * policy is {@link MemoryGroup.DevicePolicy#PREFERRED PREFERRED} first, then {@code EMERGENCY} ones, each least
     * recently used first; {@code NEVER} ones not at all.
     */
    public List<Region> spillOrder(Function<Region, MemoryGroup.DevicePolicy> policyOf) {
        List<Region> preferred = new ArrayList<>();
        List<Region> emergency = new ArrayList<>();
        for (Region region : regions.victimsInOrder()) {
            switch (policyOf.apply(region)) {
                case PREFERRED -> preferred.add(region);
                case EMERGENCY -> emergency.add(region);
                case NEVER -> { }
            }
        }
        preferred.addAll(emergency);
        return preferred;
    }

    /** Host RAM the heap's regions hold now. */
    public long hostBytes() {
        long total = 0;
        for (Region region : regions.victimsInOrder())
            total += region.hostBytes();
        return total;
    }

    /**
     * Reclaims until the heap is within its budget with room for {@code extraBytes} more (or nothing reclaimable is
     * left); returns the bytes given back.
     */
    public long reclaimOverBudget(long extraBytes) {
        // The common case (budget far above the heap's size) costs no system call per region and launch.
        if (mappedBytes + admittedBytes + extraBytes <= budget) {
            syncHeadroom(extraBytes);
            return 0;
        }
        long held = held(extraBytes);
        long reclaimed = held + extraBytes > budget ? reclaim(held + extraBytes - budget, held, Cause.BUDGET) : 0;
        syncHeadroom(extraBytes);
        return reclaimed;
    }

    /**
     * Reclaims at least {@code bytes} where that much is reclaimable (whole blocks), least recently used regions
     * first; returns the bytes given back.
     */
    public long reclaim(long bytes, Cause cause) {
        long reclaimed = reclaim(bytes, hostBytes(), cause);
        if (reclaimed > 0)
            syncHeadroom(0);
        return reclaimed;
    }

    private long reclaim(long wanted, long heldBefore, Cause cause) {
        long reclaimed = 0;
        for (Iterator<Region> it = regions.victimsInOrder().iterator(); it.hasNext() && reclaimed < wanted; ) {
            Region region = it.next();
            long before = region.hostBytes();
            if (before == 0)
                continue;
            long blocks = Math.ceilDiv(wanted - reclaimed, blockSize);
            long released = region.reclaimHost(blocks);
            if (released > 0)
                reclaimed += Math.max(0, before - region.hostBytes());
            else if (released < 0)
                System.getLogger("io.hmm4j").log(System.Logger.Level.DEBUG,
                        "host tier: a region kept its pages (hmm4j_region_reclaim_host: " + released + ")");
        }
        if (reclaimed > 0) {
            reclaimedBytes.addAndGet(reclaimed);
            ReclaimEvent event = new ReclaimEvent();
            if (event.shouldCommit()) {
                event.cause = cause.tag();
                event.bytes = reclaimed;
                event.hostBytesBefore = heldBefore;
                event.budget = budget;
                event.commit();
            }
        }
        return reclaimed;
    }
}
