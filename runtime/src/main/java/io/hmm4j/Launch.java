package io.hmm4j;

import io.hmm4j.internal.engine.Fence;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * A kernel launch. On asynchronous devices it may still run when {@link ManagedHeap#launch} returns; host access
 * to an array it writes waits for it inside the fault engine, and {@link #await()} waits explicitly.
 */
public final class Launch {

    private final ManagedHeap heap;
    /** The thread that launches it; until it is enqueued, only that thread can finish it. */
    final Thread launcher = Thread.currentThread();
    final ManagedHeap.DeviceState device;
    final List<ManagedArray> written = new ArrayList<>();
    final List<ManagedArray> arrays = new ArrayList<>();
    /**
     * The blocks it reads and writes of each array, for the launches that may run beside it; an array it uses and
     * that has none here (a tiled launch's) counts as all of it, read and written.
     */
    final Map<ManagedArray, ArrayUse> uses = new IdentityHashMap<>();
    /** Written arrays handed to the device with their host pages kept, and which blocks changed (per-block outcome). */
    final Map<ManagedArray, MemorySegment> handedOver = new IdentityHashMap<>();
    // Guarded by the heap's lock; waiters use its monitor.
    /** Still being placed: its arrays are in flight but it may yet back off or fail; nobody waits for it directly. */
    boolean placing = true;
    /** Its written arrays' regions were told a kernel is in flight (launchBegin). */
    boolean begun;
    boolean enqueued;
    /** The completion of its commands, attached to its written arrays' regions; null: wait with synchronize. */
    Fence fence;
    volatile boolean done;
    /** What the device reported when the launch was waited for, by whichever thread did. */
    volatile DeviceException failure;

    Launch(ManagedHeap heap, ManagedHeap.DeviceState device) {
        this.heap = heap;
        this.device = device;
    }

    public boolean isDone() {
        return done;
    }

    /**
     * Waits for the kernel to finish.
     *
     * @throws DeviceException if the device reports a failure of the kernel or the device
     */
    public void await() {
        if (!done)
            heap.awaitLaunch(this);
        DeviceException f = failure;
        if (f != null)
            throw f;
    }
}
