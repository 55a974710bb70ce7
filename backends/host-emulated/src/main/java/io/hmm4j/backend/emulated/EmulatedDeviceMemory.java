package io.hmm4j.backend.emulated;

import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.spi.DeviceMemoryResource;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * Raw emulated device memory: each allocation is its own native allocation, never the handle's pages, so the
 * host can only reach it through copies. Honours the device capacity and injected allocation failures.
 */
final class EmulatedDeviceMemory implements DeviceMemoryResource {

    private final String deviceId;
    private final long capacity;
    private final Map<Long, Arena> allocations = new HashMap<>();
    private long used;
    private int failuresToInject;

    EmulatedDeviceMemory(String deviceId, long capacity) {
        this.deviceId = deviceId;
        this.capacity = capacity;
    }

    @Override
    public synchronized long allocate(long bytes) {
        if (bytes <= 0)
            throw new IllegalArgumentException("allocation size must be > 0: " + bytes);
        if (failuresToInject > 0) {
            failuresToInject--;
            throw new DeviceOutOfMemoryException("injected allocation failure on " + deviceId, deviceId);
        }
        if (bytes > capacity - used)
            throw new DeviceOutOfMemoryException(deviceId + " is full: " + bytes + " bytes requested, " + used
                    + " of " + capacity + " in use", deviceId);
        Arena arena = Arena.ofShared();
        MemorySegment memory = arena.allocate(bytes, alignment());
        allocations.put(memory.address(), arena);
        used += bytes;
        return memory.address();
    }

    @Override
    public synchronized void deallocate(long address, long bytes) {
        Arena arena = allocations.remove(address);
        if (arena == null)
            throw new IllegalArgumentException("address 0x" + Long.toHexString(address) + " is not an allocation of " + deviceId);
        arena.close();
        used -= bytes;
    }

    @Override
    public long alignment() {
        return 4096;
    }

    synchronized long used() {
        return used;
    }

    synchronized void injectAllocationFailures(int count) {
        failuresToInject = count;
    }

    synchronized void close() {
        allocations.values().forEach(Arena::close);
        allocations.clear();
        used = 0;
    }
}
