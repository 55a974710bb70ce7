package io.hmm4j;

import io.hmm4j.internal.engine.Backends;
import io.hmm4j.internal.engine.Engine;
import io.hmm4j.internal.engine.NativeErrors;
import io.hmm4j.internal.engine.Region;
import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.ffm.hmm4j_stats;
import io.hmm4j.internal.jfr.FaultBatchEvent;
import io.hmm4j.internal.jfr.MigrationEvent;
import io.hmm4j.internal.memory.BudgetMemoryResource;
import io.hmm4j.internal.memory.PoolMemoryResource;
import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendProvider;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelArgument;
import io.hmm4j.spi.KernelSource;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * The allocator of managed arrays. It owns the backend, the device pools and budgets, and decides placement:
 * a launch pulls what a kernel needs onto the device, a host access to device-resident data faults it back.
 *
 * <p>All methods are thread-safe. Placement decisions take one Java lock; the fault handler never waits on it
 * (DESIGN.md, invariant 2), so faulting threads are served while another thread places arrays.
 */
public final class ManagedHeap implements AutoCloseable {

    /** Largest array, in bytes: far beyond any device, small enough that block arithmetic cannot overflow. */
    public static final long MAX_ARRAY_BYTES = 1L << 44;
    public static final long DEFAULT_BLOCK_SIZE = 64 * 1024;
    public static final long DEFAULT_PREFETCH_BLOCKS = 64;
    public static final long DEFAULT_POOL_CHUNK = 64L << 20;

    /** Per-device placement state: the device, its copy table and its memory resource stack. */
    static final class DeviceState {
        final Device device;
        final NativeCopyEngine engine;
        final PoolMemoryResource pool;
        final BudgetMemoryResource budget;

        DeviceState(Device device, long budget, long poolChunk) {
            this.device = device;
            this.engine = device.coherent() ? null : device.copyEngine();
            this.pool = device.coherent() ? null : new PoolMemoryResource(device.memory(), poolChunk);
            this.budget = device.coherent() ? null : new BudgetMemoryResource(pool, budget, device.id());
        }
    }

    private final Object lock = new Object();
    private final Backend backend;
    private final List<DeviceState> devices;
    private final long blockSize;
    private final long prefetchBlocks;
    private final boolean releaseHostMemory;
    private final Arena statsArena;
    private final MemorySegment stats;
    private final Map<Long, ManagedArray> live = new ConcurrentHashMap<>();
    private final AtomicLong nextId = new AtomicLong();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final AtomicLong evictions = new AtomicLong();
    private final AtomicLong launches = new AtomicLong();
    private long useClock; // guarded by lock

    private ManagedHeap(Builder builder) {
        Engine.ensureInitialized();
        FaultBatchEvent.register();
        this.blockSize = builder.blockSize;
        this.prefetchBlocks = builder.prefetchBlocks;
        this.releaseHostMemory = builder.releaseHostMemory;
        BackendProvider provider = Backends.select(Backends.requestedName(builder.backend));
        this.backend = provider.open(Backends.config(provider.name(), builder.settings));
        try {
            List<DeviceState> states = new ArrayList<>();
            for (Device device : backend.devices()) {
                long budget = builder.deviceBudget > 0 ? builder.deviceBudget : device.capacityBytes();
                states.add(new DeviceState(device, budget, builder.poolChunk));
            }
            if (states.isEmpty())
                throw new IllegalStateException("backend " + backend.name() + " opened no device");
            Engine.ensureHandler();
            this.devices = List.copyOf(states);
            this.statsArena = Arena.ofShared();
            this.stats = statsArena.allocate(hmm4j_stats.$LAYOUT);
        } catch (RuntimeException | Error e) {
            backend.close();
            throw e;
        }
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
        return allocate(length, 1, ByteArray::new, null);
    }

    ByteArray allocateBytes(long length, MemoryGroup group) {
        return allocate(length, 1, ByteArray::new, group);
    }

    public IntArray allocateInts(long length) {
        return allocate(length, Integer.BYTES, IntArray::new, null);
    }

    IntArray allocateInts(long length, MemoryGroup group) {
        return allocate(length, Integer.BYTES, IntArray::new, group);
    }

    public LongArray allocateLongs(long length) {
        return allocate(length, Long.BYTES, LongArray::new, null);
    }

    LongArray allocateLongs(long length, MemoryGroup group) {
        return allocate(length, Long.BYTES, LongArray::new, group);
    }

    public FloatArray allocateFloats(long length) {
        return allocate(length, Float.BYTES, FloatArray::new, null);
    }

    FloatArray allocateFloats(long length, MemoryGroup group) {
        return allocate(length, Float.BYTES, FloatArray::new, group);
    }

    public DoubleArray allocateDoubles(long length) {
        return allocate(length, Double.BYTES, DoubleArray::new, null);
    }

    DoubleArray allocateDoubles(long length, MemoryGroup group) {
        return allocate(length, Double.BYTES, DoubleArray::new, group);
    }

    @FunctionalInterface
    private interface ArrayFactory<T extends ManagedArray> {
        T create(ManagedHeap heap, Region region, long byteSize, long id);
    }

    /**
     * @throws IllegalArgumentException if {@code length <= 0} or the array would exceed {@link #MAX_ARRAY_BYTES}
     * @throws IllegalStateException if the heap is closed
     * @throws OutOfMemoryError if the host cannot map the memory
     */
    private <T extends ManagedArray> T allocate(long length, int elementSize, ArrayFactory<T> factory, MemoryGroup group) {
        ensureOpen();
        if (length <= 0)
            throw new IllegalArgumentException("array length must be > 0: " + length);
        if (length > MAX_ARRAY_BYTES / elementSize)
            throw new IllegalArgumentException("array of " + length + " elements of " + elementSize
                    + " bytes exceeds the maximum of " + MAX_ARRAY_BYTES + " bytes");
        long bytes = length * elementSize;
        long charged = (bytes + blockSize - 1) / blockSize * blockSize;
        if (group != null)
            group.charge(charged);
        T array;
        try {
            Region region = Region.create(bytes, blockSize, stats);
            try {
                region.setPrefetch(prefetchBlocks);
                region.setReleaseHost(releaseHostMemory);
                array = factory.create(this, region, bytes, nextId.incrementAndGet());
            } catch (RuntimeException | Error e) {
                region.destroy();
                throw e;
            }
        } catch (RuntimeException | Error e) {
            if (group != null)
                group.uncharge(charged);
            throw e;
        }
        array.group = group;
        synchronized (lock) {
            if (closed.get()) {
                destroy(array);
                throw new IllegalStateException("heap is closed");
            }
            live.put(array.id, array);
        }
        return array;
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
        Objects.requireNonNull(kernel, "kernel");
        return launch(deviceIndex, device -> device.builtin(kernel), LaunchArguments.of(kernel), globalSize, args);
    }

    /**
     * Launches a user kernel loaded by this heap; see {@link #launchOn(int, BuiltinKernel, long, Arg...)}.
     *
     * @throws IllegalArgumentException also if another heap loaded {@code kernel}
     */
    public Launch launchOn(int deviceIndex, UserKernel kernel, long globalSize, Arg... args) {
        Objects.requireNonNull(kernel, "kernel");
        return launch(deviceIndex, kernel::on, LaunchArguments.of(kernel), globalSize, args);
    }

    private Launch launch(int deviceIndex, Function<Device, Kernel> kernelFor, LaunchArguments checks, long globalSize,
            Arg[] args) {
        ensureOpen();
        Engine.ensureHandler();
        DeviceState ds = device(deviceIndex);
        if (globalSize <= 0)
            throw new IllegalArgumentException("global size must be > 0: " + globalSize);
        Objects.requireNonNull(args, "args");
        Map<ManagedArray, Access> access = new LinkedHashMap<>();
        for (Arg arg : args) {
            if (arg instanceof Arg.Array(ManagedArray array, Access mode)) {
                checkOwned(array);
                access.merge(array, mode, (a, b) -> a == b ? a : Access.READ_WRITE);
            } else {
                Objects.requireNonNull(arg, "argument");
            }
        }
        args = checks.checked(this, args);
        Kernel kernel = kernelFor.apply(ds.device);
        Launch launch = new Launch(this, ds);
        Map<ManagedArray, KernelArgument.Buffer> buffers = new HashMap<>();
        synchronized (lock) {
            for (ManagedArray array : access.keySet()) {
                array.ensureAlive();
                completePending(array);
            }
            try {
                for (ManagedArray array : access.keySet()) {
                    if (!ds.device.coherent())
                        place(array, ds);
                    // In flight from here on: later placements of this launch cannot evict it.
                    array.inFlight.add(launch);
                    launch.arrays.add(array);
                }
                for (Map.Entry<ManagedArray, Access> e : access.entrySet()) {
                    ManagedArray array = e.getKey();
                    Access mode = e.getValue();
                    if (!ds.device.coherent())
                        migrate(array, 0, array.region.blockCount(), hmm4j_h.HMM4J_TO_DEVICE, intentOf(mode),
                                MigrationCause.LAUNCH);
                    long address = ds.device.coherent() ? array.segment.address() : array.deviceAddress;
                    buffers.put(array, new KernelArgument.Buffer(address, array.byteSize(), mode, array.segment));
                    if (mode.writes())
                        launch.written.add(array);
                }
            } catch (RuntimeException | Error e) {
                launch.enqueued = true;
                launch.written.clear();
                complete(launch);
                throw e;
            }
            for (ManagedArray array : launch.written)
                array.region.launchBegin();
            launches.incrementAndGet();
        }
        List<KernelArgument> arguments = new ArrayList<>(args.length);
        for (Arg arg : args) {
            arguments.add(switch (arg) {
                case Arg.Array a -> buffers.get(a.array());
                case Arg.Scalar(Number value) -> new KernelArgument.Scalar(value);
            });
        }
        try {
            ds.device.launch(kernel, globalSize, arguments);
        } catch (RuntimeException | Error e) {
            markEnqueued(launch);
            complete(launch);
            throw e;
        }
        markEnqueued(launch);
        if (ds.device.launchesAreSynchronous())
            complete(launch);
        return launch;
    }

    private void markEnqueued(Launch launch) {
        synchronized (lock) {
            launch.enqueued = true;
            lock.notifyAll();
        }
    }

    /** Waits until the launching thread has handed {@code launch} to the device (or failed to). */
    void awaitEnqueued(Launch launch) {
        synchronized (lock) {
            boolean interrupted = false;
            while (!launch.enqueued) {
                try {
                    lock.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted)
                Thread.currentThread().interrupt();
        }
    }

    private static int intentOf(Access mode) {
        return switch (mode) {
            case READ -> hmm4j_h.HMM4J_INTENT_READ;
            case WRITE -> hmm4j_h.HMM4J_INTENT_WRITE;
            case READ_WRITE -> hmm4j_h.HMM4J_INTENT_READ | hmm4j_h.HMM4J_INTENT_WRITE;
        };
    }

    /** Ends a launch's bookkeeping: its arrays are no longer in flight. */
    void complete(Launch launch) {
        synchronized (lock) {
            if (launch.done)
                return;
            for (ManagedArray array : launch.written)
                array.region.launchEnd();
            for (ManagedArray array : launch.arrays)
                array.inFlight.remove(launch);
            launch.done = true;
            lock.notifyAll();
        }
    }

    /** Waits for every launch that uses {@code array}; called with the lock held. */
    private void completePending(ManagedArray array) {
        while (!array.inFlight.isEmpty())
            array.inFlight.getFirst().await();
    }

    // ---- placement ----

    /** Gives {@code array} device memory on {@code ds}, evicting least recently used arrays if the budget is full. */
    private void place(ManagedArray array, DeviceState ds) {
        array.lastUse = ++useClock;
        if (array.boundDevice == ds)
            return;
        if (array.boundDevice != null)
            evict(array, MigrationCause.EVICTION);
        long bytes = array.region.size();
        long address = allocateEvicting(ds, bytes);
        try {
            array.region.bind(ds.engine.handle(), address);
        } catch (RuntimeException e) {
            ds.budget.deallocate(address, bytes);
            throw e;
        }
        array.boundDevice = ds;
        array.deviceAddress = address;
        array.deviceBytes = bytes;
    }

    private long allocateEvicting(DeviceState ds, long bytes) {
        while (true) {
            try {
                return ds.budget.allocate(bytes);
            } catch (DeviceOutOfMemoryException full) {
                ManagedArray victim = null;
                for (ManagedArray candidate : live.values()) {
                    if (candidate.boundDevice == ds && candidate.inFlight.isEmpty()
                            && (victim == null || candidate.lastUse < victim.lastUse))
                        victim = candidate;
                }
                if (victim == null) {
                    // Arrays of launches nobody awaited stay pinned: finish those launches and look again.
                    if (completeLaunchesOn(ds))
                        continue;
                    throw full;
                }
                evict(victim, MigrationCause.EVICTION);
            }
        }
    }

    /** Waits for the launches in flight on {@code ds}; returns whether there were any. */
    private boolean completeLaunchesOn(DeviceState ds) {
        List<Launch> pending = new ArrayList<>();
        for (ManagedArray array : live.values())
            for (Launch launch : array.inFlight)
                if (launch.device == ds && !pending.contains(launch))
                    pending.add(launch);
        for (Launch launch : pending)
            launch.await();
        return !pending.isEmpty();
    }

    /** Copies the array's device-only blocks home and frees its device memory. */
    private void evict(ManagedArray array, MigrationCause cause) {
        DeviceState ds = array.boundDevice;
        int rc = array.region.unbind(cause.code());
        if (rc < 0)
            NativeErrors.checkDevice("hmm4j_region_unbind", rc, ds.device.id(), ds.engine.lastError());
        freeDeviceMemory(array);
        if (cause == MigrationCause.EVICTION)
            evictions.incrementAndGet();
    }

    private void freeDeviceMemory(ManagedArray array) {
        DeviceState ds = array.boundDevice;
        array.boundDevice = null;
        try {
            // Freed device memory is zeroed before reuse: no data leaks from one array to the next.
            ds.engine.zero(array.deviceAddress, array.deviceBytes);
        } catch (DeviceException e) {
            // A device that cannot zero keeps the memory out of the pool rather than leak its contents.
            return;
        }
        ds.budget.deallocate(array.deviceAddress, array.deviceBytes);
    }

    private void migrate(ManagedArray array, long firstBlock, long blocks, int direction, int intent, MigrationCause cause) {
        MigrationEvent event = new MigrationEvent();
        event.begin();
        long[] moved = new long[2];
        int rc = array.region.migrate(firstBlock, blocks, direction, intent, cause.code(), moved);
        DeviceState ds = array.boundDevice;
        if (moved[0] > 0 && event.shouldCommit()) {
            event.arrayId = array.id;
            event.device = ds.device.id();
            event.direction = direction == hmm4j_h.HMM4J_TO_DEVICE ? "to_device" : "to_host";
            event.cause = cause.name().toLowerCase(java.util.Locale.ROOT);
            event.bytes = moved[1];
            event.blocks = moved[0];
            event.commit();
        }
        if (rc < 0) {
            NativeErrors.checkDevice("hmm4j_migrate(" + (direction == hmm4j_h.HMM4J_TO_DEVICE ? "to device" : "to host")
                    + ", array " + array.id + ")", rc, ds.device.id(), ds.engine.lastError());
        }
    }

    /** Makes the whole array valid at {@code where}; see {@link #prefetch(ManagedArray, long, long, Location)}. */
    public void prefetch(ManagedArray array, Location where) {
        checkOwned(array);
        prefetch(array, 0, array.byteSize(), where);
    }

    /**
     * A hint: makes bytes {@code [offset, offset + length)} valid at {@code where} now rather than on first use.
     * The host copy stays readable (SHARED) when data moves to a device; moving home makes blocks SHARED too.
     *
     * @throws IndexOutOfBoundsException if the range is outside the array
     * @throws IllegalArgumentException for a bad device index or an array of another heap
     * @throws DeviceException if a copy fails; the blocks stay where they were
     */
    public void prefetch(ManagedArray array, long offset, long length, Location where) {
        move(array, offset, length, where, hmm4j_h.HMM4J_INTENT_READ);
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
        move(array, offset, length, Location.HOST, hmm4j_h.HMM4J_INTENT_WRITE);
    }

    /** Makes the blocks covering a byte range valid at {@code where}, with the destination's intent. */
    private void move(ManagedArray array, long offset, long length, Location where, int intent) {
        checkOwned(array);
        Objects.requireNonNull(where, "where");
        Objects.checkFromIndexSize(offset, length, array.byteSize());
        if (length == 0)
            return;
        long first = offset / blockSize;
        long blocks = (offset + length - 1) / blockSize - first + 1;
        synchronized (lock) {
            array.ensureAlive();
            completePending(array);
            if (where.isHost()) {
                if (array.boundDevice != null)
                    migrate(array, first, blocks, hmm4j_h.HMM4J_TO_HOST, intent, MigrationCause.PREFETCH);
                return;
            }
            DeviceState ds = device(where.deviceIndex());
            if (ds.device.coherent())
                return;
            place(array, ds);
            migrate(array, first, blocks, hmm4j_h.HMM4J_TO_DEVICE, intent, MigrationCause.PREFETCH);
        }
    }

    /**
     * Moves every array off device {@code deviceIndex} (device-only blocks are copied home) and frees their device
     * memory. Arrays stay usable and move back on their next launch there.
     *
     * @throws DeviceException if a copy home fails; that array keeps its device memory and data
     */
    public void evacuate(int deviceIndex) {
        ensureOpen();
        DeviceState ds = device(deviceIndex);
        synchronized (lock) {
            for (ManagedArray array : live.values()) {
                if (array.boundDevice == ds) {
                    completePending(array);
                    evict(array, MigrationCause.EVICTION);
                }
            }
        }
    }

    /** Waits for every launch on every device. */
    public void synchronize() {
        ensureOpen();
        List<Launch> pending = new ArrayList<>();
        synchronized (lock) {
            for (ManagedArray array : live.values())
                for (Launch launch : array.inFlight)
                    if (!pending.contains(launch))
                        pending.add(launch);
        }
        for (Launch launch : pending)
            launch.await();
    }

    // ---- observation ----

    /** Where each block of {@code array} is valid right now. */
    public Residency residency(ManagedArray array) {
        checkOwned(array);
        array.ensureAlive();
        DeviceState ds = array.boundDevice;
        return new Residency(blockSize, ds == null ? null : ds.device.id(), array.region.snapshot());
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
                evictions.get(), live.size(), launches.get());
    }

    /** Device memory in use by arrays on device {@code deviceIndex} (0 for coherent devices). */
    public long deviceBytesUsed(int deviceIndex) {
        DeviceState ds = device(deviceIndex);
        return ds.budget == null ? 0 : ds.budget.used();
    }

    /** The device budget of device {@code deviceIndex} (its capacity for coherent devices). */
    public long deviceBudget(int deviceIndex) {
        DeviceState ds = device(deviceIndex);
        return ds.budget == null ? ds.device.capacityBytes() : ds.budget.limit();
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
        return !closed.get();
    }

    // ---- lifecycle ----

    void release(ManagedArray array) {
        synchronized (lock) {
            if (live.remove(array.id) == null)
                return;
            try {
                completePending(array);
            } catch (DeviceException e) {
                // The array is being freed; the launch's failure was the kernel's, not the free's.
                System.getLogger("io.hmm4j").log(System.Logger.Level.WARNING, "launch failed before free", e);
            }
            destroy(array);
        }
    }

    private void destroy(ManagedArray array) {
        array.arena.close();
        if (array.boundDevice != null)
            freeDeviceMemory(array);
        array.region.destroy();
        if (array.group != null)
            array.group.uncharge(array.region.size());
    }

    /** Frees every array and all device memory and closes the backend. Later use of any array throws. */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true))
            return;
        synchronized (lock) {
            for (DeviceState ds : devices) {
                try {
                    ds.device.synchronize();
                } catch (DeviceException e) {
                    System.getLogger("io.hmm4j").log(System.Logger.Level.WARNING, "device failed while closing", e);
                }
            }
            Collection<ManagedArray> arrays = new ArrayList<>(live.values());
            live.clear();
            for (ManagedArray array : arrays) {
                try {
                    completePending(array);
                } catch (DeviceException e) {
                    System.getLogger("io.hmm4j").log(System.Logger.Level.WARNING, "launch failed while closing", e);
                }
                destroy(array);
            }
            for (DeviceState ds : devices)
                if (ds.pool != null)
                    ds.pool.close();
            backend.close();
            statsArena.close();
        }
    }

    void ensureOpen() {
        if (closed.get())
            throw new IllegalStateException("heap is closed");
    }

    private DeviceState device(int index) {
        if (index < 0 || index >= devices.size())
            throw new IllegalArgumentException("no device " + index + " in backend " + backend.name() + " ("
                    + devices.size() + " device" + (devices.size() == 1 ? "" : "s") + ")");
        return devices.get(index);
    }

    private void checkOwned(ManagedArray array) {
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
        private boolean releaseHostMemory = true;
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
         * Whether blocks that live only on the device give their host RAM back (default {@code true}, so host
         * memory can be oversubscribed too). {@code false} keeps the pages: faults home are several times faster
         * because they need no fresh zeroed pages, at the cost of host memory for device-resident data.
         */
        public Builder releaseHostMemory(boolean release) {
            this.releaseHostMemory = release;
            return this;
        }

        /** Size of the device pool's upstream allocations. */
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
