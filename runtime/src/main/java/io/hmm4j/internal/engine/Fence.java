package io.hmm4j.internal.engine;

import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The completion of one launch ({@code struct hmm4j_fence}): the event its backend recorded after the launch's
 * last command. Waiting for it drains that launch, not the whole device, and a launch is waited for at most once.
 * The creator's reference is given back with {@link #release()}; a thread that waits while another may release
 * takes its own with {@link #retain()} first, while the creator's is certainly held.
 */
public final class Fence {

    private static final int EOPNOTSUPP = 95;

    private final MemorySegment handle;
    private final NativeCopyEngine engine;

    private Fence(MemorySegment handle, NativeCopyEngine engine) {
        this.handle = handle;
        this.engine = engine;
    }

    /**
     * Takes over {@code event} (a cl_event or CUevent of {@code engine}'s device). Returns {@code null} when the
     * device has no events or the fence cannot be allocated: the event is released then, and the caller waits
     * with the device's synchronize, which is complete, only coarser.
     */
    public static Fence create(NativeCopyEngine engine, long event) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int rc = hmm4j_h.hmm4j_fence_create(engine.handle(), event, out);
            if (rc == -EOPNOTSUPP || rc == -12)
                return null;
            NativeErrors.check("hmm4j_fence_create", rc);
            return new Fence(out.get(ValueLayout.ADDRESS, 0), engine);
        }
    }

    MemorySegment handle() {
        return handle;
    }

    /**
     * Waits until the launch has finished; returns at once if any thread waited before.
     *
     * @throws io.hmm4j.DeviceException if the device reports a failure of the launch
     */
    public void await() {
        int rc = hmm4j_h.hmm4j_fence_wait(handle);
        NativeErrors.checkDevice("hmm4j_fence_wait", rc, engine.deviceId(), engine.lastError());
    }

    public void retain() {
        hmm4j_h.hmm4j_fence_get(handle);
    }

    public void release() {
        hmm4j_h.hmm4j_fence_put(handle);
    }
}
