package io.hmm4j;

import io.hmm4j.internal.jfr.ThrashingEvent;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Zero-copy placement, the third kind of device memory ("unmovable addressable"): an array whose bytes stay in its
 * host pages, which every device addresses directly over the bus (region_zerocopy.c), and thrash control, which
 * places an array there once its blocks keep moving between host and device. Per array, not per block: a kernel
 * argument is one pointer. The user view stays the array's segment; while a launch uses the array the engine
 * protects it so that a host access waits for the kernel, as for a migrating array, but nothing is copied.
 *
 * <p>Methods that do not take the heap's lock themselves are called with it held.
 */
final class ZeroCopyPlacement {

    /**
     * Thrash control switches an array only while it is at most this many times the bytes that moved per launch
     * in the window: a zero-copy kernel reads the whole array over the bus every launch, where a move costs its
     * block's bytes plus a fault and a copy's latency, several blocks' worth of bus time on a PCIe-like bus.
     */
    static final int SIZE_FACTOR = 4;

    /** Host-device moves of an array's blocks since its window began; guarded by the heap's lock. */
    private static final class Window {
        final int[] moves;
        int launches;
        long blockMoves;
        /** The array's previous launch: if it wrote the array, blocks SHARED now were read home since. */
        Launch last;

        Window(int blocks) {
            this.moves = new int[blocks];
        }
    }

    private final HeapLock lock;
    private final LaunchTracker tracker;
    private final PlacementPolicy placement;
    private final List<ManagedHeap.DeviceState> devices;
    private final long blockSize;
    private final boolean thrashControl;
    private final int thrashMoves;
    private final int thrashWindow;
    private final Map<ManagedArray, Window> windows = new WeakHashMap<>();
    private final AtomicLong switches = new AtomicLong();

    ZeroCopyPlacement(HeapLock lock, LaunchTracker tracker, PlacementPolicy placement,
            List<ManagedHeap.DeviceState> devices, long blockSize, boolean thrashControl, int thrashMoves,
            int thrashWindow) {
        this.lock = lock;
        this.tracker = tracker;
        this.placement = placement;
        this.devices = devices;
        this.blockSize = blockSize;
        this.thrashControl = thrashControl;
        this.thrashMoves = thrashMoves;
        this.thrashWindow = thrashWindow;
    }

    /** Arrays thrash control placed zero-copy (readable without the lock, also after the heap closed). */
    long switches() {
        return switches.get();
    }

    /** {@link ManagedHeap#placeZeroCopy}: once no launch uses the array, brings it home and places it zero-copy. */
    void enter(ManagedArray array) {
        String refusal = refusal(array);
        if (refusal != null)
            throw new IllegalArgumentException(refusal);
        if (devices.stream().noneMatch(ds -> ds.device.zeroCopyUnavailabilityCause() == null))
            throw new UnsupportedOperationException("no device of this heap can address host memory directly: "
                    + devices.getFirst().device.zeroCopyUnavailabilityCause());
        synchronized (lock) {
            tracker.awaitIdle(List.of(array));
            if (!array.region.isZeroCopy())
                enterLocked(array);
        }
    }

    /** Why {@code array} can never be placed zero-copy, or null where it can. */
    private static String refusal(ManagedArray array) {
        if (array.region.isReadOnly())
            return array + " maps a file READ_ONLY: zero-copy placement needs host memory the devices can write";
        if (array.region.sharedName() != null)
            return array + " is shared between processes: its blocks follow the processes' coherence protocol and"
                    + " cannot be placed zero-copy";
        if (array.region.isServedByUserfaultfd())
            return array + " is served by userfaultfd, whose faults are resolved by mapping pages, not by lifting a"
                    + " protection: it cannot be placed zero-copy";
        return null;
    }

    /** {@link ManagedHeap#placeMigrating}: once no launch uses the array, lets its blocks migrate again. */
    void leave(ManagedArray array) {
        synchronized (lock) {
            tracker.awaitIdle(List.of(array));
            leaveLocked(array);
        }
    }

    private void enterLocked(ManagedArray array) {
        // Every block comes home first: the device copies are dropped, the host pages are what devices address.
        if (!array.bindings.isEmpty())
            placement.evict(array, MigrationCause.PREFETCH);
        array.region.setZeroCopy(true);
        windows.remove(array);
    }

    /** A move of an idle array to a device (prefetch, migrate): it migrates again. */
    void leaveLocked(ManagedArray array) {
        if (!array.region.isZeroCopy())
            return;
        array.region.setZeroCopy(false);
        for (ManagedHeap.DeviceState ds : devices)
            ds.unmapZeroCopy(array);
    }

    /**
     * {@link PlacementPolicy#place}'s hook for an array pinned by launch {@code self} (null: a move): true when it
     * is zero-copy (mapped for {@code ds} now, no device memory), after thrash control had its look at a launch.
     */
    boolean place(ManagedArray array, ManagedHeap.DeviceState ds, Launch self) {
        // Switching evicts the array everywhere: never under another launch that uses it (a range launch beside it).
        if (self != null && thrashControl && !array.region.isZeroCopy() && array.inFlight.size() == 1
                && thrashing(array, ds, self))
            enterLocked(array);
        if (!array.region.isZeroCopy())
            return false;
        ds.zeroCopyAddress(array);
        return true;
    }

    /**
     * Counts the blocks a host access took back since the array's last launch on its device (HOST again: this launch
     * copies them once more; or SHARED after a launch that wrote them: a host read copied them home) and says whether one of them moved more than {@code thrashMoves} times in the window
     * and the array is small enough that reading all of it over the bus costs less than the moves.
     */
    private boolean thrashing(ManagedArray array, ManagedHeap.DeviceState ds, Launch self) {
        if (refusal(array) != null || array.region.isFileBacked() || ds.device.zeroCopyUnavailabilityCause() != null)
            return false;
        long blocks = array.region.blockCount();
        if (blocks > Integer.MAX_VALUE / 4)
            return false;
        Window w = windows.computeIfAbsent(array, a -> new Window((int) blocks));
        boolean lastWrote = w.last != null && w.last.written.contains(array);
        w.last = self;
        // Moves are counted between launches on the device the array stays bound to (an eviction is no thrashing).
        if (!array.bindings.containsKey(ds))
            return false;
        if (w.launches == thrashWindow) {
            java.util.Arrays.fill(w.moves, 0);
            w.launches = 0;
            w.blockMoves = 0;
        }
        w.launches++;
        BlockState[] states = array.region.snapshot();
        int most = 0;
        for (int b = 0; b < states.length; b++) {
            if (states[b] == BlockState.HOST || (lastWrote && states[b] == BlockState.SHARED)) {
                w.blockMoves++;
                most = Math.max(most, ++w.moves[b]);
            }
        }
        if (most <= thrashMoves)
            return false;
        long movedPerLaunch = w.blockMoves * blockSize / w.launches;
        if (array.region.size() > SIZE_FACTOR * movedPerLaunch)
            return false;
        switches.incrementAndGet();
        ThrashingEvent event = new ThrashingEvent();
        if (event.isEnabled()) {
            event.arrayId = array.id;
            event.device = ds.device.id();
            event.arrayBytes = array.region.size();
            event.launches = w.launches;
            event.blockMoves = w.blockMoves;
            event.mostMoves = most;
            event.action = "zero_copy";
            event.commit();
        }
        return true;
    }

    /**
     * A launch on {@code ds} begins to use {@code arrays} (a zero-copy one's user view is protected until it ends).
     * All or none: where one cannot begin (its protection cannot change), those begun are ended again.
     */
    static void launchBegin(List<ManagedArray> arrays, ManagedHeap.DeviceState ds, Map<ManagedArray, Access> access) {
        io.hmm4j.spi.NativeCopyEngine engine = ds.device.copyEngine();
        MemorySegment device = engine == null ? MemorySegment.NULL : engine.handle();
        /*
         * A synchronous launch (emulated without overlap, coherent OpenCL) is over when launch() returns: protecting
         * the view would only order other threads' accesses during the kernel, which these devices' migrating path
         * does not order either (a fault there finds no queued kernel to wait for), and costs two protection
         * changes per launch.
         */
        boolean protect = !ds.device.launchesAreSynchronous();
        int begun = 0;
        try {
            for (ManagedArray array : arrays) {
                if (protect)
                    array.region.launchBegin(device, access.get(array).writes());
                else
                    array.region.launchBegin();
                begun++;
            }
        } catch (RuntimeException | Error e) {
            for (ManagedArray array : arrays.subList(0, begun)) {
                array.region.launchAbandoned();
                array.region.launchEnd();
            }
            throw e;
        }
    }
}
