package io.hmm4j;

import java.util.ArrayList;
import java.util.List;

/**
 * A kernel launch. On asynchronous devices it may still run when {@link ManagedHeap#launch} returns; host access
 * to an array it writes waits for it inside the fault engine, and {@link #await()} waits explicitly.
 */
public final class Launch {

    private final ManagedHeap heap;
    final ManagedHeap.DeviceState device;
    final List<ManagedArray> written = new ArrayList<>();
    final List<ManagedArray> arrays = new ArrayList<>();
    // Guarded by the heap's lock; waiters use its monitor.
    boolean enqueued;
    volatile boolean done;

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
        if (done)
            return;
        heap.awaitEnqueued(this);
        try {
            device.device.synchronize();
        } finally {
            heap.complete(this);
        }
    }
}
