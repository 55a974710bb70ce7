package io.hmm4j;

import io.hmm4j.internal.engine.Engine;
import io.hmm4j.internal.engine.Fence;
import io.hmm4j.internal.engine.NativeErrors;
import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.ffm.hmm4j_stats;
import io.hmm4j.internal.launch.TiledLaunch;
import io.hmm4j.internal.policy.HostTier;
import io.hmm4j.internal.policy.Placement;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelArgument;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * A launch from checked arguments to an enqueued kernel: its arrays placed on the device and pinned (in flight), the
 * blocks it reads copied in, the blocks it writes handed over with their host pages kept until the kernel is
 * enqueued, then retaken for the kernel, and everything undone if it fails before the kernel ran; and a tiled
 * launch's pinned arrays and tile buffers ({@link TiledLaunch} streams the tiles). The heap checks the arguments;
 * the waits for launches are the {@link LaunchTracker}'s, the device memory the {@link PlacementPolicy}'s.
 *
 * <p>The heap's lock is taken around each step and released while the kernel is handed to the device; a launch
 * being placed may wait for others (releasing the lock), after which its placement starts over.
 */
final class LaunchPlanner {

    private final ManagedHeap heap;
    private final HeapLock lock;
    private final LaunchTracker tracker;
    private final PlacementPolicy placement;
    private final Migrator migrator;
    private final HostTier hostTier;
    private final MemorySegment stats;
    private final boolean releaseHostMemory;
    private final AtomicLong launches = new AtomicLong();
    /** Threads inside launch(): a kernel they run synchronously must not wait for the launch that runs it. */
    private final Set<Thread> launchingThreads = ConcurrentHashMap.newKeySet();
    /** Memory advice, told when a launch was enqueued; set once by the heap right after construction. */
    AdvicePolicy advice;

    LaunchPlanner(ManagedHeap heap, HeapLock lock, LaunchTracker tracker, PlacementPolicy placement, Migrator migrator,
            HostTier hostTier, MemorySegment stats, boolean releaseHostMemory) {
        this.heap = heap;
        this.lock = lock;
        this.tracker = tracker;
        this.placement = placement;
        this.migrator = migrator;
        this.hostTier = hostTier;
        this.stats = stats;
        this.releaseHostMemory = releaseHostMemory;
    }

    /** Launches placed and enqueued so far (readable without the lock). */
    long launches() {
        return launches.get();
    }

    /** Whether {@code thread} is inside a launch of this heap (a kernel it runs synchronously must not close it). */
    boolean isLaunching(Thread thread) {
        return launchingThreads.contains(thread);
    }

    /** Launches {@code kernelFor}'s kernel with arguments the heap checked; see {@link ManagedHeap#launchOn}. */
    Launch launch(ManagedHeap.DeviceState ds, Function<Device, Kernel> kernelFor, long globalOffset, long globalSize,
            Arg[] args, Map<ManagedArray, ArrayUse> uses) {
        return asLaunchingCall(ds, () -> launchEntered(ds, kernelFor.apply(ds.device), globalOffset, globalSize, args,
                uses));
    }

    /**
     * Streams {@code plan} through {@code ds} in tiles, the arrays not fitting at once; see
     * {@link ManagedHeap#launchTiledOn}.
     */
    Launch launchTiled(ManagedHeap.DeviceState ds, Function<Device, Kernel> kernelFor, TiledLaunch plan, String name,
            Collection<ManagedArray> arrays) {
        long limit = ds.budget.limit();
        if (plan.setBytes() > limit / 2)
            throw new DeviceOutOfMemoryException("tiled launch of " + name + " needs two tiles of " + plan.tileElements()
                    + " elements of each of its " + arrays.size() + " arrays on " + ds.device.id() + " at once (2 x "
                    + plan.setBytes() + " bytes), more than its budget of " + limit + " bytes: use smaller tiles",
                    ds.device.id());
        // A third set of tiles absorbs hiccups of the kernel or the copies, where it leaves half the budget to others.
        int sets = plan.setBytes() <= limit / 2 / TiledLaunch.MAX_SETS ? TiledLaunch.MAX_SETS : 2;
        long stagingBytes = plan.setBytes() * sets;
        return asLaunchingCall(ds, () -> {
            Kernel kernel = kernelFor.apply(ds.device);
            Launch launch = new Launch(heap, ds);
            long staging = reserveTiles(launch, arrays, ds, stagingBytes);
            try {
                plan.run(ds.device, kernel, ds.engine, staging, sets, stats);
            } finally {
                endTiles(launch, ds, staging, stagingBytes);
            }
            return launch;
        });
    }

    /** A call of the heap's that uses the backend outside the lock, on a thread known to be launching meanwhile. */
    private Launch asLaunchingCall(ManagedHeap.DeviceState ds, Supplier<Launch> body) {
        lock.enterCall();
        Thread self = Thread.currentThread();
        boolean outermost = launchingThreads.add(self);
        try {
            if (ds.device.launchesMayReplaceSignalHandlers())
                Engine.ensureHandler();
            return body.get();
        } finally {
            if (outermost)
                launchingThreads.remove(self);
            lock.exitCall();
        }
    }

    static boolean fitsAtOnce(Collection<ManagedArray> arrays, ManagedHeap.DeviceState ds) {
        long needed = 0;
        for (ManagedArray array : arrays)
            needed = Math.addExact(needed, array.region.size());
        return needed <= ds.budget.limit();
    }

    /**
     * Pins a tiled launch's arrays (it stays "being placed" until it ends, so nothing waits for its kernel directly:
     * others poll), brings their device-resident bytes home and frees their device memory, and reserves the tile
     * buffers, evicting idle arrays for them. Returns the buffers' device address.
     */
    private long reserveTiles(Launch launch, Collection<ManagedArray> arrays, ManagedHeap.DeviceState ds, long bytes) {
        try {
            synchronized (lock) {
                while (true) {
                    tracker.awaitIdle(arrays);
                    for (ManagedArray array : arrays) {
                        array.inFlight.add(launch);
                        launch.arrays.add(array);
                    }
                    Placement outcome;
                    try {
                        for (ManagedArray array : arrays)
                            if (!array.bindings.isEmpty())
                                placement.evict(array, MigrationCause.LAUNCH);
                        long[] address = new long[1];
                        outcome = placement.allocateEvicting(ds, bytes, launch, address);
                        if (outcome == Placement.DONE)
                            return address[0];
                    } catch (RuntimeException | Error e) {
                        unpin(launch);
                        launch.done = true;
                        throw e;
                    }
                    unpin(launch);
                    if (outcome == Placement.BACK_OFF)
                        lock.waitForChange(HeapLock.PROGRESS_POLL_MILLIS);
                }
            }
        } finally {
            HeapLock.restoreInterrupt();
        }
    }

    /** Gives a tiled launch's buffers back (zeroed, as freed device memory always is) and releases its arrays. */
    private void endTiles(Launch launch, ManagedHeap.DeviceState ds, long staging, long bytes) {
        synchronized (lock) {
            try {
                ds.engine.zero(staging, bytes);
                ds.budget.deallocate(staging, bytes);
            } catch (DeviceException e) {
                // A device that cannot zero keeps the memory out of the pool rather than leak its contents.
            } finally {
                for (ManagedArray array : launch.arrays) {
                    array.inFlight.remove(launch);
                    if (!array.destroyed)
                        hostTier.used(array.region);
                }
                launch.arrays.clear();
                launch.placing = false;
                launch.enqueued = true;
                launch.done = true;
                launches.incrementAndGet();
                lock.progressLocked();
            }
        }
    }

    private Launch launchEntered(ManagedHeap.DeviceState ds, Kernel kernel, long globalOffset, long globalSize,
            Arg[] args, Map<ManagedArray, ArrayUse> uses) {
        // The hand-overs' outcomes, kept until the kernel is enqueued or the launch failed before it: freed with the
        // launch, not by the GC (an automatic arena per array and launch was a Cleaner registration each).
        try (Arena outcomes = Arena.ofConfined()) {
            return launchEntered(ds, kernel, globalOffset, globalSize, args, uses, outcomes);
        }
    }

    private Launch launchEntered(ManagedHeap.DeviceState ds, Kernel kernel, long globalOffset, long globalSize,
            Arg[] args, Map<ManagedArray, ArrayUse> uses, Arena outcomes) {
        Launch launch = new Launch(heap, ds);
        launch.uses.putAll(uses);
        Map<ManagedArray, Access> access = new LinkedHashMap<>();
        uses.forEach((array, use) -> access.put(array, use.access));
        Map<ManagedArray, KernelArgument.Buffer> buffers = new HashMap<>();
        boolean migrates = !ds.device.coherent();
        synchronized (lock) {
            try {
                placeForLaunch(launch, access.keySet(), ds);
                // Copies in first: a failure here leaves every block valid on the host, where it was. Blocks the
                // launch also writes are copied by their hand-over, so that their host pages lose access once.
                if (migrates)
                    for (Map.Entry<ManagedArray, ArrayUse> e : uses.entrySet())
                        if (!e.getKey().region.isZeroCopy())
                            copyIn(e.getKey(), ArrayUse.subtract(e.getValue().copyIn, e.getValue().writes), ds);
                // A zero-copy array joins the written ones even when only read: its region holds the launch's fence,
                // so that a host write waits for the kernel reading it.
                for (Map.Entry<ManagedArray, Access> e : access.entrySet())
                    if (e.getValue().writes() || e.getKey().region.isZeroCopy())
                        launch.written.add(e.getKey());
                ZeroCopyPlacement.launchBegin(launch.written, ds, access);
                launch.begun = true;
                // Then written blocks go to the device, keeping their host pages until the kernel is enqueued.
                if (migrates)
                    for (ManagedArray array : launch.written)
                        if (!array.region.isZeroCopy())
                            handOver(launch, array, uses.get(array), ds, outcomes);
                for (Map.Entry<ManagedArray, Access> e : access.entrySet()) {
                    ManagedArray array = e.getKey();
                    long address = array.region.isZeroCopy() ? ds.zeroCopyAddress(array)
                            : migrates ? array.bindings.get(ds).address() : array.segment.address();
                    buffers.put(array, new KernelArgument.Buffer(address, array.byteSize(), e.getValue(), array.segment));
                }
            } catch (RuntimeException | Error e) {
                failBeforeKernel(launch);
                throw e;
            }
            launch.placing = false;
            launches.incrementAndGet();
        }
        List<KernelArgument> arguments = new ArrayList<>(args.length);
        for (Arg arg : args) {
            arguments.add(switch (arg) {
                case Arg.Array a -> buffers.get(a.array());
                case Arg.Range r -> buffers.get(r.array());
                case Arg.Scalar(Number value) -> new KernelArgument.Scalar(value);
            });
        }
        long event;
        try {
            event = ds.device.launchRecorded(kernel, globalOffset, globalSize, arguments);
        } catch (RuntimeException | Error e) {
            synchronized (lock) {
                failBeforeKernel(launch);
            }
            throw e;
        }
        Fence fence = event != 0 && ds.engine != null ? Fence.create(ds.engine, event) : null;
        synchronized (lock) {
            launch.enqueued = true;
            if (fence != null) {
                launch.fence = fence;
                for (ManagedArray array : launch.written)
                    array.region.attach(fence);
            }
            for (ManagedArray array : launch.written)
                retakeForKernel(launch, array, ds);
            advice.launchEnqueued(launch);
            if (releaseHostMemory)
                for (ManagedArray array : launch.handedOver.keySet())
                    // A launch beside this one may still need the host pages it kept for its blocks (its rollback).
                    if (array.inFlight.size() == 1)
                        array.region.reclaim();
            launch.handedOver.clear();
            for (ManagedArray array : access.keySet())
                if (!array.destroyed)
                    hostTier.used(array.region);
            placement.makeHostRoomAfterLaunch();
            hostTier.reportEngineReclaims(hmm4j_stats.host_reclaimed_bytes(stats));
            lock.progressLocked();
        }
        if (ds.device.launchesAreSynchronous())
            tracker.complete(launch);
        return launch;
    }

    /** Makes {@code blocks} (intervals, see {@link ArrayUse}) valid on {@code ds} without waiting for the copies. */
    private void copyIn(ManagedArray array, long[] blocks, ManagedHeap.DeviceState ds) {
        for (int i = 0; i < blocks.length; i += 2)
            migrator.migrate(array, ds, blocks[i], blocks[i + 1] - blocks[i], hmm4j_h.HMM4J_TO_DEVICE,
                    hmm4j_h.HMM4J_INTENT_READ | hmm4j_h.HMM4J_INTENT_ASYNC, MigrationCause.LAUNCH, null);
    }

    /**
     * Makes the blocks the launch writes DEVICE for the kernel, remembering which changed so a failure can undo it.
     * Blocks it also needs valid (read, or written only in part) are copied here, without waiting for the copy,
     * their host pages going straight from writable to no access; that copy is one of the undone changes too.
     */
    private void handOver(Launch launch, ManagedArray array, ArrayUse use, ManagedHeap.DeviceState ds,
            Arena outcomes) {
        MemorySegment outcome = outcomes.allocate(array.region.blockCount());
        launch.handedOver.put(array, outcome);
        int write = hmm4j_h.HMM4J_INTENT_WRITE | hmm4j_h.HMM4J_INTENT_KEEP_HOST;
        handOver(array, ArrayUse.intersect(use.writes, use.copyIn),
                write | hmm4j_h.HMM4J_INTENT_READ | hmm4j_h.HMM4J_INTENT_ASYNC, ds, outcome);
        handOver(array, ArrayUse.subtract(use.writes, use.copyIn), write, ds, outcome);
    }

    private void handOver(ManagedArray array, long[] blocks, int intent, ManagedHeap.DeviceState ds,
            MemorySegment outcome) {
        for (int i = 0; i < blocks.length; i += 2) {
            long count = blocks[i + 1] - blocks[i];
            migrator.migrate(array, ds, blocks[i], count, hmm4j_h.HMM4J_TO_DEVICE, intent, MigrationCause.LAUNCH,
                    outcome.asSlice(blocks[i], count));
        }
    }

    /**
     * A host read between the hand-over and the enqueue copied home the bytes from before the kernel: the engine
     * makes those blocks DEVICE again. Where it cannot, the launch fails rather than leave them silently stale.
     * Only the blocks from the first the launch writes to the last: those of other launches beside it are theirs.
     */
    private static void retakeForKernel(Launch launch, ManagedArray array, ManagedHeap.DeviceState ds) {
        ArrayUse use = launch.uses.get(array);
        long[] hull = use == null ? new long[] {0, array.region.blockCount()} : ArrayUse.hull(use.writes);
        int rc = hull.length == 0 ? array.region.launchEnqueued(0, 0)
                : array.region.launchEnqueued(hull[0], hull[1] - hull[0]);
        if (rc < 0 && launch.failure == null)
            launch.failure = new DeviceException(array + ": blocks a host read fetched while the launch was being"
                    + " placed could not be handed back to its kernel and hold the bytes from before it: "
                    + NativeErrors.describe(rc), ds.device.id(), rc);
    }

    private static final int HANDED_OVER = hmm4j_h.HMM4J_MIGRATE_CHANGED | hmm4j_h.HMM4J_MIGRATE_COPIED;

    /**
     * The launch failed before its kernel ran: blocks handed to the device go back to the host pages they kept
     * (their bytes there are the current ones), and the launch's arrays are released. Called with the lock held.
     */
    private void failBeforeKernel(Launch launch) {
        if (launch.begun)
            for (ManagedArray array : launch.written)
                array.region.launchAbandoned();
        for (Map.Entry<ManagedArray, MemorySegment> e : launch.handedOver.entrySet()) {
            ManagedArray array = e.getKey();
            MemorySegment outcome = e.getValue();
            long blocks = outcome.byteSize();
            long b = 0;
            while (b < blocks) {
                if ((outcome.get(ValueLayout.JAVA_BYTE, b) & HANDED_OVER) == 0) {
                    b++;
                    continue;
                }
                long end = b + 1;
                while (end < blocks && (outcome.get(ValueLayout.JAVA_BYTE, end) & HANDED_OVER) != 0)
                    end++;
                int rc = array.region.migrate(b, end - b, hmm4j_h.HMM4J_TO_HOST,
                        hmm4j_h.HMM4J_INTENT_WRITE | hmm4j_h.HMM4J_INTENT_DISCARD, MigrationCause.LAUNCH.code(), null, null);
                if (rc < 0)
                    System.getLogger("io.hmm4j").log(System.Logger.Level.ERROR, "could not give blocks " + b + ".." + end
                            + " of array " + array.id + " back to the host after a failed launch: "
                            + NativeErrors.describe(rc));
                b = end;
            }
        }
        launch.handedOver.clear();
        launch.enqueued = true;
        tracker.completeLocked(launch);
    }

    /**
     * Gives every array of {@code launch} device memory on {@code ds} and keeps them in flight, so that nothing
     * evicts or frees them before the kernel ran. A launch never waits for itself, nor for another launch that is
     * still being placed (two such launches could wait for each other): it backs off instead.
     *
     * @throws DeviceOutOfMemoryException if the arrays do not fit on the device even with nothing else there
     */
    private void placeForLaunch(Launch launch, Collection<ManagedArray> arrays, ManagedHeap.DeviceState ds) {
        if (!ds.device.coherent()) {
            long needed = 0;
            for (ManagedArray array : arrays)
                needed = Math.addExact(needed, array.region.size());
            if (needed > ds.budget.limit())
                throw new DeviceOutOfMemoryException("launch needs " + needed + " bytes on " + ds.device.id()
                        + " at once, more than its budget of " + ds.budget.limit() + " bytes", ds.device.id());
        }
        while (true) {
            // Not pinned while it waits: two launches waiting for each other would wait forever.
            tracker.awaitNoConflict(launch, arrays, ds);
            for (ManagedArray array : arrays) {
                array.inFlight.add(launch);
                launch.arrays.add(array);
            }
            if (ds.device.coherent())
                return;
            Placement outcome = Placement.DONE;
            try {
                for (ManagedArray array : arrays) {
                    outcome = placement.place(array, ds, launch);
                    if (outcome != Placement.DONE)
                        break;
                }
            } catch (RuntimeException | Error e) {
                unpin(launch);
                throw e;
            }
            if (outcome == Placement.DONE)
                return;
            unpin(launch);
            if (outcome == Placement.BACK_OFF)
                lock.waitForChange(HeapLock.PROGRESS_POLL_MILLIS);
        }
    }

    /** Takes a launch that is still being placed off its arrays, so that others may evict or use them. */
    private void unpin(Launch launch) {
        for (ManagedArray array : launch.arrays)
            array.inFlight.remove(launch);
        launch.arrays.clear();
        lock.progressLocked();
    }
}
