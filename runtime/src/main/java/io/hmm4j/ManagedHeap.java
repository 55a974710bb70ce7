package io.hmm4j;

import io.hmm4j.internal.engine.Backends;
import io.hmm4j.internal.engine.Engine;
import io.hmm4j.internal.engine.Region;
import io.hmm4j.internal.engine.UserFaultFd;
import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.ffm.hmm4j_stats;
import io.hmm4j.internal.jfr.FaultBatchEvent;
import io.hmm4j.internal.launch.TiledLaunch;
import io.hmm4j.internal.policy.HostMemory;
import io.hmm4j.internal.policy.HostTier;
import io.hmm4j.internal.policy.MemoryPressure;
import io.hmm4j.internal.policy.DeviceTier;
import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendProvider;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelSource;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The allocator of managed arrays. It owns the backend, the device pools and budgets, and decides placement:
 * a launch pulls what a kernel needs onto the device, a host access to device-resident data faults it back.
 *
 * <p>All methods are thread-safe. Placement decisions take one Java lock; the fault handler never waits on it
 * (DESIGN.md, invariant 2), so faulting threads are served while another thread places arrays.
 */
// This class is the facade: its methods check arguments and state, then delegate to one collaborator each, all
// package-private in this package because they share ManagedArray's package-private placement fields (an internal
// package would need those fields made public or an access bridge across every use). They share the heap's one
// lock and its waiting discipline (HeapLock): LaunchTracker (launches in flight, the waits for them), Migrator (one
// migration), PlacementPolicy (device placement, eviction, host reclaim, emergency moves, evacuation, prefetch; the
// choices themselves are the tiers' in internal.policy), LaunchPlanner, Allocator, MappedArrays (files, shared
// memory), Lifecycle (publishing, freeing, close) and AdvicePolicy (memory advice).
public final class ManagedHeap implements AutoCloseable {

    /** Largest array, in bytes: far beyond any device, small enough that block arithmetic cannot overflow. */
    public static final long MAX_ARRAY_BYTES = 1L << 44;
    public static final long DEFAULT_BLOCK_SIZE = 64 * 1024;
    public static final long DEFAULT_PREFETCH_BLOCKS = 64;
    public static final long DEFAULT_POOL_CHUNK = 64L << 20;
    /** Thrash control: a block that moves more often than this in a window ({@link Builder#thrashControl(int, int)}). */
    public static final int DEFAULT_THRASH_MOVES = 4;
    /** Thrash control: the window, in launches of the array. */
    public static final int DEFAULT_THRASH_WINDOW = 8;

    /** A device of this heap: its tier (copy table, memory resource stack, eviction order) over the heap's arrays. */
    static final class DeviceState extends DeviceTier<ManagedArray> {
        /** Zero-copy arrays mapped for this device and the address their launches pass; guarded by the heap's lock. */
        private final Map<ManagedArray, Long> zeroCopy = new HashMap<>();

        DeviceState(Device device, long budget, long poolChunk) {
            super(device, budget, poolChunk);
        }

        /**
         * The address that names zero-copy {@code array} in launches here, mapping its host memory on first use.
         *
         * @throws IllegalStateException if this device cannot address host memory
         */
        long zeroCopyAddress(ManagedArray array) {
            Long address = zeroCopy.get(array);
            if (address == null) {
                String cause = device.zeroCopyUnavailabilityCause();
                if (cause != null)
                    throw new IllegalStateException(array + " is placed zero-copy, which " + device.id()
                            + " cannot address: " + cause + "; launch it elsewhere or call placeMigrating first");
                address = device.mapHost(array.region.engineView());
                zeroCopy.put(array, address);
            }
            return address;
        }

        void unmapZeroCopy(ManagedArray array) {
            Long address = zeroCopy.remove(array);
            if (address != null)
                device.unmapHost(array.region.engineView(), address);
        }

        /** Before the array's memory goes: the device lets go of its mapping too. */
        @Override
        public void forget(ManagedArray array) {
            super.forget(array);
            unmapZeroCopy(array);
        }
    }

    private final HeapLock lock = new HeapLock();
    private final LaunchTracker tracker;
    private final Migrator migrator;
    private final PlacementPolicy placement;
    private final LaunchPlanner planner;
    private final ZeroCopyPlacement zeroCopy;
    private final AdvicePolicy advice;
    private final MappedArrays mapped;
    private final Lifecycle lifecycle;
    private final Allocator allocator;
    private final Backend backend;
    private final List<DeviceState> devices;
    private final long blockSize;
    private final HostTier hostTier; // guarded by lock
    private final MemorySegment stats;
    private final Map<Long, ManagedArray> live = new ConcurrentHashMap<>();
    private final AtomicLong nextId = new AtomicLong();

    private ManagedHeap(Builder builder) {
        Engine.ensureInitialized();
        FaultBatchEvent.register();
        this.blockSize = builder.blockSize;
        boolean userfaultfd = UserFaultFd.resolve(builder.userfaultfd);
        this.hostTier = new HostTier(builder.hostBudget > 0 ? builder.hostBudget : HostMemory.defaultBudget(), blockSize);
        long pinnedLimit = builder.pinnedHostLimit >= 0 ? builder.pinnedHostLimit : hostTier.budget() / 2;
        BackendProvider provider = Backends.select(Backends.requestedName(builder.backend));
        this.backend = provider.open(Backends.config(provider.name(), builder.settings));
        try {
            List<DeviceState> states = new ArrayList<>();
            for (Device device : backend.devices()) {
                long budget = builder.deviceBudget > 0 ? builder.deviceBudget : device.capacityBytes();
                DeviceState state = new DeviceState(device, budget, builder.poolChunk);
                if (state.engine != null)
                    state.engine.limitPinnedBytes(pinnedLimit);
                states.add(state);
            }
            if (states.isEmpty())
                throw new IllegalStateException("backend " + backend.name() + " opened no device");
            Engine.ensureHandler();
            this.devices = List.copyOf(states);
            // Regions keep a raw pointer to the counters until they are destroyed; an automatic arena frees them
            // only when the heap itself is unreachable, so no racing allocation can see them freed.
            this.stats = Arena.ofAuto().allocate(hmm4j_stats.$LAYOUT);
        } catch (RuntimeException | Error e) {
            backend.close();
            throw e;
        }
        this.tracker = new LaunchTracker(lock, live);
        this.migrator = new Migrator(hostTier, blockSize);
        this.placement = new PlacementPolicy(lock, tracker, migrator, hostTier, devices, live);
        this.zeroCopy = new ZeroCopyPlacement(lock, tracker, placement, devices, blockSize, builder.thrashControl,
                builder.thrashMoves, builder.thrashWindow);
        placement.zeroCopy = zeroCopy;
        this.advice = new AdvicePolicy(lock, tracker, migrator, placement, devices);
        placement.advice = advice;
        tracker.advice = advice;
        this.mapped = new MappedArrays(this, lock, tracker, blockSize, builder.prefetchBlocks, stats, nextId);
        this.lifecycle = new Lifecycle(lock, tracker, placement, mapped, hostTier, backend, devices, live);
        this.allocator = new Allocator(this, lock, placement, lifecycle, hostTier, stats, blockSize,
                builder.prefetchBlocks, builder.releaseHostMemory, userfaultfd, nextId);
        this.planner = new LaunchPlanner(this, lock, tracker, placement, migrator, hostTier, stats, builder.releaseHostMemory);
        planner.advice = advice;
        MemoryPressure.register(this, heap -> heap.placement.reclaimUnderPressure());
    }

    /**
     * Gives back at least {@code bytes} of host RAM where that much is reclaimable (whole blocks), as a memory-pressure
     * event does: the pages of blocks whose bytes are also on a device, least recently used arrays first. Blocks that
     * live only on the host are kept. Arrays in a running launch are skipped.
     *
     * @return the bytes given back
     * @throws IllegalArgumentException if {@code bytes < 0}
     * @throws IllegalStateException if the heap is closed
     */
    public long reclaimHostMemory(long bytes) {
        if (bytes < 0)
            throw new IllegalArgumentException("bytes must be >= 0: " + bytes);
        return placement.reclaimHostMemory(bytes);
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A heap on the automatic backend with default settings. */
    public static ManagedHeap create() {
        return builder().build();
    }

    // ---- allocation ----

    public ByteArray allocateBytes(long length) {
        return allocator.allocate(length, 1, ByteArray::new, null);
    }

    ByteArray allocateBytes(long length, MemoryGroup group) {
        return allocator.allocate(length, 1, ByteArray::new, group);
    }

    public IntArray allocateInts(long length) {
        return allocator.allocate(length, Integer.BYTES, IntArray::new, null);
    }

    IntArray allocateInts(long length, MemoryGroup group) {
        return allocator.allocate(length, Integer.BYTES, IntArray::new, group);
    }

    public LongArray allocateLongs(long length) {
        return allocator.allocate(length, Long.BYTES, LongArray::new, null);
    }

    LongArray allocateLongs(long length, MemoryGroup group) {
        return allocator.allocate(length, Long.BYTES, LongArray::new, group);
    }

    public FloatArray allocateFloats(long length) {
        return allocator.allocate(length, Float.BYTES, FloatArray::new, null);
    }

    FloatArray allocateFloats(long length, MemoryGroup group) {
        return allocator.allocate(length, Float.BYTES, FloatArray::new, group);
    }

    public DoubleArray allocateDoubles(long length) {
        return allocator.allocate(length, Double.BYTES, DoubleArray::new, null);
    }

    DoubleArray allocateDoubles(long length, MemoryGroup group) {
        return allocator.allocate(length, Double.BYTES, DoubleArray::new, group);
    }

    /**
     * Maps bytes {@code [offset, offset + length)} of {@code file} as a managed array, like
     * {@link FileChannel#map}: the file's pages are the array's host memory, and its blocks migrate to devices like
     * those of any array. Host writes reach the file as a shared mapping's do; {@link ManagedArray#force()} also
     * brings blocks written on a device home and waits for the writeback, and closing the array (or the heap)
     * forces. A {@link FileChannel.MapMode#READ_WRITE READ_WRITE} mapping grows a shorter file (sparse); a
     * {@link FileChannel.MapMode#READ_ONLY READ_ONLY} one has a read-only {@link ManagedArray#segment()} and
     * refuses launches that write it. The host pages of blocks that live on a device are kept: they are the
     * file's data, never released.
     *
     * <p>What the file holds after a crash: everything up to the last force; host writes after it as the kernel
     * wrote them back (they are in its page cache, which survives the process, not a power loss); never what
     * kernels wrote on a device after it.
     *
     * @throws IllegalArgumentException if {@code offset} is negative or not a multiple of the page size,
     *     {@code length <= 0}, the mapping would exceed {@link #MAX_ARRAY_BYTES}, or {@code mode} is
     *     {@link FileChannel.MapMode#PRIVATE PRIVATE} (a private copy cannot have the engine's second view)
     * @throws IllegalStateException if the heap is closed
     * @throws java.nio.file.NoSuchFileException if the file does not exist
     * @throws java.nio.file.AccessDeniedException if it cannot be opened in {@code mode}
     * @throws IOException if it is not a regular file, a READ_ONLY range lies beyond its end, or it cannot be
     *     mapped
     */
    public ByteArray map(Path file, long offset, long length, FileChannel.MapMode mode) throws IOException {
        return lifecycle.publish(mapped.map(file, offset, length, 1, mode, ByteArray::new), 0);
    }

    /**
     * {@link #map} as {@code count} floats (native byte order), for kernels that take a {@link FloatArray}.
     *
     * @throws IllegalArgumentException also if {@code count * 4} overflows
     */
    public FloatArray mapFloats(Path file, long offset, long count, FileChannel.MapMode mode) throws IOException {
        return lifecycle.publish(mapped.map(file, offset, count, Float.BYTES, mode, FloatArray::new), 0);
    }

    // ---- arrays shared between processes ----

    /**
     * Creates an array of {@code bytes} bytes that other processes (another JVM, or a C program using the engine's
     * {@code hmm4j_region_create_shared}) open by {@code name} with {@link #openShared}; it lives in the shared memory
     * object {@code /dev/shm/hmm4j-<name>} and starts zeroed. Every process uses it as any managed array: host
     * access, launches on its own devices. The engine keeps the processes coherent: before a block goes to one
     * process's device every other process drops its access to it, and a host access to it from another process
     * waits until the holder has copied it home (see README, "Kinds of memory"). The name stays until
     * {@link #unlinkShared}; closing the array detaches this process only.
     *
     * @throws IllegalArgumentException if {@code name} is not 1-200 characters of {@code [A-Za-z0-9._-]} starting
     *     with no dot, {@code bytes <= 0} or it exceeds {@link #MAX_ARRAY_BYTES}
     * @throws IllegalStateException if the heap is closed
     * @throws java.nio.file.FileAlreadyExistsException if a shared array of that name exists
     * @throws IOException if the shared memory object cannot be created or mapped
     */
    public ByteArray share(String name, long bytes) throws IOException {
        return lifecycle.publish(mapped.share(name, bytes, 1, ByteArray::new), 0);
    }

    /**
     * {@link #share} as {@code count} floats, for kernels that take a {@link FloatArray}.
     *
     * @throws IllegalArgumentException also if {@code count * 4} exceeds {@link #MAX_ARRAY_BYTES}
     */
    public FloatArray shareFloats(String name, long count) throws IOException {
        return lifecycle.publish(mapped.share(name, count, Float.BYTES, FloatArray::new), 0);
    }

    /**
     * Opens the byte array another process (or this one) created with {@link #share}. Its size and block size are
     * the creator's; this heap's devices hold their own copies.
     *
     * @throws IllegalArgumentException if {@code name} is not valid, the array was created with another element
     *     type ({@link #shareFloats}: open it with {@link #openSharedFloats}) or by a heap with another block size
     * @throws IllegalStateException if the heap is closed
     * @throws java.nio.file.NoSuchFileException if no shared array has that name
     * @throws IOException if the object is no hmm4j shared array, it has 16 attachments already, or it cannot be
     *     mapped
     */
    public ByteArray openShared(String name) throws IOException {
        return lifecycle.publish(mapped.openShared(name, 1, ByteArray::new), 0);
    }

    /** {@link #openShared} for an array created with {@link #shareFloats}. */
    public FloatArray openSharedFloats(String name) throws IOException {
        return lifecycle.publish(mapped.openShared(name, Float.BYTES, FloatArray::new), 0);
    }

    /**
     * Removes the name of a shared array, like {@code shm_unlink}: processes that have it open keep using it (its
     * memory is freed when the last one closes it), later {@link #openShared} calls fail.
     *
     * @return false if no shared array had that name
     * @throws IllegalArgumentException if {@code name} is not valid
     */
    public static boolean unlinkShared(String name) throws IOException {
        return Region.unlinkShared(MappedArrays.checkSharedName(name));
    }

    /**
     * A memory group: arrays allocated through it are charged their size against {@code limitBytes}, wherever
     * their blocks live.
     *
     * @throws IllegalArgumentException if {@code limitBytes <= 0}
     */
    public MemoryGroup createGroup(String name, long limitBytes) {
        ensureOpen();
        return new MemoryGroup(this, null, name, limitBytes);
    }

    // ---- kernels ----

    /**
     * Loads a user kernel; it is built for a device on its first launch there.
     *
     * @throws IllegalStateException if the heap is closed
     */
    public UserKernel load(KernelSource source) {
        Objects.requireNonNull(source, "source");
        ensureOpen();
        return new UserKernel(this, source);
    }

    /** Launches a built-in kernel on device 0; see {@link #launchOn(int, BuiltinKernel, long, Arg...)}. */
    public Launch launch(BuiltinKernel kernel, long globalSize, Arg... args) {
        return launchOn(0, kernel, globalSize, args);
    }

    public Launch launch(UserKernel kernel, long globalSize, Arg... args) {
        return launchOn(0, kernel, globalSize, args);
    }

    /**
     * Launches {@code kernel} over {@code globalSize} work items on device {@code deviceIndex}. Before the launch,
     * only blocks not valid on the device are copied (WRITE-only arrays copy nothing); after it, written arrays
     * are DEVICE and read-only ones SHARED.
     *
     * @throws IllegalArgumentException for a bad device index, a non-positive size, an array of another heap, or
     *     arguments that do not match the kernel's {@link io.hmm4j.spi.BuiltinSignature} (count, types, sizes); no
     *     array has moved then
     * @throws IllegalStateException if the heap or an array argument is closed
     * @throws DeviceOutOfMemoryException if the arguments do not fit on the device even after eviction
     * @throws DeviceException if a copy or the launch fails; data that was on the host stays there
     */
    public Launch launchOn(int deviceIndex, BuiltinKernel kernel, long globalSize, Arg... args) {
        return launchOn(deviceIndex, kernel, 0, globalSize, args);
    }

    /**
     * Launches {@code kernel} over work items {@code [globalOffset, globalOffset + globalSize)} on device
     * {@code deviceIndex}: a range launch, so that several devices can each process a part of the same arrays at
     * once. Before it, only the blocks covering each argument's range ({@link Arg.Range}; a whole-array argument
     * covers all of it) and not valid on the device are copied in; the blocks a range writes are handed to the
     * device, its partly covered first and last blocks copied in first so that their bytes outside the range
     * survive. Launches whose array arguments write no block another one's touch run at once, on any devices;
     * others wait for each other. An element-wise built-in (FILL, SCALE, AXPY) processes elements
     * {@code [globalOffset, globalOffset + n)} of its arrays ({@code globalSize} does not change that, as for any
     * built-in); DOT, SUM and STENCIL_2D take no offset and no ranges.
     *
     * @throws IllegalArgumentException as {@link #launchOn(int, BuiltinKernel, long, Arg...)} does, and for a
     *     negative offset, an offset plus size above {@code Long.MAX_VALUE}, an offset or range the built-in does not
     *     take, or a range that does not cover the elements it processes
     * @throws IllegalStateException if the heap or an array argument is closed
     * @throws DeviceOutOfMemoryException if the arguments do not fit on the device even after eviction
     * @throws DeviceException if a copy or the launch fails; data that was on the host stays there
     */
    public Launch launchOn(int deviceIndex, BuiltinKernel kernel, long globalOffset, long globalSize, Arg... args) {
        Objects.requireNonNull(kernel, "kernel");
        return launch(deviceIndex, device -> device.builtin(kernel), LaunchArguments.of(kernel), globalOffset,
                globalSize, args);
    }

    /**
     * Launches a user kernel loaded by this heap; see {@link #launchOn(int, BuiltinKernel, long, Arg...)}.
     *
     * @throws IllegalArgumentException also if another heap loaded {@code kernel}
     */
    public Launch launchOn(int deviceIndex, UserKernel kernel, long globalSize, Arg... args) {
        return launchOn(deviceIndex, kernel, 0, globalSize, args);
    }

    /**
     * A range launch of a user kernel; see {@link #launchOn(int, BuiltinKernel, long, long, Arg...)}. Its work items'
     * global ids start at {@code globalOffset} (OpenCL: the global work offset; a Java kernel reads it from
     * {@link io.hmm4j.spi.JavaKernel.Arguments#globalOffset()}). CUDA has no global offset: a CUDA device refuses a
     * non-zero one (an {@link UnsupportedOperationException} from the launch, the arrays left where they were).
     *
     * @throws IllegalArgumentException also if another heap loaded {@code kernel}
     */
    public Launch launchOn(int deviceIndex, UserKernel kernel, long globalOffset, long globalSize, Arg... args) {
        Objects.requireNonNull(kernel, "kernel");
        return launch(deviceIndex, kernel::on, LaunchArguments.of(kernel), globalOffset, globalSize, args);
    }

    private Launch launch(int deviceIndex, Function<Device, Kernel> kernelFor, LaunchArguments checks,
            long globalOffset, long globalSize, Arg[] args) {
        ensureOpen();
        DeviceState ds = device(deviceIndex);
        if (globalSize <= 0)
            throw new IllegalArgumentException("global size must be > 0: " + globalSize);
        if (globalOffset < 0 || globalOffset > Long.MAX_VALUE - globalSize)
            throw new IllegalArgumentException("global offset must be >= 0 and offset + size at most Long.MAX_VALUE: "
                    + globalOffset + " + " + globalSize);
        Map<ManagedArray, ArrayUse> uses = LaunchArguments.usesOf(this, args);
        Arg[] checkedArgs = checks.checked(this, args, globalOffset);
        return planner.launch(ds, kernelFor, globalOffset, globalSize, checkedArgs, uses);
    }

    // ---- tiled launches ----

    /** Streams a built-in through device 0 in tiles; see {@link #launchTiledOn(int, BuiltinKernel, long, long, Arg...)}. */
    public Launch launchTiled(BuiltinKernel kernel, long n, long tileBytes, Arg... args) {
        return launchTiledOn(0, kernel, n, tileBytes, args);
    }

    /** Streams a user kernel through device 0 in tiles; see {@link #launchTiledOn(int, UserKernel, long, long, Arg...)}. */
    public Launch launchTiled(UserKernel kernel, long n, long tileBytes, Arg... args) {
        return launchTiledOn(0, kernel, n, tileBytes, args);
    }

    /**
     * Launches an element-wise built-in (FILL, SCALE, AXPY) or a sum reduction (DOT, SUM) over elements
     * {@code [0, n)} of arrays that may be larger than the device. Where the arrays fit in the device budget together, or the device is coherent, this is
     * {@link #launchOn(int, BuiltinKernel, long, Arg...) launchOn(deviceIndex, kernel, n, args)}. Otherwise the
     * arrays' bytes are brought home and streamed through the device in tiles of about {@code tileBytes} per array
     * (rounded up to whole blocks; a tile smaller than a block is one block), double buffered: while one tile
     * computes, the previous tile's written arrays come home and the next tile's read arrays go out. The device holds
     * two tiles per array (three where they take at most half its budget); written arrays end HOST. Returns when the
     * last tile is home (the launch is done). Host writes to the arrays meanwhile race with the kernel, as for any
     * launch; other launches, evictions and closes of the arrays wait for it. A reduction runs per tile into a
     * device float; the partial results are added in double on the host and {@code out[0]} is written once, after
     * the last tile (it may differ from an untiled launch's in the last bits: the order of the additions differs).
     *
     * @throws IllegalArgumentException if {@code kernel} is STENCIL_2D (a grid), a reduction's result array is also
     *     one of its inputs, {@code n} is not the kernel's {@code n} argument, {@code n <= 0},
     *     {@code tileBytes <= 0}, or for any reason {@link #launchOn(int, BuiltinKernel, long, Arg...)} gives
     * @throws IllegalStateException if the heap or an array argument is closed
     * @throws DeviceOutOfMemoryException if two tiles of every array do not fit in the device budget, or the budget
     *     cannot be freed for them (no array there can be evicted and no launch there will end)
     * @throws DeviceException if a copy or a kernel fails: tiles before the failed one are computed and home,
     *     later ones untouched
     */
    public Launch launchTiledOn(int deviceIndex, BuiltinKernel kernel, long n, long tileBytes, Arg... args) {
        Objects.requireNonNull(kernel, "kernel");
        io.hmm4j.spi.BuiltinSignature signature = io.hmm4j.spi.BuiltinSignature.of(kernel);
        if (!signature.elementWise() && signature.sumResult() < 0)
            throw new IllegalArgumentException(kernel + " " + signature + " is neither element-wise nor a sum of its"
                    + " parts (a grid kernel): it cannot be tiled; launch it with launch()");
        return launchTiled(deviceIndex, device -> device.builtin(kernel), LaunchArguments.of(kernel), kernel.name(),
                signature.countParameter(), signature.sumResult(), n, tileBytes, args);
    }

    /**
     * Streams a user kernel declared {@link UserKernel#elementWise(int) element-wise} in tiles, as
     * {@link #launchTiledOn(int, BuiltinKernel, long, long, Arg...)} does; each tile runs with global size its
     * length.
     *
     * @throws IllegalArgumentException also if the kernel was not declared element-wise, or its declared count
     *     argument is not an int or long equal to {@code n}, or an array holds fewer than {@code n} elements
     */
    public Launch launchTiledOn(int deviceIndex, UserKernel kernel, long n, long tileBytes, Arg... args) {
        Objects.requireNonNull(kernel, "kernel");
        if (!kernel.isElementWise())
            throw new IllegalArgumentException("user kernel '" + kernel.name() + "' is not declared element-wise: "
                    + "declare it with elementWise(countArgument) to launch it in tiles");
        return launchTiled(deviceIndex, kernel::on, LaunchArguments.of(kernel), kernel.name(), kernel.countArgument(),
                -1, n, tileBytes, args);
    }

    private Launch launchTiled(int deviceIndex, Function<Device, Kernel> kernelFor, LaunchArguments checks, String name,
            int countArgument, int sumResult, long n, long tileBytes, Arg[] args) {
        ensureOpen();
        DeviceState ds = device(deviceIndex);
        for (Arg arg : args)
            if (arg instanceof Arg.Range)
                throw new IllegalArgumentException("a tiled launch streams whole arrays: pass Arg.read/write/readWrite"
                        + " of the array, not a range of it (" + arg + ")");
        Map<ManagedArray, Access> access = LaunchArguments.accessOf(this, args);
        Arg[] checkedArgs = checks.checked(this, args, 0);
        TiledLaunch plan = TiledLaunch.plan(name, checkedArgs, access, countArgument, sumResult, n, tileBytes,
                blockSize);
        if (ds.device.coherent() || LaunchPlanner.fitsAtOnce(access.keySet(), ds))
            return launch(deviceIndex, kernelFor, checks, 0, n, args);
        return planner.launchTiled(ds, kernelFor, plan, name, access.keySet());
    }

    // ---- calls from arrays, launches and groups ----

    /** Frees {@code array} once no launch and no native call uses it; see {@link ManagedArray#close()}. */
    void release(ManagedArray array) {
        lifecycle.release(array);
    }

    /** {@link ManagedArray#force()}: waits for launches that use the array, then writes it back. */
    void force(ManagedArray array) {
        mapped.force(array);
    }

    /** {@link ManagedArray#lostBlocks()} and friends: one {@code HMM4J_SHARED_*} value, never after the free. */
    long sharedInfo(ManagedArray array, int what) {
        return mapped.sharedInfo(array, what);
    }

    /** A group's device policy changed: the engine's view of which arrays it may write back follows. */
    void devicePolicyChanged() {
        placement.devicePolicyChanged();
    }

    /** {@link Launch#await()}. */
    void awaitLaunch(Launch launch) {
        tracker.awaitLaunch(launch);
    }

    // ---- moves ----

    /** Makes the whole array valid at {@code where}; see {@link #prefetch(ManagedArray, long, long, Location)}. */
    public void prefetch(ManagedArray array, Location where) {
        checkOwned(array);
        prefetch(array, 0, array.byteSize(), where);
    }

    /**
     * A hint: makes bytes {@code [offset, offset + length)} valid at {@code where} now rather than on first use
     * (read intent): the blocks covering them gain a copy there, and every copy they had stays valid. To a device,
     * a block valid on the host is copied from the host, one only devices hold device to device; the host copy stays
     * readable (SHARED). Home, blocks become SHARED.
     *
     * @throws IndexOutOfBoundsException if the range is outside the array
     * @throws IllegalArgumentException for a bad device index or an array of another heap
     * @throws DeviceException if a copy fails; the blocks stay where they were
     */
    public void prefetch(ManagedArray array, long offset, long length, Location where) {
        move(array, offset, length, where, hmm4j_h.HMM4J_INTENT_READ);
    }

    /** Moves the whole array to {@code where} exclusively; see {@link #migrate(ManagedArray, long, long, Location)}. */
    public void migrate(ManagedArray array, Location where) {
        checkOwned(array);
        migrate(array, 0, array.byteSize(), where);
    }

    /**
     * Moves the blocks covering bytes {@code [offset, offset + length)} so that only {@code where} holds them, as
     * Linux's migrate-to-device and cudaMemPrefetchAsync do: to a device, the host pages become inaccessible (the
     * next host access faults the block home) and other devices' copies invalid; to the host, every device copy is
     * invalid (the next launch copies the blocks again), and blocks whose host copy was valid keep read-only host pages
     * until the first host write to each (one fault, no copy), so that a launch reading them next changes no
     * protection; before a system call writes into them, {@link #makeHostWritable}. Blocks not yet valid at a device
     * destination come from the host where it holds them, else device to device. Counted as prefetch traffic. On a
     * coherent device nothing moves.
     *
     * @throws IndexOutOfBoundsException if the range is outside the array, {@code offset} or {@code length} is
     *     negative, or {@code offset + length} overflows
     * @throws IllegalArgumentException for a bad device index, an array of another heap, or a READ_ONLY file
     *     mapping moved to a device (its blocks can be copied there with {@link #prefetch}, not moved)
     * @throws IllegalStateException if the array or the heap is closed
     * @throws DeviceOutOfMemoryException if the array does not fit on the device even after eviction
     * @throws DeviceException if a copy fails; the blocks stay where they were
     */
    public void migrate(ManagedArray array, long offset, long length, Location where) {
        checkOwned(array);
        Objects.requireNonNull(where, "where");
        boolean readOnly = array.region.isReadOnly();
        if (readOnly && !where.isHost())
            throw new IllegalArgumentException(array + " maps a file READ_ONLY: its blocks can be copied to a device"
                    + " (prefetch), not moved there");
        // A read-only mapping's host pages never become writable: its blocks come home valid on both sides.
        int intent = readOnly ? hmm4j_h.HMM4J_INTENT_READ : hmm4j_h.HMM4J_INTENT_READ | hmm4j_h.HMM4J_INTENT_WRITE;
        // Home, host pages that hold valid bytes stay read-only until written (each pays one fault then, no copy).
        if (!readOnly && where.isHost())
            intent |= hmm4j_h.HMM4J_INTENT_LAZY;
        Objects.checkFromIndexSize(offset, length, array.byteSize());
        if (length == 0) {
            move(array, offset, length, where, intent);
            return;
        }
        long first = offset / blockSize;
        long blocks = (offset + length - 1) / blockSize - first + 1;
        // Read-mostly blocks gain a copy at the destination instead of moving (Advice.readMostly()).
        for (long[] run : advice.runs(array, first, blocks)) {
            long from = run[0] * blockSize;
            // The last block may extend past the array's end.
            long bytes = Math.min(run[1] * blockSize, array.byteSize() - from);
            move(array, from, bytes, where, run[2] == 1 ? hmm4j_h.HMM4J_INTENT_READ : intent);
        }
    }

    // ---- advice ----

    /**
     * Advises how the blocks covering bytes {@code [offset, offset + length)} will be used (modelled on
     * {@code cudaMemAdvise}; see {@link Advice} and the README's table for what each advice does without device page
     * faults). Advice adds to what the blocks have: read-mostly and accessed-by devices accumulate, a preferred
     * location replaces the previous one; {@link Advice#none()} clears them all. Advice on a zero-copy array is kept
     * and does nothing until it migrates again. An accessed-by device gets its copy now where no launch uses the array
     * and its budget has room (nothing is evicted for it); otherwise after the array's next launch.
     *
     * @throws IndexOutOfBoundsException if the range is outside the array, {@code offset} or {@code length} is
     *     negative, or {@code offset + length} overflows
     * @throws IllegalArgumentException for a bad device index or an array of another heap
     * @throws IllegalStateException if the array or the heap is closed
     * @throws DeviceException if an accessed-by copy fails; the advice is kept and the blocks stay where they were
     */
    public void advise(ManagedArray array, long offset, long length, Advice advice) {
        adviseRange(array, offset, length, advice, true);
    }

    /**
     * Takes {@code advice} back from the blocks covering bytes {@code [offset, offset + length)}, as
     * {@code cudaMemAdviseUnset...}: {@link Advice#preferredLocation} clears the preferred location whichever it is,
     * {@link Advice#accessedBy} that device only, {@link Advice#none()} everything. Nothing moves.
     *
     * @throws IndexOutOfBoundsException if the range is outside the array
     * @throws IllegalArgumentException for a bad device index or an array of another heap
     * @throws IllegalStateException if the array or the heap is closed
     */
    public void unadvise(ManagedArray array, long offset, long length, Advice advice) {
        adviseRange(array, offset, length, advice, false);
    }

    /**
     * The advice of the block holding byte {@code offset} of {@code array}: read-mostly first, then the preferred
     * location, then accessed-by devices in index order; empty where it has none.
     *
     * @throws IndexOutOfBoundsException if {@code offset} is outside the array
     * @throws IllegalArgumentException for an array of another heap
     * @throws IllegalStateException if the array or the heap is closed
     */
    public java.util.Set<Advice> adviceAt(ManagedArray array, long offset) {
        checkOwned(array);
        Objects.checkIndex(offset, array.byteSize());
        return advice.adviceAt(array, offset / blockSize);
    }

    private void adviseRange(ManagedArray array, long offset, long length, Advice what, boolean set) {
        checkOwned(array);
        Objects.requireNonNull(what, "advice");
        Objects.checkFromIndexSize(offset, length, array.byteSize());
        switch (what) {
            case Advice.PreferredLocation(Location where) when !where.isHost() -> device(where.deviceIndex());
            case Advice.AccessedBy(int index) -> device(index);
            default -> { }
        }
        if (length == 0) {
            array.ensureAlive();
            return;
        }
        long first = offset / blockSize;
        long blocks = (offset + length - 1) / blockSize - first + 1;
        advice.advise(array, first, blocks, what, set);
    }

    /**
     * Makes bytes {@code [offset, offset + length)} writable on the host now (HOST state), so that a system call
     * may write into them: the kernel does not take hmm4j's faults for {@code read(2)} into a protected page, it
     * fails the call with EFAULT (DESIGN.md, invariant 7). Call this before {@code FileChannel.read} into
     * {@code array.segment().asByteBuffer()}; a {@code write(2)} from the array needs only
     * {@link #prefetch(ManagedArray, long, long, Location) prefetch(..., Location.HOST)}.
     *
     * @throws IndexOutOfBoundsException if the range is outside the array
     * @throws DeviceException if a copy home fails; the blocks stay where they were
     */
    public void makeHostWritable(ManagedArray array, long offset, long length) {
        checkOwned(array);
        if (array.region.isReadOnly())
            throw new IllegalArgumentException(array + " maps a file READ_ONLY: it cannot become writable");
        move(array, offset, length, Location.HOST, hmm4j_h.HMM4J_INTENT_WRITE);
    }

    /** Makes the blocks covering a byte range valid at {@code where}, with the destination's intent. */
    private void move(ManagedArray array, long offset, long length, Location where, int intent) {
        checkOwned(array);
        Objects.requireNonNull(where, "where");
        Objects.checkFromIndexSize(offset, length, array.byteSize());
        DeviceState target = where.isHost() ? null : device(where.deviceIndex());
        if (length == 0)
            return;
        long first = offset / blockSize;
        long blocks = (offset + length - 1) / blockSize - first + 1;
        try {
            placement.move(array, first, blocks, target, intent);
        } finally {
            HeapLock.restoreInterrupt();
        }
    }

    /**
     * Places {@code array} zero-copy: its bytes stay in host memory, which every device of the heap addresses
     * directly over the bus (CUDA: page-locked mapped memory, under {@link Builder#pinnedHostLimit}; OpenCL: a
     * CL_MEM_USE_HOST_PTR buffer; emulated: kernels read and write host memory at the bus's bandwidth). Nothing of it
     * migrates any more: launches copy nothing in, host accesses never copy home. While a launch uses it the host
     * may read it (if the kernel only reads) or must wait (the access faults and waits for the kernel, as for a
     * migrating array). Blocks on a device come home first; waits for launches that use it. Undo with
     * {@link #placeMigrating}, or a {@link #prefetch} or {@link #migrate} to a device.
     *
     * @throws IllegalArgumentException for an array of another heap, a READ_ONLY file mapping or an array shared
     *     between processes (or served by userfaultfd)
     * @throws IllegalStateException if the array or the heap is closed
     * @throws UnsupportedOperationException if no device of the heap can address host memory
     * @throws DeviceException if a copy home fails; the array stays where it was
     */
    public void placeZeroCopy(ManagedArray array) {
        checkOwned(array);
        try {
            zeroCopy.enter(array);
        } finally {
            HeapLock.restoreInterrupt();
        }
    }

    /**
     * Ends zero-copy placement ({@link #placeZeroCopy}, or thrash control's): the array's blocks migrate again, the
     * devices let go of its host memory. Waits for launches that use it; no-op for a migrating array.
     *
     * @throws IllegalArgumentException for an array of another heap
     * @throws IllegalStateException if the array or the heap is closed
     */
    public void placeMigrating(ManagedArray array) {
        checkOwned(array);
        try {
            zeroCopy.leave(array);
        } finally {
            HeapLock.restoreInterrupt();
        }
    }

    /**
     * Whether {@code array} is placed zero-copy, by {@link #placeZeroCopy} or by thrash control
     * ({@link Builder#thrashControl(int, int)}).
     *
     * @throws IllegalStateException if the array is closed
     */
    public boolean isZeroCopy(ManagedArray array) {
        checkOwned(array);
        array.ensureAlive();
        return array.region.isZeroCopy();
    }

    /** Arrays thrash control has placed zero-copy so far (also after the heap closed: the metric's last value). */
    public long thrashSwitches() {
        return zeroCopy.switches();
    }

    /**
     * Moves every array off device {@code deviceIndex} (device-only blocks are copied home) and frees their device
     * memory. Arrays stay usable and move back on their next launch there. Waits for launches that use them.
     *
     * @throws IllegalArgumentException for a bad device index
     * @throws IllegalStateException if the heap is closed
     * @throws DeviceException if a copy home fails; that array keeps its device memory and data
     */
    public void evacuate(int deviceIndex) {
        ensureOpen();
        DeviceState ds = device(deviceIndex);
        try {
            placement.evacuate(ds);
        } finally {
            HeapLock.restoreInterrupt();
        }
    }

    /**
     * Waits for every launch on every device.
     *
     * @throws IllegalStateException if the heap is closed
     * @throws DeviceException if a kernel or the device failed
     */
    public void synchronize() {
        List<Launch> pending;
        synchronized (lock) {
            ensureOpen();
            pending = tracker.pending();
        }
        for (Launch launch : pending)
            launch.await();
    }

    // ---- observation ----

    /**
     * Where each block of {@code array} is valid right now.
     *
     * @throws IllegalStateException if the array or the heap is closed
     */
    public Residency residency(ManagedArray array) {
        checkOwned(array);
        synchronized (lock) {
            // Under the lock: a concurrent close cannot free the state array while it is read.
            array.ensureAlive();
            BlockState[] states = array.region.snapshot();
            long[] masks = new long[states.length];
            if (!array.bindings.isEmpty()) {
                // The engine's bits are binding slots; the public ones are the heap's device indexes.
                long[] bySlot = new long[hmm4j_h.HMM4J_MAX_BINDINGS];
                for (Map.Entry<DeviceState, ManagedArray.Binding> e : array.bindings.entrySet())
                    bySlot[e.getValue().slot()] = 1L << devices.indexOf(e.getKey());
                byte[] valid = array.region.snapshotValid();
                for (int b = 0; b < masks.length; b++)
                    for (int slot = 0, bits = valid[b] & 0xff; bits != 0; slot++, bits >>>= 1)
                        if ((bits & 1) != 0)
                            masks[b] |= bySlot[slot];
            }
            int[] holders = array.bindings.keySet().stream().mapToInt(devices::indexOf).sorted().toArray();
            return new Residency(blockSize, states, masks, holders);
        }
    }

    public HeapStats stats() {
        ensureOpen();
        long[] toDevice = new long[hmm4j_h.HMM4J_CAUSE_COUNT];
        long[] toHost = new long[hmm4j_h.HMM4J_CAUSE_COUNT];
        for (int cause = 0; cause < toDevice.length; cause++) {
            toDevice[cause] = hmm4j_stats.bytes_to_device(stats, cause);
            toHost[cause] = hmm4j_stats.bytes_to_host(stats, cause);
        }
        return new HeapStats(hmm4j_stats.read_faults(stats), hmm4j_stats.write_faults(stats),
                hmm4j_stats.spurious_faults(stats), hmm4j_stats.fault_ns(stats), hmm4j_stats.blocks_to_device(stats),
                hmm4j_stats.blocks_to_host(stats), toDevice, toHost, hmm4j_stats.prefetched_blocks(stats),
                hmm4j_stats.copy_errors(stats), hmm4j_stats.migrations(stats), hmm4j_stats.migrate_ns(stats),
                placement.evictions(), live.size(), planner.launches(),
                hostTier.reclaimedBytes() + hmm4j_stats.host_reclaimed_bytes(stats), hmm4j_stats.batched_faults(stats),
                hmm4j_stats.host_reserve_failures(stats), hmm4j_stats.blocks_peer(stats), hmm4j_stats.bytes_peer(stats));
    }

    /** Device memory in use by arrays on device {@code deviceIndex} (0 for coherent devices). */
    public long deviceBytesUsed(int deviceIndex) {
        DeviceState ds = device(deviceIndex);
        return ds.budget == null ? 0 : ds.budget.used();
    }

    /**
     * Host bytes page-locked with device {@code deviceIndex} now (CUDA: kept pages registered for direct DMA; 0 on
     * devices that do not page-lock), at most {@link Builder#pinnedHostLimit}.
     */
    public long pinnedHostBytes(int deviceIndex) {
        DeviceState ds = device(deviceIndex);
        return ds.engine == null ? 0 : ds.engine.pinnedBytes();
    }

    /** The device budget of device {@code deviceIndex} (its capacity for coherent devices). */
    public long deviceBudget(int deviceIndex) {
        DeviceState ds = device(deviceIndex);
        return ds.budget == null ? ds.device.capacityBytes() : ds.budget.limit();
    }

    /**
     * Host RAM the heap's arrays hold now: blocks that live on the host, and the kept pages of blocks that are also
     * on a device (reclaimable). 0 once the heap is closed.
     */
    public long hostBytesUsed() {
        synchronized (lock) {
            return hostTier.hostBytes();
        }
    }

    /**
     * The host budget a heap gets when its builder names none: the cgroup's memory limit where one is set, else half
     * of MemTotal.
     */
    public static long defaultHostBudget() {
        return HostMemory.defaultBudget();
    }

    /** The host budget ({@link Builder#hostBudget}), above which kept pages are given back. */
    public long hostBudget() {
        return hostTier.budget();
    }

    public List<Device> devices() {
        return devices.stream().map(d -> d.device).toList();
    }

    public String backendName() {
        return backend.name();
    }

    public long blockSize() {
        return blockSize;
    }

    public int liveArrays() {
        return live.size();
    }

    public boolean isOpen() {
        return !lock.isClosed();
    }

    // ---- lifecycle ----

    /**
     * Frees every array and all device memory and closes the backend. Waits for running launches and for calls
     * in progress on other threads. Later use of any array throws {@link IllegalStateException}.
     */
    @Override
    public void close() {
        if (planner.isLaunching(Thread.currentThread()))
            throw new IllegalStateException("heap closed from inside one of its launches (a kernel run by the launching"
                    + " thread): it would wait for itself; close it after the launch");
        if (!lock.close())
            return;
        MemoryPressure.unregister(this);
        try {
            lifecycle.tearDown();
        } finally {
            HeapLock.restoreInterrupt();
        }
    }

    void ensureOpen() {
        lock.ensureOpen();
    }

    private DeviceState device(int index) {
        if (index < 0 || index >= devices.size())
            throw new IllegalArgumentException("no device " + index + " in backend " + backend.name() + " ("
                    + devices.size() + " device" + (devices.size() == 1 ? "" : "s") + ")");
        return devices.get(index);
    }

    void checkOwned(ManagedArray array) {
        Objects.requireNonNull(array, "array");
        if (array.heap != this)
            throw new IllegalArgumentException(array + " belongs to another heap");
    }

    /** Settings of a heap. */
    public static final class Builder {
        private String backend;
        private long blockSize = DEFAULT_BLOCK_SIZE;
        private long deviceBudget;
        private long prefetchBlocks = DEFAULT_PREFETCH_BLOCKS;
        private long poolChunk = DEFAULT_POOL_CHUNK;
        private boolean releaseHostMemory;
        private String userfaultfd;
        private long hostBudget;
        private long pinnedHostLimit = -1;
        private boolean thrashControl = true;
        private int thrashMoves = DEFAULT_THRASH_MOVES;
        private int thrashWindow = DEFAULT_THRASH_WINDOW;
        private final Map<String, String> settings = new HashMap<>();

        private Builder() {}

        /** {@code cuda}, {@code opencl}, {@code emulated} or {@code auto} (default: -Dhmm4j.backend, HMM4J_BACKEND, auto). */
        public Builder backend(String name) {
            this.backend = Objects.requireNonNull(name, "name");
            return this;
        }

        /**
         * Migration granularity; a power of two, at least the page size.
         *
         * @throws IllegalArgumentException otherwise
         */
        public Builder blockSize(long bytes) {
            long page = Engine.pageSize();
            if (bytes < page || Long.bitCount(bytes) != 1)
                throw new IllegalArgumentException("block size must be a power of two and at least the page size ("
                        + page + "): " + bytes);
            this.blockSize = bytes;
            return this;
        }

        /** Device memory the heap may use per device (default: the device's capacity). */
        public Builder deviceBudget(long bytes) {
            if (bytes <= 0)
                throw new IllegalArgumentException("device budget must be > 0: " + bytes);
            this.deviceBudget = bytes;
            return this;
        }

        /** Largest read-ahead window of sequential host faults, in blocks (0 disables it). */
        public Builder prefetchBlocks(long blocks) {
            if (blocks < 0)
                throw new IllegalArgumentException("prefetch blocks must be >= 0: " + blocks);
            this.prefetchBlocks = blocks;
            return this;
        }

        /**
         * Whether blocks that live only on the device give their host RAM back at once ({@code true}), or keep it
         * (the default, {@code false}): kept pages make the way home cost only the copy (no fresh zeroed pages), and
         * the host tier gives them back, least recently used first, when the heap holds more than its
         * {@linkplain #hostBudget host budget}.
         */
        public Builder releaseHostMemory(boolean release) {
            this.releaseHostMemory = release;
            return this;
        }

        /**
         * How host faults are served (default: {@code -Dhmm4j.userfaultfd}, {@code HMM4J_USERFAULTFD}, else
         * {@code off}): {@code off}, the SIGSEGV handler with mprotect, where {@code read(2)} into device-resident
         * memory fails with EFAULT until {@link ManagedHeap#makeHostWritable}; {@code on}, userfaultfd, where
         * system calls on device-resident memory just work (the kernel's faults are served too), failing the build
         * where the kernel refuses it; {@code auto}, userfaultfd where available, else off with the reason logged.
         * File-backed arrays always use the SIGSEGV handler.
         *
         * @throws IllegalArgumentException for another value
         */
        public Builder userfaultfd(String mode) {
            this.userfaultfd = UserFaultFd.checkedMode(Objects.requireNonNull(mode, "mode"));
            return this;
        }

        /**
         * Host RAM the heap may hold before it gives back the pages of blocks whose bytes are also on the device
         * (kept pages of DEVICE blocks, SHARED blocks), least recently used arrays first, after each launch. Blocks
         * that live only on the host are never given back. Default: the cgroup's {@code memory.high} or
         * {@code memory.max} where set, else {@value io.hmm4j.internal.policy.HostMemory#MEM_TOTAL_PERCENT} % of
         * MemTotal.
         *
         * @throws IllegalArgumentException if {@code bytes <= 0}
         */
        public Builder hostBudget(long bytes) {
            if (bytes <= 0)
                throw new IllegalArgumentException("host budget must be > 0: " + bytes);
            this.hostBudget = bytes;
            return this;
        }

        /**
         * Most host bytes page-locked per device at a time. On CUDA the kept pages of an array bound to the GPU are
         * registered (cuMemHostRegister) so its moves DMA directly instead of staging
         * through the driver; page-locked memory cannot be swapped or reclaimed by the kernel, so it has its own
         * limit. An array beyond the limit stays unpinned (its copies stage). 0 pins nothing. Default: half the
         * {@linkplain #hostBudget host budget}. Devices that do not page-lock (emulated, OpenCL) ignore it.
         *
         * @throws IllegalArgumentException if {@code bytes < 0}
         */
        public Builder pinnedHostLimit(long bytes) {
            if (bytes < 0)
                throw new IllegalArgumentException("pinned host limit must be >= 0: " + bytes);
            this.pinnedHostLimit = bytes;
            return this;
        }

        /**
         * Thrash control (default on): at a launch, an array whose blocks a host write took back from the device since
         * its previous launch there (they move again now) is counted per block; when one block moved more than
         * {@code moves} times within {@code windowLaunches} launches of the array, and the array is at most
         * {@value ZeroCopyPlacement#SIZE_FACTOR} times the bytes that moved per launch (reading all of it over the bus
         * costs less than the moves), the array is placed zero-copy ({@link ManagedHeap#placeZeroCopy}): it stays in
         * host memory the device addresses directly. Counted by {@link ManagedHeap#thrashSwitches()} (metric
         * {@code hmm4j.thrashing}) and the JFR event {@code io.hmm4j.Thrashing}.
         *
         * @throws IllegalArgumentException if {@code moves < 1} or {@code windowLaunches <= moves}
         */
        public Builder thrashControl(int moves, int windowLaunches) {
            if (moves < 1 || windowLaunches <= moves)
                throw new IllegalArgumentException("thrash control needs moves >= 1 and a window of more launches than"
                        + " moves: " + moves + " moves in " + windowLaunches + " launches");
            this.thrashControl = true;
            this.thrashMoves = moves;
            this.thrashWindow = windowLaunches;
            return this;
        }

        /** Turns thrash control ({@link #thrashControl(int, int)}) on (default) or off. */
        public Builder thrashControl(boolean on) {
            this.thrashControl = on;
            return this;
        }

        /**
         * Size of the device pool's upstream allocations; on each device at most an eighth of its memory (and at
         * least 64 KiB), so that a chunk's unused tail never keeps arrays that fit off a small device.
         */
        public Builder poolChunkBytes(long bytes) {
            if (bytes <= 0)
                throw new IllegalArgumentException("pool chunk must be > 0: " + bytes);
            this.poolChunk = bytes;
            return this;
        }

        /** A backend setting, e.g. {@code setting("placement", "migrate")} or {@code setting("devices", "2")}. */
        public Builder setting(String key, String value) {
            settings.put(Objects.requireNonNull(key, "key"), Objects.requireNonNull(value, "value"));
            return this;
        }

        /**
         * @throws IllegalArgumentException if the named backend does not exist
         * @throws IllegalStateException if it (or, for auto, every backend) is unavailable
         */
        public ManagedHeap build() {
            return new ManagedHeap(this);
        }
    }
}
