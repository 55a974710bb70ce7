package io.hmm4j.backend.cuda;

import io.hmm4j.DeviceException;
import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.spi.DeviceMemoryResource;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Raw device memory: one {@code cuMemAlloc} per allocation, in the device's primary context. The runtime pools
 * above it. Live allocations are tracked so a wrong free is an IllegalArgumentException and close frees leaks.
 */
final class CudaDeviceMemory implements DeviceMemoryResource {

    private record Allocation(CUdeviceptr pointer, long bytes) {}

    private final CudaDevice device;
    private final ConcurrentHashMap<Long, Allocation> live = new ConcurrentHashMap<>();
    private final AtomicLong used = new AtomicLong();

    CudaDeviceMemory(CudaDevice device) {
        this.device = device;
    }

    @Override
    public long allocate(long bytes) {
        if (bytes <= 0)
            throw new IllegalArgumentException("allocation size must be > 0: " + bytes);
        if (bytes > maxAllocationBytes())
            throw new DeviceOutOfMemoryException("cuMemAlloc of " + bytes + " bytes on " + device.id()
                    + ": more than the device's " + maxAllocationBytes() + " bytes", device.id());
        CUdeviceptr pointer = new CUdeviceptr();
        int rc;
        device.enter();
        try {
            rc = JCudaDriver.cuMemAlloc(pointer, bytes);
        } finally {
            device.exit();
        }
        if (rc == CUresult.CUDA_ERROR_OUT_OF_MEMORY)
            throw new DeviceOutOfMemoryException("cuMemAlloc of " + bytes + " bytes failed on " + device.id()
                    + ": CUDA_ERROR_OUT_OF_MEMORY (" + used.get() + " bytes allocated by hmm4j)", device.id());
        CudaErrors.check(rc, "cuMemAlloc(" + bytes + ")", device.id());
        long address = CudaErrors.address(pointer);
        live.put(address, new Allocation(pointer, bytes));
        used.addAndGet(bytes);
        return address;
    }

    @Override
    public void deallocate(long address, long bytes) {
        Allocation allocation = live.remove(address);
        if (allocation == null)
            throw new IllegalArgumentException("0x" + Long.toHexString(address) + " is not a live allocation of "
                    + device.id());
        if (allocation.bytes() != bytes) {
            live.put(address, allocation);
            throw new IllegalArgumentException("0x" + Long.toHexString(address) + " was allocated with "
                    + allocation.bytes() + " bytes, not " + bytes);
        }
        used.addAndGet(-bytes);
        free(allocation);
    }

    private void free(Allocation allocation) {
        int rc;
        device.enter();
        try {
            rc = JCudaDriver.cuMemFree(allocation.pointer());
        } finally {
            device.exit();
        }
        CudaErrors.check(rc, "cuMemFree", device.id());
    }

    /** A single allocation cannot exceed the device's memory. */
    @Override
    public long maxAllocationBytes() {
        return device.capacityBytes();
    }

    /** cuMemAlloc aligns to at least 256 bytes. */
    @Override
    public long alignment() {
        return 256;
    }

    /** Bytes currently allocated through this resource. */
    long used() {
        return used.get();
    }

    /** Frees whatever is still allocated (the backend is closing); reports the first failure. */
    void freeAll() {
        DeviceException failure = null;
        for (Long address : live.keySet()) {
            Allocation allocation = live.remove(address);
            if (allocation == null)
                continue;
            used.addAndGet(-allocation.bytes());
            try {
                free(allocation);
            } catch (DeviceException e) {
                if (failure == null)
                    failure = e;
            }
        }
        if (failure != null)
            throw failure;
    }
}
