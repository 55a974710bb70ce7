package io.hmm4j.backend.opencl;

import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.spi.DeviceMemoryResource;
import io.hmm4j.spi.NativeCopyEngine;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.jocl.CL;
import org.jocl.cl_context;
import org.jocl.cl_mem;

/**
 * Raw device memory of a migrating OpenCL device: every allocation is one cl_mem registered in a slot of the
 * engine's copy table; its device address is {@code slot << 48}, and addresses inside it add a byte offset (the
 * runtime's pool sub-allocates). Slot 0 is never used, so no address is 0.
 *
 * <p>A kernel gets an array as a sub-buffer of its chunk over exactly the array's range (clCreateSubBuffer; the
 * runtime aligns arrays to {@link #alignment()}, CL_DEVICE_MEM_BASE_ADDR_ALIGN), so user kernels see their array
 * at index 0 and need no extra offset argument. Sub-buffers are cached per range, least recently used released
 * beyond {@link #SUB_BUFFER_CACHE}, and all of a chunk's are released when the chunk is.
 */
final class OpenClMemory implements DeviceMemoryResource {

    static final int OFFSET_BITS = 48;
    private static final int SLOTS = 4096;
    /** Most sub-buffers kept; the least recently used one is released beyond it. */
    static final int SUB_BUFFER_CACHE = 1024;

    private final String deviceId;
    private final cl_context context;
    private final NativeCopyEngine engine;
    private final long maxAllocation;
    private final long alignment;
    private final cl_mem[] buffers = new cl_mem[SLOTS];
    private final long[] sizes = new long[SLOTS];
    private final Deque<Integer> freeSlots = new ArrayDeque<>();
    private record Range(long address, long bytes) {}

    /**
     * Buffers of this device released so far (sub-buffers, chunks, host-pointer buffers): a kernel argument set
     * before a release may name a buffer that is gone, whose handle a new buffer can get (see OpenClDevice's
     * ArgumentsSet).
     */
    private final AtomicLong releases = new AtomicLong();

    /** Sub-buffers by range, least recently used first, at most {@link #SUB_BUFFER_CACHE}. */
    private final Map<Range, cl_mem> subBuffers = new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Range, cl_mem> eldest) {
            if (size() <= SUB_BUFFER_CACHE)
                return false;
            // A launch still setting it up holds its own reference (bufferFor retains), an enqueued one too.
            CL.clReleaseMemObject(eldest.getValue());
            releases.incrementAndGet();
            return true;
        }
    };

    OpenClMemory(String deviceId, cl_context context, NativeCopyEngine engine, long maxAllocation, long alignment) {
        this.deviceId = deviceId;
        this.context = context;
        this.engine = engine;
        this.maxAllocation = maxAllocation;
        this.alignment = alignment;
        for (int slot = 1; slot < SLOTS; slot++)
            freeSlots.add(slot);
    }

    @Override
    public synchronized long allocate(long bytes) {
        if (bytes <= 0)
            throw new IllegalArgumentException("allocation size must be > 0: " + bytes);
        if (bytes > maxAllocation)
            throw new DeviceOutOfMemoryException(bytes + " bytes exceed CL_DEVICE_MAX_MEM_ALLOC_SIZE of " + deviceId
                    + " (" + maxAllocation + ")", deviceId);
        Integer slot = freeSlots.poll();
        if (slot == null)
            throw new DeviceOutOfMemoryException("all " + (SLOTS - 1) + " buffer slots of " + deviceId + " are in use", deviceId);
        int[] status = new int[1];
        cl_mem mem = CL.clCreateBuffer(context, CL.CL_MEM_READ_WRITE, bytes, null, status);
        if (status[0] != CL.CL_SUCCESS) {
            freeSlots.push(slot);
            OpenCl.check("clCreateBuffer(" + bytes + " bytes)", status[0], deviceId);
        }
        buffers[slot] = mem;
        sizes[slot] = bytes;
        engine.setOpenClBuffer(slot, OpenCl.nativePointer(mem));
        return (long) slot << OFFSET_BITS;
    }

    /**
     * A CL_MEM_USE_HOST_PTR buffer over {@code host} in a free slot (zero-copy placement): kernels use the host memory
     * itself (PoCL: no copy; a discrete device reads it over the bus). {@link #deallocate} releases it.
     *
     * @throws IllegalArgumentException for more than the 2 GiB JOCL can wrap as a host pointer
     * @throws DeviceOutOfMemoryException if every slot is in use
     */
    synchronized long mapHost(java.lang.foreign.MemorySegment host) {
        if (host.byteSize() > Integer.MAX_VALUE)
            throw new IllegalArgumentException(deviceId + ": zero-copy placement of " + host.byteSize()
                    + " bytes is above the 2 GiB JOCL can wrap as a host pointer");
        Integer slot = freeSlots.poll();
        if (slot == null)
            throw new DeviceOutOfMemoryException("all " + (SLOTS - 1) + " buffer slots of " + deviceId + " are in use", deviceId);
        int[] status = new int[1];
        cl_mem mem = CL.clCreateBuffer(context, CL.CL_MEM_READ_WRITE | CL.CL_MEM_USE_HOST_PTR, host.byteSize(),
                org.jocl.Pointer.to(host.asByteBuffer()), status);
        if (status[0] != CL.CL_SUCCESS) {
            freeSlots.push(slot);
            OpenCl.check("clCreateBuffer(CL_MEM_USE_HOST_PTR, " + host.byteSize() + " bytes)", status[0], deviceId);
        }
        buffers[slot] = mem;
        sizes[slot] = host.byteSize();
        return (long) slot << OFFSET_BITS;
    }

    /** Whether {@code address} names a slot's buffer rather than host memory (slot 0 is never used). */
    static boolean isSlotAddress(long address) {
        return address >>> OFFSET_BITS != 0;
    }

    @Override
    public synchronized void deallocate(long address, long bytes) {
        int slot = (int) (address >>> OFFSET_BITS);
        if (slot <= 0 || slot >= SLOTS || buffers[slot] == null || (address & offsetMask()) != 0)
            throw new IllegalArgumentException("0x" + Long.toHexString(address) + " is not an allocation of " + deviceId);
        subBuffers.entrySet().removeIf(e -> {
            if (e.getKey().address() >>> OFFSET_BITS == slot) {
                CL.clReleaseMemObject(e.getValue());
                return true;
            }
            return false;
        });
        engine.setOpenClBuffer(slot, 0);
        CL.clReleaseMemObject(buffers[slot]);
        releases.incrementAndGet();
        buffers[slot] = null;
        sizes[slot] = 0;
        freeSlots.push(slot);
    }

    private static long offsetMask() {
        return (1L << OFFSET_BITS) - 1;
    }

    /**
     * A buffer looked up for a kernel argument, and {@link #releases()} at that moment, read under the lock every
     * release of this memory counts under: a buffer released later counts after this, and its handle can come back
     * only then.
     */
    record Lookup(cl_mem mem, long releases) {}

    /**
     * The cl_mem a kernel uses for {@code [address, address + bytes)}: the buffer itself or a cached sub-buffer,
     * retained once for the caller, who releases it after the enqueue.
     */
    synchronized Lookup lookUp(long address, long bytes) {
        cl_mem mem = bufferFor(address, bytes);
        return new Lookup(mem, releases.get());
    }

    private cl_mem bufferFor(long address, long bytes) {
        int slot = (int) (address >>> OFFSET_BITS);
        long offset = address & offsetMask();
        // bytes > size - offset, not offset + bytes > size: the sum wraps for a huge size and would pass.
        if (slot <= 0 || slot >= SLOTS || buffers[slot] == null || bytes <= 0 || bytes > sizes[slot] - offset)
            throw new IllegalArgumentException("0x" + Long.toHexString(address) + " (+" + bytes + ") is not device memory of " + deviceId);
        if (offset == 0 && bytes == sizes[slot])
            return retain(buffers[slot]);
        Range key = new Range(address, bytes);
        cl_mem cached = subBuffers.get(key);
        if (cached != null)
            return retain(cached);
        int[] status = new int[1];
        cl_mem sub = CL.clCreateSubBuffer(buffers[slot], CL.CL_MEM_READ_WRITE, CL.CL_BUFFER_CREATE_TYPE_REGION,
                new org.jocl.cl_buffer_region(offset, bytes), status);
        OpenCl.check("clCreateSubBuffer(offset " + offset + ", " + bytes + " bytes)", status[0], deviceId);
        subBuffers.put(key, sub);
        return retain(sub);
    }

    private cl_mem retain(cl_mem mem) {
        OpenCl.check("clRetainMemObject", CL.clRetainMemObject(mem), deviceId);
        return mem;
    }

    @Override
    public long maxAllocationBytes() {
        return maxAllocation;
    }

    @Override
    public long alignment() {
        return alignment;
    }

    long releases() {
        return releases.get();
    }

    /** A buffer of this device that a kernel may have had as an argument was released. */
    void countRelease() {
        releases.incrementAndGet();
    }

    synchronized int cachedSubBuffers() {
        return subBuffers.size();
    }

    synchronized void close() {
        subBuffers.values().forEach(CL::clReleaseMemObject);
        subBuffers.clear();
        for (int slot = 1; slot < SLOTS; slot++) {
            if (buffers[slot] != null) {
                CL.clReleaseMemObject(buffers[slot]);
                buffers[slot] = null;
            }
        }
    }
}
