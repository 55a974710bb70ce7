package io.hmm4j;

import io.hmm4j.internal.policy.HostTier;
import io.hmm4j.spi.Backend;
import java.util.List;
import java.util.Map;

/**
 * When arrays enter and leave the heap, and how the heap ends: an array is published into the live table unless a
 * close got there first; an array is freed (host and device memory, its group's charge) only once no launch and no
 * thread holding its memory uses it, all at once or not at all; close waits for calls in flight, drains the devices
 * and frees every array left. Each of these waits on the heap's lock, and a close may run while any of them waits:
 * after every wait the array's state is looked at again, and an array freed meanwhile is skipped.
 */
final class Lifecycle {

    private final HeapLock lock;
    private final LaunchTracker tracker;
    private final PlacementPolicy placement;
    private final MappedArrays mapped;
    private final HostTier hostTier;
    private final Backend backend;
    private final List<ManagedHeap.DeviceState> devices;
    private final Map<Long, ManagedArray> live;

    Lifecycle(HeapLock lock, LaunchTracker tracker, PlacementPolicy placement, MappedArrays mapped, HostTier hostTier,
            Backend backend, List<ManagedHeap.DeviceState> devices, Map<Long, ManagedArray> live) {
        this.lock = lock;
        this.tracker = tracker;
        this.placement = placement;
        this.mapped = mapped;
        this.hostTier = hostTier;
        this.backend = backend;
        this.devices = devices;
        this.live = live;
    }

    /** {@code admittedBytes}: what {@link PlacementPolicy#makeHostRoom} admitted for the array (0 for a file mapping). */
    <T extends ManagedArray> T publish(T array, long admittedBytes) {
        synchronized (lock) {
            hostTier.cancelAdmission(admittedBytes);
            if (lock.isClosed()) {
                destroyWhenIdle(array);
                throw new IllegalStateException("heap is closed");
            }
            live.put(array.id, array);
            hostTier.allocated(array.region);
        }
        return array;
    }

    /** Frees {@code array} once no launch and no native call uses it; see {@link ManagedArray#close()}. */
    void release(ManagedArray array) {
        try {
            synchronized (lock) {
                for (Launch launch : array.inFlight)
                    if (launch.launcher == Thread.currentThread() && !launch.enqueued)
                        throw new IllegalStateException(array + " closed from inside a launch that uses it (a kernel run by"
                                + " the launching thread): it would wait for itself; close it after the launch");
                destroyWhenIdle(array);
            }
        } finally {
            HeapLock.restoreInterrupt();
        }
    }

    /**
     * Frees an array's host and device memory once nothing uses it, with the lock held: launches that use it are
     * waited for, and so is any thread that holds its segment (a blocking read into it, a native call), because
     * closing the segment's arena fails while it is acquired and freeing the memory under the call would crash.
     * Either everything is freed or, until it can be, nothing is.
     */
    private void destroyWhenIdle(ManagedArray array) {
        long backoffMillis = 1;
        long waitingSince = 0;
        while (!array.destroyed) {
            if (!array.inFlight.isEmpty()) {
                tracker.awaitOneUse(array);
                continue;
            }
            if (array.arena.scope().isAlive()) {
                try {
                    array.arena.close();
                } catch (IllegalStateException acquired) {
                    if (waitingSince == 0) {
                        waitingSince = System.nanoTime();
                    } else if (waitingSince != -1 && System.nanoTime() - waitingSince > 1_000_000_000L) {
                        System.getLogger("io.hmm4j").log(System.Logger.Level.WARNING, "closing " + array
                                + " waits for a thread that holds its memory (blocking I/O or a native call)");
                        waitingSince = -1;
                    }
                    lock.waitForChange(backoffMillis);
                    backoffMillis = Math.min(backoffMillis * 2, 50);
                    continue;
                }
            }
            if (array.region.isFileBacked())
                mapped.forceBeforeDestroy(array);
            // The engine writes spillable regions back to their device on its own (another thread's fault): no
            // more of that once the device memory is freed and maybe another array's. This waits for a write-back
            // in progress (it holds the region's lock).
            array.region.setHostSpill(false);
            if (array.region.sharedName() != null && !array.bindings.isEmpty())
                mapped.bringSharedHome(array);
            placement.freeDeviceMemory(array);
            hostTier.forget(array.region);
            for (ManagedHeap.DeviceState ds : devices)
                ds.forget(array);
            array.region.destroy();
            if (array.group != null)
                array.group.uncharge(array.region.size());
            array.destroyed = true;
            live.remove(array.id);
            lock.progressLocked();
        }
    }

    /** {@link ManagedHeap#close()} once the heap is marked closed: waits out calls in flight, then frees everything. */
    void tearDown() {
        synchronized (lock) {
            lock.awaitNoCalls();
            for (ManagedHeap.DeviceState ds : devices) {
                try {
                    ds.device.synchronize();
                } catch (DeviceException e) {
                    System.getLogger("io.hmm4j").log(System.Logger.Level.WARNING, "device failed while closing", e);
                }
            }
            // Each free may wait, releasing the lock; arrays freed meanwhile by their own close() are skipped.
            while (!live.isEmpty())
                destroyWhenIdle(live.values().iterator().next());
            for (ManagedHeap.DeviceState ds : devices)
                if (ds.pool != null)
                    ds.pool.close();
            backend.close();
            lock.tornDown = true;
            lock.progressLocked();
        }
    }
}
