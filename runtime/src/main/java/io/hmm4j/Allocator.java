package io.hmm4j;

import io.hmm4j.internal.engine.Region;
import io.hmm4j.internal.policy.HostTier;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Anonymous arrays coming into being: the size checked, the group charged, the host budget asked for room (which may
 * reclaim pages or move cold arrays to devices, or refuse a group that must stay on the host), the region made and
 * set up for the heap (prefetch, host headroom, whether the engine may write it back to a device), and every step
 * undone if a later one fails. Publishing the array is the {@link Lifecycle}'s, as it races close.
 */
final class Allocator {

    /** How a typed array is made over a region ({@code ByteArray::new}, ...). */
    @FunctionalInterface
    interface ArrayFactory<T extends ManagedArray> {
        T create(ManagedHeap heap, Region region, long byteSize, long id);
    }

    private final ManagedHeap heap;
    private final HeapLock lock;
    private final PlacementPolicy placement;
    private final Lifecycle lifecycle;
    private final HostTier hostTier;
    private final MemorySegment stats;
    private final long blockSize;
    private final long prefetchBlocks;
    private final boolean releaseHostMemory;
    private final boolean userfaultfd;
    private final AtomicLong nextId;

    Allocator(ManagedHeap heap, HeapLock lock, PlacementPolicy placement, Lifecycle lifecycle, HostTier hostTier,
            MemorySegment stats, long blockSize, long prefetchBlocks, boolean releaseHostMemory, boolean userfaultfd,
            AtomicLong nextId) {
        this.heap = heap;
        this.lock = lock;
        this.placement = placement;
        this.lifecycle = lifecycle;
        this.hostTier = hostTier;
        this.stats = stats;
        this.blockSize = blockSize;
        this.prefetchBlocks = prefetchBlocks;
        this.releaseHostMemory = releaseHostMemory;
        this.userfaultfd = userfaultfd;
        this.nextId = nextId;
    }

    /**
     * @throws IllegalArgumentException if {@code length <= 0} or the array would exceed {@link ManagedHeap#MAX_ARRAY_BYTES}
     * @throws IllegalStateException if the heap is closed
     * @throws OutOfMemoryError if the host cannot map the memory
     */
    <T extends ManagedArray> T allocate(long length, int elementSize, ArrayFactory<T> factory, MemoryGroup group) {
        lock.ensureOpen();
        long bytes = checkedByteSize("array", length, elementSize);
        long charged = (bytes + blockSize - 1) / blockSize * blockSize;
        if (group != null)
            group.charge(charged);
        T array;
        boolean admitted = false;
        try {
            placement.makeHostRoom(charged, group);
            admitted = true;
            Region region = Region.create(bytes, blockSize, stats);
            try {
                if (userfaultfd)
                    region.useUserfaultfd();
                region.setPrefetch(prefetchBlocks);
                region.setReleaseHost(releaseHostMemory);
                region.setHostHeadroom(hostTier.headroom());
                region.setHostSpill(PlacementPolicy.mayUseDevices(group));
                array = factory.create(heap, region, bytes, nextId.incrementAndGet());
            } catch (RuntimeException | Error e) {
                region.destroy();
                throw e;
            }
        } catch (RuntimeException | Error e) {
            if (admitted)
                synchronized (lock) {
                    hostTier.cancelAdmission(charged);
                }
            if (group != null)
                group.uncharge(charged);
            throw e;
        }
        array.group = group;
        return lifecycle.publish(array, charged);
    }

    /** The bytes of {@code length} elements, refused when not positive or over {@link ManagedHeap#MAX_ARRAY_BYTES}. */
    static long checkedByteSize(String what, long length, int elementSize) {
        if (length <= 0)
            throw new IllegalArgumentException(what + " length must be > 0: " + length);
        if (length > ManagedHeap.MAX_ARRAY_BYTES / elementSize)
            throw new IllegalArgumentException(what + " of " + length + " elements of " + elementSize
                    + " bytes exceeds the maximum of " + ManagedHeap.MAX_ARRAY_BYTES + " bytes");
        return length * elementSize;
    }
}
