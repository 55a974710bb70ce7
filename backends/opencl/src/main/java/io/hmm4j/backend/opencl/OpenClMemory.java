package io.hmm4j.backend.opencl;

import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.spi.DeviceMemoryResource;
import io.hmm4j.spi.NativeCopyEngine;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import org.jocl.CL;
import org.jocl.cl_context;
import org.jocl.cl_mem;

/**
 * Raw device memory of a migrating OpenCL device: every allocation is one cl_mem registered in a slot of the
 * engine's copy table; its device address is {@code slot << 48}, and addresses inside it add a byte offset (the
 * runtime's pool sub-allocates). Slot 0 is never used, so no address is 0.
 */
final class OpenClMemory implements DeviceMemoryResource {

    static final int OFFSET_BITS = 48;
    private static final int SLOTS = 4096;

    private final String deviceId;
    private final cl_context context;
    private final NativeCopyEngine engine;
    private final long maxAllocation;
    private final long alignment;
    private final cl_mem[] buffers = new cl_mem[SLOTS];
    private final long[] sizes = new long[SLOTS];
    private final Deque<Integer> freeSlots = new ArrayDeque<>();
    private record Range(long address, long bytes) {}

    private final Map<Range, cl_mem> subBuffers = new HashMap<>();

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
        buffers[slot] = null;
        sizes[slot] = 0;
        freeSlots.push(slot);
    }

    private static long offsetMask() {
        return (1L << OFFSET_BITS) - 1;
    }

    /** The cl_mem a kernel uses for {@code [address, address + bytes)}: the buffer itself or a cached sub-buffer. */
    synchronized cl_mem bufferFor(long address, long bytes) {
        int slot = (int) (address >>> OFFSET_BITS);
        long offset = address & offsetMask();
        if (slot <= 0 || slot >= SLOTS || buffers[slot] == null || offset + bytes > sizes[slot])
            throw new IllegalArgumentException("0x" + Long.toHexString(address) + " (+" + bytes + ") is not device memory of " + deviceId);
        if (offset == 0 && bytes == sizes[slot])
            return buffers[slot];
        Range key = new Range(address, bytes);
        cl_mem cached = subBuffers.get(key);
        if (cached != null)
            return cached;
        int[] status = new int[1];
        cl_mem sub = CL.clCreateSubBuffer(buffers[slot], CL.CL_MEM_READ_WRITE, CL.CL_BUFFER_CREATE_TYPE_REGION,
                new org.jocl.cl_buffer_region(offset, bytes), status);
        OpenCl.check("clCreateSubBuffer(offset " + offset + ", " + bytes + " bytes)", status[0], deviceId);
        subBuffers.put(key, sub);
        return sub;
    }

    @Override
    public long maxAllocationBytes() {
        return maxAllocation;
    }

    @Override
    public long alignment() {
        return alignment;
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
