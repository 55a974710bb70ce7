package io.hmm4j.internal.memory;

import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.spi.DeviceMemoryResource;
import java.util.concurrent.atomic.AtomicLong;

/** Caps the bytes handed out: reserves first, allocates upstream, undoes the reservation if upstream fails. */
public final class BudgetMemoryResource implements DeviceMemoryResource {

    private final DeviceMemoryResource upstream;
    private final long limit;
    private final String deviceId;
    private final AtomicLong used = new AtomicLong();

    public BudgetMemoryResource(DeviceMemoryResource upstream, long limit, String deviceId) {
        if (limit <= 0)
            throw new IllegalArgumentException("device budget must be > 0: " + limit);
        this.upstream = upstream;
        this.limit = limit;
        this.deviceId = deviceId;
    }

    @Override
    public long allocate(long bytes) {
        MemoryResources.checkSize(bytes);
        long after = used.addAndGet(bytes);
        if (after > limit || after < 0) {
            used.addAndGet(-bytes);
            throw new DeviceOutOfMemoryException("device budget of " + deviceId + " exhausted: " + bytes
                    + " bytes requested, " + (after - bytes) + " of " + limit + " in use", deviceId);
        }
        try {
            return upstream.allocate(bytes);
        } catch (RuntimeException | Error e) {
            used.addAndGet(-bytes);
            throw e;
        }
    }

    @Override
    public void deallocate(long address, long bytes) {
        upstream.deallocate(address, bytes);
        used.addAndGet(-bytes);
    }

    public long used() {
        return used.get();
    }

    public long limit() {
        return limit;
    }

    @Override
    public long alignment() {
        return upstream.alignment();
    }

    @Override
    public long maxAllocationBytes() {
        return upstream.maxAllocationBytes();
    }
}
