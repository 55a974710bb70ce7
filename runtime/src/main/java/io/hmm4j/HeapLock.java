package io.hmm4j;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The heap's one lock, its open/closed state, and the discipline of waiting on it. Placement, launch bookkeeping
 * and frees run under this monitor (the fault handler never waits on it, DESIGN.md invariant 2); the heap's
 * collaborators all synchronize on this object and wait only through {@link #waitForChange}, so there is one lock
 * and one way to wait: a wait releases the lock, so every caller checks its condition again afterwards, and an
 * interrupt never ends a wait early (the operation must finish or fail cleanly) but is given back when the thread
 * leaves the heap. It also counts the calls that use the backend outside the lock, which close() waits out before
 * it frees anything.
 */
final class HeapLock {

    /** How long a wait for other launches' progress lasts before it looks again (a safety net, not a clock). */
    static final long PROGRESS_POLL_MILLIS = 50;

    private static final ThreadLocal<Boolean> INTERRUPTED_WHILE_WAITING = new ThreadLocal<>();

    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicInteger callsInFlight = new AtomicInteger();
    /** Guarded by this: close() freed everything. */
    boolean tornDown;

    /** @throws IllegalStateException if the heap is closed */
    void ensureOpen() {
        if (closed.get())
            throw new IllegalStateException("heap is closed");
    }

    boolean isClosed() {
        return closed.get();
    }

    /** Marks the heap closed; returns false if it already was. */
    boolean close() {
        return closed.compareAndSet(false, true);
    }

    /**
     * Counts a call that uses the backend outside the lock (a launch and its kernel build, an await); close()
     * waits until none is left before it frees anything.
     *
     * @throws IllegalStateException if the heap is closed
     */
    void enterCall() {
        callsInFlight.incrementAndGet();
        if (closed.get()) {
            exitCall();
            throw new IllegalStateException("heap is closed");
        }
    }

    void exitCall() {
        restoreInterrupt();
        if (callsInFlight.decrementAndGet() == 0 && closed.get()) {
            synchronized (this) {
                notifyAll();
            }
        }
    }

    /** With the lock held, after the heap was marked closed: waits until no call counted by enterCall is left. */
    void awaitNoCalls() {
        while (callsInFlight.get() > 0)
            waitForChange(0);
    }

    /** Something that waiters may be waiting for happened: a launch was enqueued, completed or released, an array freed. */
    void progressLocked() {
        notifyAll();
    }

    /**
     * Waits on the lock for a change, at most {@code millis} (0: until notified). Callers check their condition
     * again afterwards. An interrupt does not end the wait early (the operation must finish or fail cleanly);
     * it is kept and restored when the thread leaves the heap ({@link #restoreInterrupt()}).
     */
    void waitForChange(long millis) {
        try {
            wait(millis);
        } catch (InterruptedException e) {
            // Setting the flag again here would make every later wait throw at once, spinning with the lock held.
            INTERRUPTED_WHILE_WAITING.set(Boolean.TRUE);
        }
    }

    /** Gives the thread back an interrupt that arrived while it waited inside the heap. */
    static void restoreInterrupt() {
        if (INTERRUPTED_WHILE_WAITING.get() != null) {
            INTERRUPTED_WHILE_WAITING.remove();
            Thread.currentThread().interrupt();
        }
    }
}
