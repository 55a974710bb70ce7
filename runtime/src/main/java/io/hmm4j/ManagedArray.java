package io.hmm4j;

import io.hmm4j.internal.engine.Region;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A handle on managed memory: a fixed range of host virtual memory whose bytes the runtime moves between host
 * and device. {@link #segment()} is ordinary FFM memory; where the bytes really are is the runtime's business.
 * Closing the handle frees its host and device memory; any later access throws {@link IllegalStateException}
 * (the segment's scope is closed), never crashes.
 */
public abstract sealed class ManagedArray implements AutoCloseable
        permits ByteArray, IntArray, LongArray, FloatArray, DoubleArray {

    final ManagedHeap heap;
    final Region region;
    final Arena arena;
    final MemorySegment segment;
    final long id;
    MemoryGroup group; // set once, before the array is published
    private final AtomicBoolean closed = new AtomicBoolean();

    /** The array's memory on one device: where it is, and the engine's slot for it ({@code hmm4j_migrate.binding}). */
    record Binding(long address, long bytes, int slot) {}

    // Guarded by heap.lock: device placement and launch bookkeeping. Devices the array has memory on, in binding order;
    // each block is valid on some of them (the engine's masks, Residency).
    final java.util.Map<ManagedHeap.DeviceState, Binding> bindings = new java.util.LinkedHashMap<>(2);
    /** Host and device memory are freed (the arena, the region); set once, under the heap's lock. */
    boolean destroyed;
    /** Launches that use this array and have not completed; while any exist the array cannot be evicted or freed. */
    final java.util.List<Launch> inFlight = new java.util.ArrayList<>(2);

    ManagedArray(ManagedHeap heap, Region region, long byteSize, long id) {
        this.heap = heap;
        this.region = region;
        this.id = id;
        this.arena = Arena.ofShared();
        MemorySegment view = region.userView().reinterpret(byteSize, arena, null);
        // A write through a read-only mapping would fault on pages that can never become writable.
        this.segment = region.isReadOnly() ? view.asReadOnly() : view;
    }

    /** The bytes as FFM memory; valid until this array or its heap is closed. */
    public final MemorySegment segment() {
        return segment;
    }

    public final long byteSize() {
        return segment.byteSize();
    }

    /** The element layout of this typed view. */
    public abstract ValueLayout elementLayout();

    /** Number of elements. */
    public final long length() {
        return segment.byteSize() / elementLayout().byteSize();
    }

    public final ManagedHeap heap() {
        return heap;
    }

    /** Whether this array's host copy is a file's pages ({@link ManagedHeap#map}). */
    public final boolean isFileBacked() {
        return region.isFileBacked();
    }

    /**
     * Writes a file-backed array's data to its file, like {@link java.nio.MappedByteBuffer#force()}: blocks
     * whose only valid copy is on a device are copied home first (they stay valid there too), then the file's
     * dirty pages are written back and waited for. Waits for launches that use this array first; a READ_ONLY
     * mapping has nothing to write. After a crash (of this process or of the machine) the file
     * holds at least what the last force wrote; see {@link ManagedHeap#map} for what else it may hold.
     *
     * @throws UnsupportedOperationException if the array is not file-backed
     * @throws IllegalStateException if the array or its heap is closed
     * @throws DeviceException if a block cannot be copied home; nothing was written back then
     * @throws java.io.UncheckedIOException if the writeback fails
     */
    public final void force() {
        if (!isFileBacked())
            throw new UnsupportedOperationException(this + " is not file-backed: nothing to force");
        heap.force(this);
    }

    /** Whether this array is shared between processes ({@link ManagedHeap#share}, {@link ManagedHeap#openShared}). */
    public final boolean isShared() {
        return region.sharedName() != null;
    }

    /** The name a shared array was created under, or {@code null} for an array of this process alone. */
    public final String sharedName() {
        return region.sharedName();
    }

    /**
     * For a shared array: blocks whose newest bytes were lost because the process that held them on its device
     * died (killed, crashed) before they came home. Every process that has the array open sees the same count;
     * those blocks read as their last host copy (for a launch, the bytes from before its kernel), never as garbage.
     * 0 for an array of this process alone.
     *
     * @throws IllegalStateException if the array or its heap is closed
     */
    public final long lostBlocks() {
        return heap.sharedInfo(this, io.hmm4j.internal.ffm.hmm4j_h.HMM4J_SHARED_LOST_BLOCKS);
    }

    /** For a shared array: dead processes whose attachments were recovered so far (0 for other arrays). */
    public final long recoveredPeers() {
        return heap.sharedInfo(this, io.hmm4j.internal.ffm.hmm4j_h.HMM4J_SHARED_RECOVERED_PEERS);
    }

    public final boolean isAlive() {
        return !closed.get() && heap.isOpen();
    }

    /**
     * Frees the host and device memory. Idempotent. Waits for launches that use this array and for threads that
     * hold its memory (a blocking read into {@link #segment()}, a native call): other threads see the array closed
     * at once, and its memory is freed when the last of them is done.
     */
    @Override
    public final void close() {
        if (closed.compareAndSet(false, true)) {
            try {
                heap.release(this);
            } catch (IllegalStateException refused) {
                closed.set(false);
                throw refused;
            }
        }
    }

    final void ensureAlive() {
        if (closed.get())
            throw new IllegalStateException("managed array " + id + " is closed");
        heap.ensureOpen();
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[id=" + id + ", length=" + (closed.get() ? "closed" : length()) + "]";
    }
}
