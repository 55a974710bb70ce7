package io.hmm4j;

/**
 * Host memory could not be had, and nothing was lost for it. Thrown where an allocation through a memory group
 * whose {@link MemoryGroup.DevicePolicy} is {@code NEVER} does not fit the heap's host budget even after every
 * reclaimable page was given back and other groups' cold arrays moved to devices (nothing was allocated), and where
 * blocks that live on a device could not come home because the system gave no pages for them even after kept
 * pages were reclaimed (they stay on the device with their data; a later attempt may succeed).
 *
 * <p>A plain host access (a load or store through {@link ManagedArray#segment()}) of such a block cannot throw this:
 * the JVM reports it as an {@link InternalError}, as for a truncated mapped file (README, "Host memory").
 */
public class HostOutOfMemoryException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final long requestedBytes;

    public HostOutOfMemoryException(String message, long requestedBytes) {
        super(message);
        this.requestedBytes = requestedBytes;
    }

    /** The host memory asked for when it failed: the array's size for an allocation, 0 for a copy home. */
    public long requestedBytes() {
        return requestedBytes;
    }
}
