package io.hmm4j;

import io.hmm4j.internal.engine.NativeErrors;
import io.hmm4j.internal.engine.Region;
import io.hmm4j.internal.ffm.hmm4j_h;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * Arrays whose host memory is not the heap's own: a file's pages ({@link ManagedHeap#map}) or a shared memory object
 * other processes open too ({@link ManagedHeap#share}). Their regions are made here, and what they need beyond an
 * anonymous array lives here too: the file's writeback (force, also before the array is freed) and a shared array's
 * device-only blocks coming home before its device memory is freed, so that other processes see them. The heap
 * publishes the arrays made here as it does its own; their pages are never admitted against its host budget nor
 * reclaimed (they are the file's, or other processes' too).
 */
final class MappedArrays {

    private static final Pattern SHARED_NAME = Pattern.compile("[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}");

    private final ManagedHeap heap;
    private final HeapLock lock;
    private final LaunchTracker tracker;
    private final long blockSize;
    private final long prefetchBlocks;
    private final MemorySegment stats;
    private final AtomicLong nextId;

    MappedArrays(ManagedHeap heap, HeapLock lock, LaunchTracker tracker, long blockSize, long prefetchBlocks,
            MemorySegment stats, AtomicLong nextId) {
        this.heap = heap;
        this.lock = lock;
        this.tracker = tracker;
        this.blockSize = blockSize;
        this.prefetchBlocks = prefetchBlocks;
        this.stats = stats;
        this.nextId = nextId;
    }

    /** {@link ManagedHeap#map}: the array over the file's pages, checked and not yet published. */
    <T extends ManagedArray> T map(Path file, long offset, long length, int elementSize,
            FileChannel.MapMode mode, Allocator.ArrayFactory<T> factory) throws IOException {
        Objects.requireNonNull(file, "file");
        Objects.requireNonNull(mode, "mode");
        lock.ensureOpen();
        if (mode != FileChannel.MapMode.READ_ONLY && mode != FileChannel.MapMode.READ_WRITE)
            throw new IllegalArgumentException("map mode " + mode + " is not supported: READ_ONLY or READ_WRITE");
        if (offset < 0)
            throw new IllegalArgumentException("offset must be >= 0: " + offset);
        if (length <= 0)
            throw new IllegalArgumentException("length must be > 0: " + length);
        if (length > ManagedHeap.MAX_ARRAY_BYTES / elementSize)
            throw new IllegalArgumentException("mapping of " + length + " elements of " + elementSize
                    + " bytes exceeds the maximum of " + ManagedHeap.MAX_ARRAY_BYTES + " bytes");
        long bytes = length * elementSize;
        Region region = Region.mapFile(file, offset, bytes, blockSize, mode == FileChannel.MapMode.READ_WRITE, stats);
        return arrayOver(region, bytes, factory, false);
    }

    static String checkSharedName(String name) {
        Objects.requireNonNull(name, "name");
        if (!SHARED_NAME.matcher(name).matches())
            throw new IllegalArgumentException("shared array name must be 1-200 characters of [A-Za-z0-9._-] and not"
                    + " start with a dot: \"" + name + "\"");
        return name;
    }

    /** {@link ManagedHeap#share}: a new shared array, not yet published. */
    <T extends ManagedArray> T share(String name, long length, int elementSize, Allocator.ArrayFactory<T> factory)
            throws IOException {
        checkSharedName(name);
        lock.ensureOpen();
        long bytes = Allocator.checkedByteSize("shared array", length, elementSize);
        Region region = Region.shared(name, bytes, elementSize, blockSize, true, stats);
        return arrayOver(region, bytes, factory, true);
    }

    /** {@link ManagedHeap#openShared}: another process's shared array, checked and not yet published. */
    <T extends ManagedArray> T openShared(String name, int elementSize, Allocator.ArrayFactory<T> factory)
            throws IOException {
        checkSharedName(name);
        lock.ensureOpen();
        Region region = Region.shared(name, 0, 0, 0, false, stats);
        long bytes;
        try {
            long created = region.sharedInfo(hmm4j_h.HMM4J_SHARED_ELEMENT_SIZE);
            if (created != elementSize)
                throw new IllegalArgumentException("shared array " + name + " holds elements of " + created
                        + " bytes, not " + elementSize + (created == Float.BYTES ? " (open it with openSharedFloats)"
                        : created == 1 ? " (open it with openShared)" : ""));
            // Ranges, residency and budgets are counted in this heap's blocks: the array's must be the same.
            if (region.blockSize() != blockSize)
                throw new IllegalArgumentException("shared array " + name + " was created with blocks of "
                        + region.blockSize() + " bytes; this heap's are " + blockSize
                        + " (ManagedHeap.builder().blockSize(bytes) must match the creator's)");
            bytes = region.sharedInfo(hmm4j_h.HMM4J_SHARED_BYTES);
        } catch (RuntimeException | Error e) {
            region.destroy();
            throw e;
        }
        return arrayOver(region, bytes, factory, false);
    }

    /** The array over a region made here; the region is destroyed (and a shared one it {@code created} unlinked) on failure. */
    private <T extends ManagedArray> T arrayOver(Region region, long bytes, Allocator.ArrayFactory<T> factory,
            boolean created) throws IOException {
        T array;
        try {
            region.setPrefetch(prefetchBlocks);
            array = factory.create(heap, region, bytes, nextId.incrementAndGet());
        } catch (RuntimeException | Error e) {
            region.destroy();
            if (created)
                Region.unlinkShared(region.sharedName());
            throw e;
        }
        return array;
    }

    /** {@link ManagedArray#lostBlocks()} and friends: one {@code HMM4J_SHARED_*} value, never after the free. */
    long sharedInfo(ManagedArray array, int what) {
        heap.checkOwned(array);
        synchronized (lock) {
            array.ensureAlive();
            if (array.destroyed)
                throw new IllegalStateException(array + " is closed");
            return array.region.sharedName() == null ? 0 : array.region.sharedInfo(what);
        }
    }

    /**
     * Before a shared array's device memory is freed its device-only blocks come home, so that other processes see
     * them; one that cannot is counted lost for everyone ({@link ManagedArray#lostBlocks()}) when the array detaches.
     */
    void bringSharedHome(ManagedArray array) {
        int rc = array.region.unbind(MigrationCause.EVICTION.code());
        if (rc < 0) {
            // The device memory is freed next and may be reused: no peer may be served from it after this.
            array.region.abandonSharedDeviceCopies();
            System.getLogger("io.hmm4j").log(System.Logger.Level.ERROR, "closing shared array " + array.region.sharedName()
                    + " could not copy its device-only blocks home; other processes see their last host copy and"
                    + " count them in lostBlocks(): " + NativeErrors.describe(rc));
        }
    }

    /** {@link ManagedArray#force()}: waits for launches that use the array, then writes it back. */
    void force(ManagedArray array) {
        heap.checkOwned(array);
        try {
            synchronized (lock) {
                tracker.awaitIdle(List.of(array));
                // Under the lock, the writeback included: neither a launch nor a close can change the region meanwhile.
                forceLocked(array);
            }
        } finally {
            HeapLock.restoreInterrupt();
        }
    }

    /** Writes back a file-backed array with the lock held; throws what {@link ManagedArray#force()} documents. */
    private void forceLocked(ManagedArray array) {
        int rc = array.region.force(MigrationCause.EVICTION.code());
        if (rc >= 0)
            return;
        String call = "hmm4j_region_force(array " + array.id + ")";
        ManagedHeap.DeviceState ds = array.bindings.isEmpty() ? null : array.bindings.keySet().iterator().next();
        if (ds != null && (rc == -5 || rc == -19 || rc == -12 || rc == -hmm4j_h.HMM4J_ENOHOSTMEM))
            NativeErrors.checkDevice(call, rc, ds.device.id(), ds.engine.lastError());
        if (rc == -hmm4j_h.HMM4J_EMAPLIMIT)
            NativeErrors.check(call, rc);
        throw new UncheckedIOException(new IOException(call + " failed: " + NativeErrors.describe(rc)));
    }

    /** Closing forces; a close cannot be refused for it, so a failure is logged and the file keeps the last force. */
    void forceBeforeDestroy(ManagedArray array) {
        try {
            forceLocked(array);
        } catch (RuntimeException | OutOfMemoryError e) {
            System.getLogger("io.hmm4j").log(System.Logger.Level.ERROR, "closing " + array + " could not write it to"
                    + " its file; the file holds what the last force wrote, and host writes since", e);
        }
    }
}
