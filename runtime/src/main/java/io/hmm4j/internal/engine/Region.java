package io.hmm4j.internal.engine;

import io.hmm4j.BlockState;
import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.ffm.hmm4j_migrate;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * A region of the fault engine: memfd- or file-backed memory mapped as a user view (protection flipped by the engine)
 * and an engine view. Every method is one downcall; no Java lock is held across them by this class.
 */
public final class Region {

    /** Outcome of one migration. */
    public record Moved(long blocks, long bytes, boolean failed) {}

    private final MemorySegment handle;
    private final MemorySegment userView;
    private final long size;
    private final long blockSize;
    private final long blockCount;
    private final boolean fileBacked;
    private final boolean readOnly;
    private final String sharedName;
    /** Zero-copy placement; changes only while no launch uses the region (the heap's lock). */
    private volatile boolean zeroCopy;
    private volatile boolean userfaultfd;

    private Region(MemorySegment handle, boolean fileBacked, boolean readOnly) {
        this(handle, fileBacked, readOnly, null);
    }

    private Region(MemorySegment handle, boolean fileBacked, boolean readOnly, String sharedName) {
        this.handle = handle;
        this.fileBacked = fileBacked;
        this.readOnly = readOnly;
        this.sharedName = sharedName;
        this.size = hmm4j_h.hmm4j_region_size(handle);
        this.blockSize = hmm4j_h.hmm4j_region_block_size(handle);
        this.blockCount = hmm4j_h.hmm4j_region_block_count(handle);
        this.userView = hmm4j_h.hmm4j_region_user_base(handle);
    }

    /**
     * @param stats the heap's {@code struct hmm4j_stats}, alive as long as the region
     * @throws IllegalArgumentException for sizes or block sizes the engine refuses
     * @throws OutOfMemoryError when the memfd or mappings cannot be created
     */
    public static Region create(long size, long blockSize, MemorySegment stats) {
        Engine.ensureInitialized();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            long rc = hmm4j_h.hmm4j_region_create(size, blockSize, stats, out);
            if (rc == -22)
                throw new IllegalArgumentException("hmm4j_region_create failed: size " + size + ", block size "
                        + blockSize + ": " + NativeErrors.describe((int) rc));
            NativeErrors.check("hmm4j_region_create(" + size + " bytes)", rc);
            return new Region(out.get(ValueLayout.ADDRESS, 0), false, false);
        }
    }

    /**
     * A region whose host copy is bytes {@code [offset, offset + length)} of {@code file} (see
     * {@code hmm4j_region_create_file}): a writable one grows a shorter file, a read-only one never writes it.
     *
     * @param stats the heap's {@code struct hmm4j_stats}, alive as long as the region
     * @throws IllegalArgumentException if {@code offset} is not a multiple of the page size, or for sizes the
     *     engine refuses
     * @throws java.nio.file.NoSuchFileException if the file does not exist
     * @throws java.nio.file.AccessDeniedException if it cannot be opened in the mode asked for
     * @throws IOException if it is no regular file, a read-only range lies beyond its end, or it cannot be mapped
     * @throws OutOfMemoryError when the mappings cannot be created
     */
    public static Region mapFile(Path file, long offset, long length, long blockSize, boolean writable,
                                 MemorySegment stats) throws IOException {
        Engine.ensureInitialized();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            String path = file.toAbsolutePath().toString();
            int rc = hmm4j_h.hmm4j_region_create_file(arena.allocateFrom(path), offset, length, blockSize,
                    writable ? 1 : 0, stats, out);
            String call = "hmm4j_region_create_file(" + path + ", offset " + offset + ", " + length + " bytes)";
            switch (-rc) {
                case 0 -> {
                    return new Region(out.get(ValueLayout.ADDRESS, 0), true, !writable);
                }
                case 2 -> throw new NoSuchFileException(path);
                case 1, 13 -> throw new AccessDeniedException(path, null, call + " failed: " + NativeErrors.describe(rc));
                case 6 -> throw new IOException(call + " failed: the range lies beyond the end of the file ("
                        + Files.size(file) + " bytes) and a read-only mapping does not grow it");
                case 19 -> throw new IOException(call + " failed: not a regular file that can be mapped");
                case 22 -> throw new IllegalArgumentException(call + " failed: " + NativeErrors.describe(rc)
                        + " (the offset must be a multiple of the page size, " + hmm4j_h.hmm4j_engine_page_size()
                        + " bytes)");
                case 12, hmm4j_h.HMM4J_EMAPLIMIT -> throw new OutOfMemoryError(call + " failed: " + NativeErrors.describe(rc));
                default -> throw new IOException(call + " failed: " + NativeErrors.describe(rc));
            }
        }
    }

    /**
     * Creates ({@code create}) or opens the region shared between processes under {@code name}
     * ({@code hmm4j_region_create_shared}). The name must already be valid; sizes are checked by the caller.
     *
     * @param stats the heap's {@code struct hmm4j_stats}, alive as long as the region
     * @throws java.nio.file.FileAlreadyExistsException if creating a name that exists
     * @throws java.nio.file.NoSuchFileException if opening a name that does not exist
     * @throws java.nio.file.AccessDeniedException if the object cannot be opened read-write
     * @throws IOException if the object is not an hmm4j shared array, all its attachment slots are taken, or it
     *     cannot be mapped
     * @throws IllegalArgumentException for sizes the engine refuses
     */
    public static Region shared(String name, long size, int elementSize, long blockSize, boolean create,
                                MemorySegment stats) throws IOException {
        Engine.ensureInitialized();
        SharedTimeout.APPLIED.hashCode();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            int rc = hmm4j_h.hmm4j_region_create_shared(arena.allocateFrom(name), size, elementSize, blockSize,
                    create ? 1 : 0, stats, out);
            String object = "/dev/shm/hmm4j-" + name;
            String call = "hmm4j_region_create_shared(" + name + (create ? ", " + size + " bytes" : "") + ")";
            switch (-rc) {
                case 0 -> {
                    return new Region(out.get(ValueLayout.ADDRESS, 0), false, false, name);
                }
                case 2 -> throw new java.nio.file.NoSuchFileException(object, null, "no shared array named " + name);
                case 17 -> throw new java.nio.file.FileAlreadyExistsException(object, null,
                        "a shared array named " + name + " exists");
                case 1, 13 -> throw new AccessDeniedException(object, null, call + " failed: " + NativeErrors.describe(rc));
                case 22 -> throw new IllegalArgumentException(call + " failed: " + NativeErrors.describe(rc));
                case 71 -> throw new IOException(call + " failed: " + object + " is not an hmm4j shared array of this"
                        + " version (or its creator did not finish creating it)");
                case 87 -> throw new IOException(call + " failed: all attachment slots of " + name + " are taken ("
                        + "16 attachments at most)");
                case 12, hmm4j_h.HMM4J_EMAPLIMIT -> throw new OutOfMemoryError(call + " failed: " + NativeErrors.describe(rc));
                default -> throw new IOException(call + " failed: " + NativeErrors.describe(rc));
            }
        }
    }

    /**
     * {@code -Dhmm4j.shared.timeoutMillis}: how long a wait for a live peer process may take before it fails (the
     * engine's default is 10 s), applied once, before the first shared region.
     */
    private static final class SharedTimeout {
        static final Boolean APPLIED = apply();

        private static Boolean apply() {
            String value = System.getProperty("hmm4j.shared.timeoutMillis");
            if (value == null)
                return false;
            int millis;
            try {
                millis = Integer.parseInt(value.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("hmm4j.shared.timeoutMillis must be a number of milliseconds: " + value, e);
            }
            if (millis <= 0)
                throw new IllegalArgumentException("hmm4j.shared.timeoutMillis must be > 0: " + value);
            hmm4j_h.hmm4j_shared_set_timeout(millis);
            return true;
        }
    }

    /** Removes a shared array's name; returns false if there was none ({@code hmm4j_shared_unlink}). */
    public static boolean unlinkShared(String name) throws IOException {
        Engine.ensureInitialized();
        try (Arena arena = Arena.ofConfined()) {
            int rc = hmm4j_h.hmm4j_shared_unlink(arena.allocateFrom(name));
            if (rc == -2)
                return false;
            if (rc < 0)
                throw new IOException("hmm4j_shared_unlink(" + name + ") failed: " + NativeErrors.describe(rc));
            return true;
        }
    }

    /** The name this region is shared under between processes, or null. */
    public String sharedName() {
        return sharedName;
    }

    /** One of {@code HMM4J_SHARED_*} of a shared region ({@code hmm4j_region_shared_info}). */
    public long sharedInfo(int what) {
        return NativeErrors.check("hmm4j_region_shared_info", hmm4j_h.hmm4j_region_shared_info(handle, what));
    }

    /**
     * A shared region whose device-only blocks could not come home gives them up before its device memory is freed:
     * peers see their last host copy and count them lost, and nothing is served from that memory any more.
     */
    public void abandonSharedDeviceCopies() {
        NativeErrors.check("hmm4j_region_shared_abandon", hmm4j_h.hmm4j_region_shared_abandon(handle));
    }

    /**
     * Serves this fresh region's faults with userfaultfd ({@code hmm4j_region_use_uffd}; {@link UserFaultFd} must
     * be on). Where the kernel refuses the range the region keeps mprotect, and the reason is logged.
     */
    public void useUserfaultfd() {
        int rc = hmm4j_h.hmm4j_region_use_uffd(handle);
        userfaultfd = rc == 0;
        if (rc != 0)
            System.getLogger("io.hmm4j").log(System.Logger.Level.WARNING, "hmm4j: a region of " + size
                    + " bytes keeps mprotect: hmm4j_region_use_uffd failed: " + NativeErrors.describe(rc));
    }

    /** Whether userfaultfd serves this region's faults ({@link #useUserfaultfd} succeeded). */
    public boolean isServedByUserfaultfd() {
        return userfaultfd;
    }

    /** Whether the host copy is a file's pages ({@link #mapFile}). */
    public boolean isFileBacked() {
        return fileBacked;
    }

    /** Whether the user view can never be written ({@link #mapFile} of a read-only file). */
    public boolean isReadOnly() {
        return readOnly;
    }

    /**
     * Brings device-only blocks home and writes the file's pages back; returns 0 or the negative errno
     * ({@code hmm4j_region_force}). The caller waits for launches that write this region first.
     */
    public int force(int cause) {
        return hmm4j_h.hmm4j_region_force(handle, cause);
    }

    /** The user view's base address as a zero-length segment (the caller reinterprets it with its arena). */
    public MemorySegment userView() {
        return userView;
    }

    public long size() {
        return size;
    }

    public long blockSize() {
        return blockSize;
    }

    public long blockCount() {
        return blockCount;
    }

    /**
     * Adds a binding on {@code device} beside the region's others; returns its slot, what
     * {@link #migrate(long, long, int, int, int, int, long[], MemorySegment)} names as the target.
     *
     * @throws IllegalStateException if bound to that device already or every slot is taken
     */
    public int bind(MemorySegment device, long deviceBase) {
        return (int) NativeErrors.check("hmm4j_region_bind", hmm4j_h.hmm4j_region_bind(handle, device, deviceBase));
    }

    /** Copies DEVICE blocks home and detaches from every device; returns the negative errno on a copy failure (still bound). */
    public int unbind(int cause) {
        return hmm4j_h.hmm4j_region_unbind(handle, cause);
    }

    /**
     * Detaches from {@code device} only: blocks whose only valid copy is there come home first. Returns the negative
     * errno on a copy failure (still bound).
     */
    public int unbind(MemorySegment device, int cause) {
        return hmm4j_h.hmm4j_region_unbind_device(handle, device, cause);
    }

    public boolean isBound() {
        return hmm4j_h.hmm4j_region_device_base(handle) != -1L;
    }

    /**
     * One three-phase migration. Returns what moved; a copy failure is reported in the result (the engine left
     * the failed blocks where they were) together with the negative errno via {@code failed}. {@code outcome},
     * when not null, receives one HMM4J_MIGRATE_* byte per block of the range.
     */
    /**
     * The request struct, one per thread and reused: a launch migrates each of its arrays, and a confined arena
     * per call was a measurable part of a launch. The engine reads it only during the call.
     */
    private static final ThreadLocal<MemorySegment> MIGRATE_REQUEST =
            ThreadLocal.withInitial(() -> hmm4j_migrate.allocate(Arena.ofAuto()));

    public int migrate(long firstBlock, long blocks, int direction, int intent, int cause, long[] movedOut) {
        return migrate(firstBlock, blocks, direction, intent, cause, movedOut, null);
    }

    /** {@link #migrate(long, long, int, int, int, long[])} that also reports each block's outcome. */
    public int migrate(long firstBlock, long blocks, int direction, int intent, int cause, long[] movedOut,
                       MemorySegment outcome) {
        return migrate(firstBlock, blocks, direction, intent, 0, cause, movedOut, outcome);
    }

    /** A migration whose move to the device targets binding {@code binding} (the slot {@link #bind} returned). */
    public int migrate(long firstBlock, long blocks, int direction, int intent, int binding, int cause,
                       long[] movedOut, MemorySegment outcome) {
        // Zeroed as a fresh allocation was: the out fields of a call that fails early must not be the last call's.
        MemorySegment request = MIGRATE_REQUEST.get().fill((byte) 0);
        hmm4j_migrate.region(request, handle);
        hmm4j_migrate.first_block(request, firstBlock);
        hmm4j_migrate.nblocks(request, blocks);
        hmm4j_migrate.direction(request, direction);
        hmm4j_migrate.intent(request, intent);
        hmm4j_migrate.cause(request, cause);
        hmm4j_migrate.binding(request, binding);
        hmm4j_migrate.state(request, outcome == null ? MemorySegment.NULL : outcome);
        int rc = hmm4j_h.hmm4j_migrate(request);
        if (movedOut != null) {
            movedOut[0] = hmm4j_migrate.moved_blocks(request);
            movedOut[1] = hmm4j_migrate.moved_bytes(request);
        }
        return rc;
    }

    /** The most blocks a snapshot holds: the JDK's largest safe array length. */
    static final long MAX_SNAPSHOT_BLOCKS = Integer.MAX_VALUE - 8;

    /**
     * One state per block.
     *
     * @throws IllegalStateException if the region has more blocks than an array holds (as
     *         {@link MemorySegment#toArray} does for a segment too large for an array)
     */
    public BlockState[] snapshot() {
        checkSnapshotFits();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment states = arena.allocate(blockCount);
            long n = NativeErrors.check("hmm4j_region_snapshot", hmm4j_h.hmm4j_region_snapshot(handle, states, blockCount));
            BlockState[] result = new BlockState[(int) n];
            for (int i = 0; i < n; i++)
                result[i] = BlockState.ofCode(states.get(ValueLayout.JAVA_BYTE, i));
            return result;
        }
    }

    private void checkSnapshotFits() {
        if (blockCount > MAX_SNAPSHOT_BLOCKS)
            throw new IllegalStateException("a snapshot of " + blockCount + " blocks does not fit in an array (at most "
                    + MAX_SNAPSHOT_BLOCKS + "); use larger blocks");
    }

    /** Per block, bit i set when binding slot i holds a valid copy; same size limit as {@link #snapshot()}. */
    public byte[] snapshotValid() {
        checkSnapshotFits();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment masks = arena.allocate(blockCount);
            long n = NativeErrors.check("hmm4j_region_snapshot_valid",
                    hmm4j_h.hmm4j_region_snapshot_valid(handle, masks, blockCount));
            return masks.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** Gives back the host pages of DEVICE blocks that a migration kept ({@code HMM4J_INTENT_KEEP_HOST}). */
    public long reclaim() {
        return NativeErrors.check("hmm4j_region_reclaim", hmm4j_h.hmm4j_region_reclaim(handle));
    }

    /** Host RAM the region holds now: HOST and SHARED blocks and the kept pages of DEVICE blocks. */
    public long hostBytes() {
        return NativeErrors.check("hmm4j_region_host_bytes", hmm4j_h.hmm4j_region_host_bytes(handle));
    }

    /**
     * Gives back the host pages of up to {@code maxBlocks} blocks whose bytes are valid on the device (kept pages of
     * DEVICE blocks; SHARED blocks become DEVICE). Nothing while a launch uses the region. Returns the blocks
     * released, or the engine's negative error when a protection change failed before any was (the mapping limit):
     * reclaim is an optimisation, and a failure leaves every block as it was, so callers move on instead of throwing.
     */
    public long reclaimHost(long maxBlocks) {
        return hmm4j_h.hmm4j_region_reclaim_host(handle, maxBlocks);
    }

    public void launchBegin() {
        hmm4j_h.hmm4j_region_launch_begin(handle);
    }

    /**
     * {@link #launchBegin()} for a launch on {@code device} (a copy table's handle, or NULL) that reads and maybe
     * writes this region; on a zero-copy region the user view is protected until the launch ends (a host access
     * waits for it).
     *
     * @throws OutOfMemoryError if the protection cannot change (the mapping limit); nothing began then
     */
    public void launchBegin(MemorySegment device, boolean writes) {
        if (!zeroCopy) {
            launchBegin();
            return;
        }
        int rc = hmm4j_h.hmm4j_region_zero_copy_begin(handle, device, writes ? 1 : 0);
        if (rc == -hmm4j_h.HMM4J_EMAPLIMIT || rc == -12)
            throw new OutOfMemoryError("hmm4j_region_zero_copy_begin failed: " + NativeErrors.describe(rc));
        NativeErrors.check("hmm4j_region_zero_copy_begin", rc);
    }

    /**
     * Zero-copy placement ({@code hmm4j_region_set_zero_copy}): the devices address the engine view, nothing
     * migrates. Entering needs the region unbound with every block HOST; leaving needs no launch in flight.
     *
     * @throws IllegalStateException if the region is bound, not all HOST, or (leaving) in a launch
     * @throws IllegalArgumentException for a region shared between processes, served by userfaultfd, or a
     *     read-only file
     */
    public void setZeroCopy(boolean on) {
        int rc = hmm4j_h.hmm4j_region_set_zero_copy(handle, on ? 1 : 0);
        switch (-rc) {
            case 0 -> zeroCopy = on;
            case 16 -> throw new IllegalStateException("hmm4j_region_set_zero_copy(" + on + "): the region is "
                    + (on ? "bound to a device or has blocks off the host" : "in a launch"));
            case 95 -> throw new IllegalArgumentException("zero-copy placement is not available for an array shared"
                    + " between processes or served by userfaultfd");
            case 13 -> throw new IllegalArgumentException("zero-copy placement needs writable host memory: the array"
                    + " maps a file READ_ONLY");
            default -> NativeErrors.check("hmm4j_region_set_zero_copy", rc);
        }
    }

    /** Whether the region is in zero-copy placement (see {@link #setZeroCopy}). */
    public boolean isZeroCopy() {
        return zeroCopy;
    }

    /** The engine's always-writable view of the region's memory (what zero-copy devices address). */
    public MemorySegment engineView() {
        return hmm4j_h.hmm4j_region_engine_base(handle).reinterpret(size);
    }

    /** A launch begun here failed before its kernel was enqueued (it never calls {@link #launchEnqueued}). */
    public void launchAbandoned() {
        hmm4j_h.hmm4j_region_launch_abandoned(handle);
    }

    public void launchEnd() {
        if (zeroCopy)
            hmm4j_h.hmm4j_region_zero_copy_end(handle);
        else
            hmm4j_h.hmm4j_region_launch_end(handle);
    }

    /**
     * Waits for this region's copies to the device still in flight. Returns 0, or the negative errno of one to
     * {@code device} that failed since the last call for it: its blocks are no longer valid there, and a kernel on
     * that device that read them read bytes that are not known. Failures of copies to other devices are theirs.
     */
    public int settleUploads(MemorySegment device) {
        return hmm4j_h.hmm4j_region_settle_uploads(handle, device);
    }

    /**
     * A launch that writes this region has its kernel enqueued: blocks a host read copied home since the
     * hand-over (bytes from before the kernel) are DEVICE again. Returns 0, or the negative errno when a block's
     * protection could not change (the mapping limit): that block keeps the old bytes.
     */
    public int launchEnqueued() {
        return zeroCopy ? hmm4j_h.hmm4j_region_zero_copy_enqueued(handle) : hmm4j_h.hmm4j_region_launch_enqueued(handle);
    }

    /**
     * {@link #launchEnqueued()} for a launch that writes only blocks {@code [first, first + count)} (a range launch):
     * other blocks may be another launch's. A zero-copy region has no blocks of its own to retake: as the other.
     */
    public int launchEnqueued(long first, long count) {
        return zeroCopy ? hmm4j_h.hmm4j_region_zero_copy_enqueued(handle)
                : hmm4j_h.hmm4j_region_launch_enqueued_blocks(handle, first, count);
    }

    /**
     * The launch of {@code fence} writes this region (call between {@link #launchBegin} and {@link #launchEnd}):
     * a host fault waits for that fence instead of the whole device. Returns false when the region's table is
     * full; faults then keep draining the device, which is complete, only coarser.
     */
    public boolean attach(Fence fence) {
        int rc = hmm4j_h.hmm4j_region_fence_attach(handle, fence.handle());
        if (rc == -28)
            return false;
        NativeErrors.check("hmm4j_region_fence_attach", rc);
        return true;
    }

    /** Undoes {@link #attach}, before {@link #launchEnd}; a fence that is not attached is ignored. */
    public void detach(Fence fence) {
        hmm4j_h.hmm4j_region_fence_detach(handle, fence.handle());
    }

    /**
     * Shares the heap's host headroom (one {@code long} in native memory that outlives the region) with the engine,
     * which charges the pages it reserves for blocks coming home to it and reclaims the heap's clean pages first when
     * it would go below zero ({@code hmm4j_region_set_host_headroom}).
     */
    public void setHostHeadroom(MemorySegment headroom) {
        hmm4j_h.hmm4j_region_set_host_headroom(handle, headroom);
    }

    /** Whether the engine may write HOST blocks back to the device to keep the heap within its host budget. */
    public void setHostSpill(boolean allow) {
        hmm4j_h.hmm4j_region_set_host_spill(handle, allow ? 1 : 0);
    }

    /** Java's recency stamp for the engine's choice of what to spill (larger: used more recently). */
    public void touch(long stamp) {
        hmm4j_h.hmm4j_region_touch(handle, stamp);
    }

    public void setReleaseHost(boolean release) {
        hmm4j_h.hmm4j_region_set_release_host(handle, release ? 1 : 0);
    }

    public void setPrefetch(long maxBlocks) {
        hmm4j_h.hmm4j_region_set_prefetch(handle, maxBlocks);
    }

    /** Test hook: the next {@code count} protection changes after {@code skip} fail as at the mapping limit. */
    public void injectProtectFailure(int skip, int count) {
        hmm4j_h.hmm4j_region_inject_protect_failure(handle, skip, count);
    }

    /** Unmaps and frees. No thread may touch the user view any more (its arena is closed). */
    public void destroy() {
        hmm4j_h.hmm4j_region_destroy(handle);
    }
}
