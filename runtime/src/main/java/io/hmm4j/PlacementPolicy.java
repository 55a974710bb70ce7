package io.hmm4j;

import io.hmm4j.internal.engine.NativeErrors;
import io.hmm4j.internal.engine.Region;
import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.policy.DeviceTier;
import io.hmm4j.internal.policy.HostTier;
import io.hmm4j.internal.policy.Placement;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Where an array's bytes live: device placement with eviction when a device is full, the host tier's reclaim and its
 * emergency moves of cold arrays to devices when the host is full, evacuation, and the application's explicit moves
 * (prefetch, migrate). The choices themselves (which array leaves a full device, which pages go first, which device
 * has room) are the tiers' in {@code io.hmm4j.internal.policy}, through their one
 * {@link io.hmm4j.internal.policy.VictimOrder}; this class applies them to the heap's arrays, whose placement fields
 * are package-private and guarded by the heap's lock, which is why it lives in this package (as Linux keeps vmscan,
 * which chooses, apart from migrate, which moves: the moving is the {@link Migrator}'s).
 *
 * <p>Methods that do not take the heap's lock themselves are called with it held. A wait for a launch releases it:
 * {@link Placement#RETRY} and {@link Placement#BACK_OFF} tell the caller to start its placement over, everything
 * checked again.
 */
final class PlacementPolicy {

    private final HeapLock lock;
    private final LaunchTracker tracker;
    private final Migrator migrator;
    private final HostTier hostTier;
    private final List<ManagedHeap.DeviceState> devices;
    private final Map<Long, ManagedArray> live;
    private final AtomicLong evictions = new AtomicLong();
    /** Zero-copy placement and thrash control; set once by the heap right after construction. */
    ZeroCopyPlacement zeroCopy;
    /** Memory advice; set once by the heap right after construction. */
    AdvicePolicy advice;

    PlacementPolicy(HeapLock lock, LaunchTracker tracker, Migrator migrator, HostTier hostTier,
            List<ManagedHeap.DeviceState> devices, Map<Long, ManagedArray> live) {
        this.lock = lock;
        this.tracker = tracker;
        this.migrator = migrator;
        this.hostTier = hostTier;
        this.devices = devices;
        this.live = live;
    }

    /** Arrays evicted from a device to make room (readable without the lock). */
    long evictions() {
        return evictions.get();
    }

    /** {@link ManagedHeap#reclaimHostMemory}, {@code bytes >= 0} checked. */
    long reclaimHostMemory(long bytes) {
        synchronized (lock) {
            lock.ensureOpen();
            return bytes == 0 ? 0 : hostTier.reclaim(bytes, HostTier.Cause.PRESSURE);
        }
    }

    /** After a launch was enqueued, with the lock held: the host tier brings the heap back within its budget. */
    void makeHostRoomAfterLaunch() {
        hostTier.makeRoom(0, this::useDevicesAsEmergencyMemory);
    }

    /** After an explicit move of {@code array}, with the lock held: as after a launch. */
    private void makeHostRoomAfterMove(ManagedArray array) {
        if (!array.destroyed)
            hostTier.used(array.region);
        makeHostRoomAfterLaunch();
    }

    /** A memory-pressure event (another thread). */
    void reclaimUnderPressure() {
        synchronized (lock) {
            if (lock.tornDown || lock.isClosed())
                return;
            hostTier.reclaimUnderPressure();
        }
    }

    /**
     * Before an allocation of {@code bytes}: a heap whose host RAM and the new array together would exceed its host
     * budget gives back reclaimable pages, then moves cold arrays of groups that allow it to devices (emergency
     * memory), until the new array fits. An array of a group whose policy is NEVER that still does not fit is
     * refused: such a group's arrays can never leave the host, so taking it over the budget is the one thing that
     * cannot be undone later. Other arrays are allocated anyway (they may spill to a device later). The check is
     * against the host RAM of the moment, with arrays allocated and not yet used by a launch counted at their whole
     * size (their first writes take pages without a fault) and allocations admitted on other threads counted too;
     * what it admits is reserved in the engine's headroom ({@link HostTier#admit}).
     *
     * @throws HostOutOfMemoryException for a NEVER group's array that does not fit
     */
    void makeHostRoom(long bytes, MemoryGroup group) {
        synchronized (lock) {
            lock.ensureOpen();
            if (hostTier.makeRoom(bytes, this::useDevicesAsEmergencyMemory) || mayUseDevices(group)) {
                hostTier.admit(bytes);
                return;
            }
            long held = hostTier.hostBytes();
            throw new HostOutOfMemoryException("memory group " + group.name() + " cannot allocate " + bytes
                    + " bytes: its device policy is NEVER (its arrays stay on the host), and the heap holds " + held
                    + " bytes of its host budget of " + hostTier.budget() + " after giving back every reclaimable page"
                    + " and moving the cold arrays that other groups allow onto devices. Close arrays, raise"
                    + " ManagedHeap.Builder.hostBudget, or let the group use devices (DevicePolicy.EMERGENCY)", bytes);
        }
    }

    /** Whether the host tier may put arrays of {@code group} on a device on its own ({@link MemoryGroup.DevicePolicy}). */
    static boolean mayUseDevices(MemoryGroup group) {
        return group == null || group.devicePolicy() != MemoryGroup.DevicePolicy.NEVER;
    }

    /** A group's device policy changed: the engine's view of which arrays it may write back follows. */
    void devicePolicyChanged() {
        synchronized (lock) {
            for (ManagedArray array : live.values())
                if (!array.destroyed && array.group != null)
                    array.region.setHostSpill(mayUseDevices(array.group));
        }
    }

    /**
     * The heap is over its host budget (with {@code extraBytes} more to come) with nothing left to reclaim: cold idle arrays whose group allows it
     * ({@link MemoryGroup.DevicePolicy}; PREFERRED groups first, then EMERGENCY ones and arrays of no group, least
     * recently used first) are copied to a device with free budget (nothing is evicted for them) and their host pages
     * given back; they come home by fault. Called with the lock held, after a launch was enqueued: a failure here
     * is logged and ends the attempt, the blocks concerned stay valid on the host.
     */
    private void useDevicesAsEmergencyMemory(long extraBytes) {
        Map<Region, ManagedArray> arrays = new HashMap<>();
        for (ManagedArray array : live.values())
            arrays.put(array.region, array);
        // The lock is held throughout (nothing below waits), so what the order was made from stays true.
        List<Region> order = hostTier.spillOrder(region -> {
            ManagedArray array = arrays.get(region);
            // A shared array's host pages are other processes' too: moving it would make them wait for it.
            if (array == null || array.destroyed || !array.inFlight.isEmpty() || array.region.sharedName() != null)
                return MemoryGroup.DevicePolicy.NEVER;
            // A zero-copy array lives in host memory by definition.
            if (array.region.isZeroCopy())
                return MemoryGroup.DevicePolicy.NEVER;
            // Making room for an allocation does not move arrays still being filled (it would move zeros).
            if (extraBytes > 0 && hostTier.unwritten(region))
                return MemoryGroup.DevicePolicy.NEVER;
            return array.group == null ? MemoryGroup.DevicePolicy.EMERGENCY : array.group.devicePolicy();
        });
        for (Region region : order) {
            if (!hostTier.overBudget(extraBytes))
                return;
            ManagedArray array = arrays.get(region);
            try {
                if (array.bindings.isEmpty() && !bindToFreeDevice(array))
                    continue;
                migrator.migrate(array, array.bindings.keySet().iterator().next(), 0, region.blockCount(),
                        hmm4j_h.HMM4J_TO_DEVICE, hmm4j_h.HMM4J_INTENT_READ, MigrationCause.EVICTION, null);
                hostTier.movedToDevice(region);
            } catch (DeviceException e) {
                System.getLogger("io.hmm4j").log(System.Logger.Level.WARNING,
                        "emergency move of " + array + " to a device failed; it stays on the host", e);
                return;
            }
            hostTier.reclaimOverBudget(extraBytes);
        }
    }

    /** Binds {@code array} to the first migrating device whose budget has room for it now, without evicting. */
    private boolean bindToFreeDevice(ManagedArray array) {
        for (ManagedHeap.DeviceState ds : DeviceTier.withRoomFor(devices, array.region.size())) {
            if (!tryBind(array, ds))
                continue; // the pool's upstream was full after all: try the next device
            // Evictable like any placed array, and the first to go: it is cold.
            ds.placedCold(array);
            return true;
        }
        return false;
    }

    /**
     * Gives {@code array} memory on {@code ds} if it has none there and the budget has room without evicting (an
     * accessed-by device's copy, {@link AdvicePolicy}); whether it has memory there now. Never for a coherent device,
     * a shared array already on another device, or an array holding every binding slot.
     */
    boolean bindIfRoom(ManagedArray array, ManagedHeap.DeviceState ds) {
        if (array.bindings.containsKey(ds))
            return true;
        if (ds.device.coherent() || array.bindings.size() >= hmm4j_h.HMM4J_MAX_BINDINGS
                || (array.region.sharedName() != null && !array.bindings.isEmpty()))
            return false;
        if (!ds.hasRoomFor(array.region.size()) || !tryBind(array, ds))
            return false;
        ds.used(array);
        return true;
    }

    private static boolean tryBind(ManagedArray array, ManagedHeap.DeviceState ds) {
        long bytes = array.region.size();
        OptionalLong allocated = ds.tryAllocate(bytes);
        if (allocated.isEmpty())
            return false;
        bind(array, ds, allocated.getAsLong(), bytes);
        return true;
    }

    /**
     * Gives {@code array} device memory on {@code ds} beside what it holds on other devices (its blocks' copies there
     * stay valid: a launch on {@code ds} copies only blocks not valid on it), evicting least recently used idle arrays
     * if the budget is full. {@code self} is the launch being placed ({@code null} for a prefetch).
     */
    Placement place(ManagedArray array, ManagedHeap.DeviceState ds, Launch self) {
        ds.used(array);
        if (zeroCopy.place(array, ds, self))
            return Placement.DONE;
        if (array.bindings.containsKey(ds))
            return Placement.DONE;
        // A shared array's attachment holds one device: the engine fences its blocks per process, not per device.
        if (array.region.sharedName() != null && !array.bindings.isEmpty())
            evict(array, MigrationCause.EVICTION);
        else if (array.bindings.size() >= hmm4j_h.HMM4J_MAX_BINDINGS)
            evict(array, array.bindings.keySet().iterator().next(), MigrationCause.EVICTION);
        long bytes = array.region.size();
        long[] address = new long[1];
        Placement outcome = allocateEvicting(ds, bytes, self, address);
        if (outcome != Placement.DONE)
            return outcome;
        bind(array, ds, address[0], bytes);
        return Placement.DONE;
    }

    /** Binds {@code array} to {@code bytes} at {@code address} on {@code ds}, freeing them if the engine refuses. */
    private static void bind(ManagedArray array, ManagedHeap.DeviceState ds, long address, long bytes) {
        int slot;
        try {
            slot = array.region.bind(ds.engine.handle(), address);
        } catch (RuntimeException e) {
            ds.budget.deallocate(address, bytes);
            throw e;
        }
        array.bindings.put(ds, new ManagedArray.Binding(address, bytes, slot));
    }

    /**
     * Allocates {@code bytes} on {@code ds} (into {@code address[0]}), evicting the tier's victims (idle arrays) while
     * it is full; with none left, waits for an enqueued launch on the device ({@link Placement#RETRY}: the lock was
     * released) or backs off from one still being placed. {@code self} is the launch being placed ({@code null} for a
     * prefetch).
     *
     * @throws DeviceOutOfMemoryException if nothing else holds memory on the device and it is still full
     */
    Placement allocateEvicting(ManagedHeap.DeviceState ds, long bytes, Launch self, long[] address) {
        while (true) {
            try {
                address[0] = ds.budget.allocate(bytes);
                return Placement.DONE;
            } catch (DeviceOutOfMemoryException full) {
                ManagedArray victim = ds.victim(candidate -> candidate.bindings.containsKey(ds)
                        && candidate.inFlight.isEmpty() && !candidate.destroyed,
                        candidate -> advice.keepsOn(candidate, ds)).orElse(null);
                if (victim != null) {
                    evict(victim, ds, MigrationCause.EVICTION);
                    continue;
                }
                Launch running = tracker.launchOn(ds, self, false);
                if (running != null) {
                    // Enqueued launches finish on their own; after the wait anything may have changed.
                    tracker.awaitLocked(running);
                    return Placement.RETRY;
                }
                if (tracker.launchOn(ds, self, true) != null)
                    return Placement.BACK_OFF;
                throw full;
            }
        }
    }

    /** Takes the array off every device it holds memory on (device-only blocks come home). */
    void evict(ManagedArray array, MigrationCause cause) {
        for (ManagedHeap.DeviceState ds : List.copyOf(array.bindings.keySet()))
            evict(array, ds, cause);
    }

    /**
     * Takes the array off {@code ds}: blocks whose only valid copy is there are copied home, blocks valid elsewhere
     * too only lose that copy; then its memory there is freed.
     */
    void evict(ManagedArray array, ManagedHeap.DeviceState ds, MigrationCause cause) {
        int rc = array.region.unbind(ds.engine.handle(), cause.code());
        if (rc == -hmm4j_h.HMM4J_ENOHOSTMEM && migrator.reclaimForBlocksComingHome(array.region.size()))
            rc = array.region.unbind(ds.engine.handle(), cause.code());
        if (rc < 0)
            NativeErrors.checkDevice("hmm4j_region_unbind_device", rc, ds.device.id(), ds.engine.lastError());
        ds.evicted(array);
        ManagedArray.Binding binding = array.bindings.remove(ds);
        ds.free(binding.address(), binding.bytes());
        if (cause == MigrationCause.EVICTION)
            evictions.incrementAndGet();
    }

    /** Frees the array's device memory everywhere (its region is about to be destroyed or was unbound). */
    void freeDeviceMemory(ManagedArray array) {
        for (Map.Entry<ManagedHeap.DeviceState, ManagedArray.Binding> e : array.bindings.entrySet())
            e.getKey().free(e.getValue().address(), e.getValue().bytes());
        array.bindings.clear();
    }

    /** {@link ManagedHeap#evacuate}: evicts every array on {@code ds}, waiting for launches that use them. */
    void evacuate(ManagedHeap.DeviceState ds) {
        synchronized (lock) {
            restart:
            while (true) {
                lock.ensureOpen();
                for (ManagedArray array : live.values()) {
                    if (!array.bindings.containsKey(ds) || array.destroyed)
                        continue;
                    if (!array.inFlight.isEmpty()) {
                        tracker.awaitOneUse(array);
                        continue restart;
                    }
                    evict(array, ds, MigrationCause.EVICTION);
                }
                return;
            }
        }
    }

    /**
     * {@link ManagedHeap#prefetch}, {@link ManagedHeap#migrate} and {@link ManagedHeap#makeHostWritable}: once no
     * launch uses {@code array}, makes {@code blocks} blocks from {@code first} valid on {@code target} (the host if
     * {@code null}) with the destination's {@code intent}, placing the array there first. A read intent adds a copy
     * (from the host, or from another device where only devices hold the block); a write intent leaves the
     * destination the only holder.
     */
    void move(ManagedArray array, long first, long blocks, ManagedHeap.DeviceState target, int intent) {
        synchronized (lock) {
            while (true) {
                tracker.awaitIdle(List.of(array));
                if (target == null) {
                    if (!array.bindings.isEmpty()) {
                        migrator.migrate(array, null, first, blocks, hmm4j_h.HMM4J_TO_HOST, intent,
                                MigrationCause.PREFETCH, null);
                        makeHostRoomAfterMove(array);
                    }
                    return;
                }
                zeroCopy.leaveLocked(array);
                if (target.device.coherent())
                    return;
                Placement outcome = place(array, target, null);
                if (outcome == Placement.DONE) {
                    migrator.migrate(array, target, first, blocks, hmm4j_h.HMM4J_TO_DEVICE, intent,
                            MigrationCause.PREFETCH, null);
                    // Host pages the move kept are reclaimable now: a heap over its budget gives them back here,
                    // not at a later launch that may never come.
                    makeHostRoomAfterMove(array);
                    return;
                }
                if (outcome == Placement.BACK_OFF)
                    lock.waitForChange(HeapLock.PROGRESS_POLL_MILLIS);
            }
        }
    }
}
