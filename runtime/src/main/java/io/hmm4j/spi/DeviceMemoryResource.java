package io.hmm4j.spi;

import io.hmm4j.DeviceOutOfMemoryException;

/** Device memory allocation, the layering unit (RMM's lesson): raw, pool, budget, statistics. */
public interface DeviceMemoryResource {

    /**
     * Allocates {@code bytes} of device memory and returns its device address (as understood by the
     * device's copy engine and kernels).
     *
     * @throws IllegalArgumentException if {@code bytes <= 0}
     * @throws DeviceOutOfMemoryException if the device (or a budget) has no room
     */
    long allocate(long bytes);

    /** Returns memory obtained from {@link #allocate(long)} with the same size. */
    void deallocate(long address, long bytes);

    /** The largest single allocation the device allows (e.g. CL_DEVICE_MAX_MEM_ALLOC_SIZE). */
    default long maxAllocationBytes() {
        return Long.MAX_VALUE;
    }

    /** Alignment of returned addresses, a power of two. */
    default long alignment() {
        return 256;
    }
}
