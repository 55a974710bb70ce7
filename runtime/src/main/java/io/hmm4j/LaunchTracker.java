package io.hmm4j;

import io.hmm4j.internal.engine.Fence;
import io.hmm4j.internal.engine.NativeErrors;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * Launches in flight and who waits for them. An array with launches in flight can be neither evicted nor freed, so
 * placement, eviction, moves, force and close all wait here first; completing a launch takes it off its arrays.
 * Kept apart from the launch planner because placement waits for launches too (the planner places arrays, and
 * placement waits for other launches), and from placement because close and force wait without placing anything.
 *
 * <p>Every method named {@code ...Locked} or documented "lock held" runs with the heap's lock held; a wait releases
 * it (through {@link HeapLock#waitForChange}), so every caller re-checks what it relies on after a wait.
 */
final class LaunchTracker {

    private final HeapLock lock;
    private final Map<Long, ManagedArray> live;
    /** Memory advice, told when a launch completes; set once by the heap right after construction. */
    AdvicePolicy advice;

    LaunchTracker(HeapLock lock, Map<Long, ManagedArray> live) {
        this.lock = lock;
        this.live = live;
    }

    /** Waits until the launching thread has handed {@code launch} to the device (or failed to); lock held. */
    private void awaitEnqueued(Launch launch) {
        while (!launch.enqueued)
            lock.waitForChange(0);
    }

    /** Ends a launch's bookkeeping: its arrays are no longer in flight. */
    void complete(Launch launch) {
        synchronized (lock) {
            completeLocked(launch);
        }
    }

    void completeLocked(Launch launch) {
        if (launch.done)
            return;
        if (launch.begun)
            for (ManagedArray array : launch.written) {
                if (launch.fence != null)
                    array.region.detach(launch.fence);
                array.region.launchEnd();
            }
        if (launch.fence != null) {
            launch.fence.release();
            launch.fence = null;
        }
        for (ManagedArray array : launch.arrays)
            settleUploads(launch, array);
        for (ManagedArray array : launch.arrays)
            array.inFlight.remove(launch);
        launch.placing = false;
        // Before done: Launch.await() returns without the lock once done is set, and its caller may rely on the
        // advice's moves (blocks home) having happened.
        try {
            if (advice != null)
                advice.launchCompleted(launch);
        } finally {
            launch.done = true;
            lock.progressLocked();
        }
    }

    /**
     * The launch's copies in were enqueued without waiting: one that failed means its kernel read bytes that are
     * not known, which the launch reports (the blocks themselves are valid on the host again).
     */
    private static void settleUploads(Launch launch, ManagedArray array) {
        if (array.destroyed || array.bindings.isEmpty())
            return;
        int rc = array.region.settleUploads(launch.device.engine.handle());
        if (rc < 0 && launch.failure == null)
            launch.failure = new DeviceException("copying " + array + " to " + launch.device.device.id()
                    + " for the launch failed after it was enqueued: " + NativeErrors.describe(rc),
                    launch.device.device.id(), rc);
    }

    /**
     * {@link Launch#await()}: a call of its own, so that close() waits for it before it frees the device. A device
     * failure is recorded in the launch, for whichever thread awaits it.
     */
    void awaitLaunch(Launch launch) {
        try {
            lock.enterCall();
        } catch (IllegalStateException closedHeap) {
            // close() completes every launch before it frees anything: wait for that.
            synchronized (lock) {
                while (!launch.done && !lock.tornDown)
                    lock.waitForChange(0);
            }
            HeapLock.restoreInterrupt();
            return;
        }
        try {
            Fence fence;
            synchronized (lock) {
                awaitEnqueued(launch);
                if (launch.done)
                    return;
                // Outside the lock another thread may complete the launch and give up its fence: hold our own.
                fence = launch.fence;
                if (fence != null)
                    fence.retain();
            }
            try {
                waitForKernel(launch, fence);
            } finally {
                try {
                    complete(launch);
                } finally {
                    if (fence != null)
                        fence.release();
                }
            }
        } finally {
            lock.exitCall();
        }
    }

    /** Waits for {@code launch} with the lock held (released while it waits to be enqueued). */
    void awaitLocked(Launch launch) {
        awaitEnqueued(launch);
        if (launch.done)
            return;
        try {
            waitForKernel(launch, launch.fence);
        } finally {
            completeLocked(launch);
        }
    }

    /**
     * Waits for the launch's kernel by its fence, or by draining the device when it has none. A failure is kept
     * in the launch for its owner's {@link Launch#await()}, not thrown at whoever happened to wait for it.
     */
    private static void waitForKernel(Launch launch, Fence fence) {
        try {
            if (fence != null)
                fence.await();
            else
                launch.device.device.synchronize();
        } catch (DeviceException e) {
            launch.failure = e;
        }
    }

    /**
     * Waits for one launch that uses {@code array}, with the lock held. A launch still being placed is not waited
     * for directly (it may itself wait for memory): the caller waits for any progress and looks again.
     */
    void awaitOneUse(ManagedArray array) {
        Launch launch = array.inFlight.getFirst();
        if (launch.placing)
            lock.waitForChange(HeapLock.PROGRESS_POLL_MILLIS);
        else
            awaitLocked(launch);
    }

    /**
     * Returns once no launch uses any of {@code arrays} and all are alive, with the lock held and not released
     * since that was checked. Every wait releases the lock, so after each one everything is checked again.
     *
     * @throws IllegalStateException if an array or the heap was closed
     */
    void awaitIdle(Collection<ManagedArray> arrays) {
        restart:
        while (true) {
            for (ManagedArray array : arrays)
                array.ensureAlive();
            for (ManagedArray array : arrays) {
                if (!array.inFlight.isEmpty()) {
                    awaitOneUse(array);
                    continue restart;
                }
            }
            return;
        }
    }

    /**
     * Returns once no other launch in flight conflicts with {@code self} over {@code arrays} and all are alive, with
     * the lock held and not released since that was checked ({@code self} not yet in their {@code inFlight}). Two
     * launches conflict over an array when one writes a block the other touches ({@link ArrayUse}), or when either
     * has no use recorded (a tiled launch), or the array is zero-copy (one device at a time maps it for launches). An
     * array another launch uses that would have to lose a device binding to gain one on {@code ds} (shared between
     * processes, or every binding slot taken) waits too: placement never takes an array off a device while a launch uses
     * it (thrash control, which would, looks only at arrays no other launch uses).
     *
     * @throws IllegalStateException if an array or the heap was closed
     */
    void awaitNoConflict(Launch self, Collection<ManagedArray> arrays, ManagedHeap.DeviceState ds) {
        restart:
        while (true) {
            for (ManagedArray array : arrays)
                array.ensureAlive();
            for (ManagedArray array : arrays) {
                for (Launch other : array.inFlight) {
                    if (other != self && conflicts(self, other, array, ds)) {
                        if (other.placing)
                            lock.waitForChange(HeapLock.PROGRESS_POLL_MILLIS);
                        else
                            awaitLocked(other);
                        continue restart;
                    }
                }
            }
            return;
        }
    }

    private static boolean conflicts(Launch self, Launch other, ManagedArray array, ManagedHeap.DeviceState ds) {
        ArrayUse mine = self.uses.get(array);
        ArrayUse theirs = other.uses.get(array);
        if (mine == null || theirs == null || array.region.isZeroCopy())
            return true;
        if (!array.bindings.containsKey(ds) && (array.region.sharedName() != null
                || array.bindings.size() >= io.hmm4j.internal.ffm.hmm4j_h.HMM4J_MAX_BINDINGS))
            return true;
        return mine.conflictsWith(theirs);
    }

    /**
     * A launch other than {@code self} that holds memory on {@code ds} and is (or is not) still being placed; lock
     * held. Its own device's, or any array of it that has memory on {@code ds} too (a launch on another device pins
     * its arrays' copies everywhere until it completes).
     */
    Launch launchOn(ManagedHeap.DeviceState ds, Launch self, boolean placing) {
        for (ManagedArray array : live.values())
            for (Launch launch : array.inFlight)
                if (launch != self && launch.placing == placing
                        && (launch.device == ds || array.bindings.containsKey(ds)))
                    return launch;
        return null;
    }

    /** Every launch in flight now; lock held. */
    List<Launch> pending() {
        List<Launch> pending = new ArrayList<>();
        for (ManagedArray array : live.values())
            for (Launch launch : array.inFlight)
                if (!pending.contains(launch))
                    pending.add(launch);
        return pending;
    }
}
