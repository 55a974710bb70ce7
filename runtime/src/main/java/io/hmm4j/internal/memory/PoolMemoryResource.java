package io.hmm4j.internal.memory;

import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.spi.DeviceMemoryResource;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.LongSupplier;

/**
 * Sub-allocates device memory from large upstream chunks (a device allocation costs hundreds of microseconds,
 * a pool allocation about one). First fit with coalescing; grows by a chunk when nothing fits, backs off to a
 * smaller chunk when the device refuses a full one, and gives wholly free chunks back beyond the first (the
 * first too when the device cannot serve a request beside it). Requests larger than a chunk get a dedicated
 * upstream allocation.
 */
public final class PoolMemoryResource implements DeviceMemoryResource, AutoCloseable {

    private static final class Chunk {
        final long base;
        final long size;
        final TreeMap<Long, Long> free = new TreeMap<>(); // offset -> length
        long used;

        Chunk(long base, long size) {
            this.base = base;
            this.size = size;
            free.put(0L, size);
        }

        long take(long bytes) {
            for (Map.Entry<Long, Long> hole : free.entrySet()) {
                if (hole.getValue() >= bytes) {
                    long offset = hole.getKey();
                    long remaining = hole.getValue() - bytes;
                    free.remove(offset);
                    if (remaining > 0)
                        free.put(offset + bytes, remaining);
                    used += bytes;
                    return base + offset;
                }
            }
            return -1;
        }

        void give(long address, long bytes) {
            long offset = address - base;
            long length = bytes;
            Map.Entry<Long, Long> before = free.floorEntry(offset);
            if (before != null && before.getKey() + before.getValue() == offset) {
                offset = before.getKey();
                length += before.getValue();
                free.remove(before.getKey());
            }
            Long after = free.get(offset + length);
            if (after != null) {
                free.remove(offset + length);
                length += after;
            }
            free.put(offset, length);
            used -= bytes;
        }
    }

    private final DeviceMemoryResource upstream;
    private final long chunkSize;
    private final long alignment;
    private final TreeMap<Long, Chunk> chunks = new TreeMap<>();
    private final Map<Long, Long> dedicated = new TreeMap<>();

    /** @param chunkSize preferred upstream allocation; capped at the upstream's largest allocation */
    public PoolMemoryResource(DeviceMemoryResource upstream, long chunkSize) {
        this.upstream = upstream;
        this.alignment = Math.max(256, upstream.alignment());
        this.chunkSize = MemoryResources.alignUp(Math.min(chunkSize, upstream.maxAllocationBytes()), alignment);
    }

    @Override
    public synchronized long allocate(long bytes) {
        MemoryResources.checkSize(bytes);
        long size = MemoryResources.alignUp(bytes, alignment);
        if (size > chunkSize) {
            long address = beyondIdleChunks(() -> upstream.allocate(size));
            dedicated.put(address, size);
            return address;
        }
        for (Chunk chunk : chunks.values()) {
            long address = chunk.take(size);
            if (address >= 0)
                return address;
        }
        return beyondIdleChunks(() -> grow(size).take(size));
    }

    /** {@code upstreamAllocation}, once more after giving idle chunks back where the device refused it. */
    private long beyondIdleChunks(LongSupplier upstreamAllocation) {
        try {
            return upstreamAllocation.getAsLong();
        } catch (DeviceOutOfMemoryException full) {
            if (!releaseIdleChunks())
                throw full;
            return upstreamAllocation.getAsLong();
        }
    }

    /**
     * Gives every wholly free chunk back, the first one too: kept only to make the next allocation cheap, never at
     * the price of one the device could serve. Returns whether anything was given back.
     */
    private boolean releaseIdleChunks() {
        boolean released = false;
        for (var it = chunks.values().iterator(); it.hasNext();) {
            Chunk chunk = it.next();
            if (chunk.used == 0) {
                it.remove();
                upstream.deallocate(chunk.base, chunk.size);
                released = true;
            }
        }
        return released;
    }

    private Chunk grow(long atLeast) {
        long want = chunkSize;
        while (true) {
            try {
                Chunk chunk = new Chunk(upstream.allocate(want), want);
                chunks.put(chunk.base, chunk);
                return chunk;
            } catch (DeviceOutOfMemoryException e) {
                if (want <= atLeast)
                    throw e;
                want = Math.max(atLeast, MemoryResources.alignUp(want / 2, alignment));
            }
        }
    }

    @Override
    public synchronized void deallocate(long address, long bytes) {
        long size = MemoryResources.alignUp(bytes, alignment);
        Long dedicatedSize = dedicated.remove(address);
        if (dedicatedSize != null) {
            upstream.deallocate(address, dedicatedSize);
            return;
        }
        Map.Entry<Long, Chunk> entry = chunks.floorEntry(address);
        if (entry == null || address + size > entry.getKey() + entry.getValue().size)
            throw new IllegalArgumentException("address " + Long.toHexString(address) + " was not allocated by this pool");
        Chunk chunk = entry.getValue();
        chunk.give(address, size);
        if (chunk.used == 0 && chunks.size() > 1) {
            chunks.remove(chunk.base);
            upstream.deallocate(chunk.base, chunk.size);
        }
    }

    /** Bytes held from upstream (chunks and dedicated allocations). */
    public synchronized long reservedBytes() {
        return chunks.values().stream().mapToLong(c -> c.size).sum()
                + dedicated.values().stream().mapToLong(Long::longValue).sum();
    }

    @Override
    public long alignment() {
        return alignment;
    }

    @Override
    public long maxAllocationBytes() {
        return upstream.maxAllocationBytes();
    }

    /** Returns every chunk to upstream; outstanding allocations become invalid. */
    @Override
    public synchronized void close() {
        List<Chunk> all = new ArrayList<>(chunks.values());
        chunks.clear();
        for (Chunk chunk : all)
            upstream.deallocate(chunk.base, chunk.size);
        for (Map.Entry<Long, Long> e : dedicated.entrySet())
            upstream.deallocate(e.getKey(), e.getValue());
        dedicated.clear();
    }
}
