package io.hmm4j.internal.launch;

import io.hmm4j.Access;
import io.hmm4j.Arg;
import io.hmm4j.ManagedArray;
import io.hmm4j.MigrationCause;
import io.hmm4j.internal.engine.NativeErrors;
import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.engine.Fence;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.DeviceKind;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelArgument;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;

/**
 * A launch of an element-wise kernel streamed through device memory in tiles (TornadoVM's batch processing), for
 * arrays that do not fit on the device at once. Tile {@code k} covers elements {@code [k * tileElements,
 * min(n, (k + 1) * tileElements))} of every array argument; it runs in one of two or more sets of tile buffers
 * (double or triple buffering): while the kernel computes tile {@code k}, a copy thread brings tile {@code k - 1}'s
 * written arrays home and uploads the read arrays of the next tiles into free sets, the next tile the kernel needs
 * first. All copies go through that one thread, as over one bus, so the bus carries exactly the bytes a copy-in /
 * copy-out loop would; only the kernels overlap with it.
 *
 * <p>Where a device's kernels are only CPU work ({@link Device#kernelsAreHostWork()}: an emulated device without a
 * kernel compute model), one thread, the launching one, does the copies and runs
 * each tile's kernel inside the modelled bus time of the copy after its upload (before that copy's wait): the bus
 * carries the same copies at the same times, and the kernel takes the time the copy would have spun. Handed to a
 * second thread, every tile's bytes crossed between two cores three times (the copier writes them, the kernel reads
 * and writes them, the copier reads them back): with the two threads pinned to different cores of a two-core VM, a
 * 1 MiB copy took about 150 µs instead of 60 and SAXPY at 12 GB/s 51 ms instead of 21 (pinned to one core), and an
 * idle second core is where the scheduler puts the launching thread on a quiet machine. A kernel that outlasts a
 * copy's modelled time holds the next copy up; a device whose kernels have a duration of their own (a compute model,
 * {@code kernel.bandwidth}) keeps the copy thread, so that its copies overlap its kernels.
 *
 * <p>This class is the mechanism only: the heap pins the arrays, brings their bytes home, reserves the tile
 * buffers ({@link #stagingBytes()}) and gives them back; the arrays' host memory is their only valid copy while
 * the tiles stream, and it is read and written directly.
 */
public final class TiledLaunch {

    /** One array the tiles stream, with the access the kernel makes of it (arguments naming it merged). */
    private record Stream(MemorySegment host, long elementSize, Access access, long slotOffset, long slotBytes,
            boolean sumResult) {}

    /** A kernel parameter as each tile passes it. */
    private sealed interface Param {
        record Array(int stream) implements Param {}

        /** The element count, as an Integer or a Long like the launch's own. */
        record Count(boolean asInt) implements Param {}

        record Fixed(Number value) implements Param {}
    }

    /** Most sets of tile buffers a launch uses (triple buffering). */
    public static final int MAX_SETS = 3;

    private final long n;
    private final long tileElements;
    private final List<Stream> streams;
    private final List<Param> params;
    /** Bytes of one set of tile buffers: every stream's slot, each a whole number of blocks. */
    private final long setBytes;

    private TiledLaunch(long n, long tileElements, List<Stream> streams, List<Param> params, long setBytes) {
        this.n = n;
        this.tileElements = tileElements;
        this.streams = streams;
        this.params = params;
        this.setBytes = setBytes;
    }

    /**
     * Plans a tiled launch of {@code n} elements. {@code tileBytes} is rounded up to a whole number of blocks (a
     * tile smaller than a block is one block: tiles move whole blocks' worth of bytes); a tile then holds as many
     * elements as the widest array's element fits in it, at least one.
     *
     * @param args the launch's arguments, already checked against the kernel's signature
     * @param access each array's access, arguments that name it merged
     * @param countArgument the position of the element-count scalar, which must equal {@code n}, or -1
     * @param sumResult the position of a reduction's one-element result whose tiles' results add up (DOT, SUM), or
     *     -1: each tile writes its partial result there on the device, and their sum (in double) is written to the
     *     array's element 0 once the last tile is done
     * @throws IllegalArgumentException if {@code n <= 0}, {@code tileBytes <= 0}, an array holds fewer than
     *     {@code n} elements, the count argument is not an int or long equal to {@code n}, or the tile sizes
     *     overflow
     */
    public static TiledLaunch plan(String kernelName, Arg[] args, Map<ManagedArray, Access> access, int countArgument,
            int sumResult, long n, long tileBytes, long blockSize) {
        Objects.requireNonNull(args, "args");
        if (n <= 0)
            throw new IllegalArgumentException("element count n must be > 0: " + n);
        if (tileBytes <= 0)
            throw new IllegalArgumentException("tile size must be > 0 bytes: " + tileBytes);
        if (countArgument >= args.length)
            throw new IllegalArgumentException(kernelName + " declares its element count at argument " + countArgument
                    + ", but the launch has " + args.length + " arguments");
        long roundedTile;
        try {
            roundedTile = Math.multiplyExact(Math.ceilDiv(tileBytes, blockSize), blockSize);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("tile size " + tileBytes + " rounded up to whole blocks of " + blockSize
                    + " bytes overflows a long");
        }
        ManagedArray result = sumResult >= 0 && sumResult < args.length
                && args[sumResult] instanceof Arg.Array(ManagedArray array, Access ignored) ? array : null;
        Map<ManagedArray, Integer> streamOf = new IdentityHashMap<>();
        List<ManagedArray> arrays = new ArrayList<>();
        List<Param> params = new ArrayList<>(args.length);
        long widest = 1;
        for (int i = 0; i < args.length; i++) {
            Arg arg = args[i];
            if (arg instanceof Arg.Array(ManagedArray array, Access ignored)) {
                long elementSize = array.elementLayout().byteSize();
                if ((array == result) != (i == sumResult))
                    throw new IllegalArgumentException(kernelName + " argument " + i + " (" + array + ") is also the"
                            + " reduction's result: a tiled launch needs the result in an array of its own");
                if (i != sumResult && array.byteSize() / elementSize < n)
                    throw new IllegalArgumentException(kernelName + " argument " + i + " (" + array + ") holds "
                            + array.byteSize() / elementSize + " elements, the tiled launch covers " + n);
                widest = Math.max(widest, elementSize);
                Integer stream = streamOf.get(array);
                if (stream == null) {
                    stream = arrays.size();
                    streamOf.put(array, stream);
                    arrays.add(array);
                }
                params.add(new Param.Array(stream));
            } else if (i == countArgument) {
                Number count = ((Arg.Scalar) arg).value();
                if (!(count instanceof Integer || count instanceof Long) || count.longValue() != n)
                    throw new IllegalArgumentException(kernelName + " argument " + i + " (the element count) must be"
                            + " an int or a long equal to the tiled launch's n = " + n + ", got "
                            + count.getClass().getSimpleName() + " " + count);
                params.add(new Param.Count(count instanceof Integer));
            } else {
                params.add(new Param.Fixed(((Arg.Scalar) arg).value()));
            }
        }
        if (countArgument >= 0 && !(params.get(countArgument) instanceof Param.Count))
            throw new IllegalArgumentException(kernelName + " argument " + countArgument
                    + " (the element count) must be an int or a long, got an array");
        if (arrays.isEmpty())
            throw new IllegalArgumentException(kernelName + ": a tiled launch needs at least one array argument");
        long tileElements = Math.min(n, Math.max(1, roundedTile / widest));
        List<Stream> streams = new ArrayList<>(arrays.size());
        long setBytes = 0;
        try {
            for (ManagedArray array : arrays) {
                long elementSize = array.elementLayout().byteSize();
                long elements = array == result ? 1 : tileElements;
                long slot = Math.multiplyExact(Math.ceilDiv(Math.multiplyExact(elements, elementSize), blockSize),
                        blockSize);
                streams.add(new Stream(array.segment(), elementSize, access.get(array), setBytes, slot,
                        array == result));
                setBytes = Math.addExact(setBytes, slot);
            }
            Math.multiplyExact(setBytes, MAX_SETS);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("tiles of " + roundedTile + " bytes for " + arrays.size()
                    + " arrays overflow a long");
        }
        return new TiledLaunch(n, tileElements, List.copyOf(streams), List.copyOf(params), setBytes);
    }

    /** Device memory of one set of tile buffers (a tile of every array); the launch needs two sets or more. */
    public long setBytes() {
        return setBytes;
    }

    /** Elements per tile (the last one may hold fewer). */
    public long tileElements() {
        return tileElements;
    }

    public long tiles() {
        return Math.ceilDiv(n, tileElements);
    }

    /**
     * Streams every tile through {@code staging} ({@code sets} x {@link #setBytes()} of device memory of
     * {@code device}) and returns when the last written tile is home. The calling thread launches the kernels; one
     * copy thread (an idle one of an earlier launch, else a new one) does every copy, except where the device's
     * kernels are host work: there the calling thread does both (see the class comment). On failure the tiles before
     * the failed one have been computed and brought home, later ones are untouched; nothing runs any more when this
     * returns or throws.
     *
     * @throws io.hmm4j.DeviceException if a copy or a kernel failed (the first failure; later ones suppressed)
     */
    public void run(Device device, Kernel kernel, NativeCopyEngine engine, long staging, int sets, MemorySegment stats) {
        if (sets < 2)
            throw new IllegalArgumentException("a tiled launch needs at least two sets of tile buffers: " + sets);
        Pipeline pipeline = new Pipeline(tiles(), sets);
        pipeline.partial = Arena.ofAuto().allocate(Double.BYTES);
        if (device.kernelsAreHostWork()) {
            pipeline.inlineKernels = tile -> compute(device, kernel, engine, staging, tile, sets);
            copyAll(pipeline, engine, staging, stats);
            pipeline.rethrow();
            writeSums(pipeline);
            return;
        }
        Copier.start(() -> copyAll(pipeline, engine, staging, stats), pipeline::copierDone);
        try {
            for (long k = 0; k < pipeline.tiles; k++) {
                if (!pipeline.awaitUploaded(k))
                    break;
                try {
                    compute(device, kernel, engine, staging, k, sets);
                } catch (RuntimeException | Error e) {
                    pipeline.fail(e);
                    break;
                }
                pipeline.computed(k);
            }
        } finally {
            // The tile buffers are given back after this returns: no copy may still be using them.
            pipeline.awaitCopierUninterruptibly();
        }
        pipeline.rethrow();
        // After the join: the copy thread's sum is visible here.
        writeSums(pipeline);
    }

    /** Written only once every tile succeeded. */
    private void writeSums(Pipeline pipeline) {
        for (Stream stream : streams)
            if (stream.sumResult())
                stream.host().set(ValueLayout.JAVA_FLOAT, 0, (float) pipeline.sum);
    }

    /**
     * The copy thread, greedy: uploads the tile the kernel needs next when a set is free, else brings home a computed
     * tile (which frees its set), else uploads ahead into a free set, else waits for the kernel. Tile {@code u} goes
     * into set {@code u % sets}, free once tile {@code u - sets} is home.
     */
    private void copyAll(Pipeline pipeline, NativeCopyEngine engine, long staging, MemorySegment stats) {
        long tiles = pipeline.tiles;
        long up = 0;
        long down = 0;
        pipeline.copierStarted();
        try {
            while (down < tiles) {
                if (pipeline.failed()) {
                    // Tiles the kernel computed before the failure still go home.
                    while (down < up && pipeline.computedNow() >= down)
                        download(pipeline, engine, staging, down++, pipeline.sets, stats);
                    return;
                }
                long computed = pipeline.computedNow();
                boolean setFree = up < tiles && up - down < pipeline.sets;
                if (setFree && up <= computed + 1) {
                    upload(pipeline, engine, staging, up++, pipeline.sets, stats);
                } else if (down < up && computed >= down) {
                    download(pipeline, engine, staging, down++, pipeline.sets, stats);
                } else if (setFree) {
                    upload(pipeline, engine, staging, up++, pipeline.sets, stats);
                } else {
                    pipeline.announceUploaded();
                    if (pipeline.inlineKernels != null)
                        pipeline.computeNext();
                    else
                        pipeline.awaitComputed(down);
                }
            }
        } catch (RuntimeException | Error e) {
            pipeline.fail(e);
        }
    }

    private long start(long tile) {
        return tile * tileElements;
    }

    private long length(long tile) {
        return Math.min(tileElements, n - start(tile));
    }

    private long slotAddress(long staging, long tile, int sets, Stream stream) {
        return staging + tile % sets * setBytes + stream.slotOffset();
    }

    private MemorySegment hostTile(Stream stream, long tile) {
        return stream.host().asSlice(start(tile) * stream.elementSize(), length(tile) * stream.elementSize());
    }

    /**
     * Uploads tile {@code tile}'s read arrays. Where the bus is modelled (an emulated device), the kernels hear of the
     * tile only once the bytes of the copy after it have moved, while that copy's modelled time passes: told at once,
     * the launching thread would wake on the copy thread's core of a busy machine and take it from the next copy.
     */
    private void upload(Pipeline pipeline, NativeCopyEngine engine, long staging, long tile, int sets,
            MemorySegment stats) {
        boolean paced = false;
        for (Stream stream : streams) {
            if (stream.access().reads() && !stream.sumResult()) {
                MemorySegment host = hostTile(stream, tile);
                long pacedUntil = engine.copyToDeviceUnpaced(slotAddress(staging, tile, sets, stream), host);
                count(stats, hmm4j_h.HMM4J_TO_DEVICE, host.byteSize());
                paced |= copied(pipeline, pacedUntil);
            }
        }
        pipeline.unannounced = tile;
        if (!paced)
            pipeline.announceUploaded();
    }

    /**
     * The copy thread's step after the bytes of a copy moved: tells the kernels of the tile uploaded before, then
     * lets the copy's modelled time pass. Whether there was one.
     */
    private static boolean copied(Pipeline pipeline, long pacedUntil) {
        pipeline.announceUploaded();
        if (pipeline.inlineKernels != null)
            pipeline.computeNext();
        NativeCopyEngine.pace(pacedUntil);
        return pacedUntil != 0;
    }

    private void download(Pipeline pipeline, NativeCopyEngine engine, long staging, long tile, int sets,
            MemorySegment stats) {
        for (Stream stream : streams) {
            if (stream.sumResult()) {
                // The tile's partial result comes home to a scratch float and is added in double.
                MemorySegment partial = pipeline.partial.asSlice(0, Float.BYTES);
                long pacedUntil = engine.copyToHostUnpaced(partial, slotAddress(staging, tile, sets, stream));
                count(stats, hmm4j_h.HMM4J_TO_HOST, Float.BYTES);
                pipeline.sum += partial.get(ValueLayout.JAVA_FLOAT, 0);
                copied(pipeline, pacedUntil);
            } else if (stream.access().writes()) {
                MemorySegment host = hostTile(stream, tile);
                long pacedUntil = engine.copyToHostUnpaced(host, slotAddress(staging, tile, sets, stream));
                count(stats, hmm4j_h.HMM4J_TO_HOST, host.byteSize());
                copied(pipeline, pacedUntil);
            }
        }
    }

    /** The heap's counters (and metrics) see a tile's bytes as launch migrations, as they would without tiling. */
    private static void count(MemorySegment stats, int direction, long bytes) {
        NativeErrors.check("hmm4j_stats_count_copy",
                hmm4j_h.hmm4j_stats_count_copy(stats, direction, MigrationCause.LAUNCH.code(), bytes));
    }

    private void compute(Device device, Kernel kernel, NativeCopyEngine engine, long staging, long tile, int sets) {
        long length = length(tile);
        List<KernelArgument> arguments = new ArrayList<>(params.size());
        for (Param param : params) {
            arguments.add(switch (param) {
                case Param.Array(int index) -> {
                    Stream stream = streams.get(index);
                    long bytes = (stream.sumResult() ? 1 : length) * stream.elementSize();
                    yield new KernelArgument.Buffer(slotAddress(staging, tile, sets, stream), bytes, stream.access(),
                            stream.sumResult() ? stream.host().asSlice(0, bytes) : hostTile(stream, tile));
                }
                case Param.Count(boolean asInt) -> new KernelArgument.Scalar(asInt ? (Number) (int) length : length);
                case Param.Fixed(Number value) -> new KernelArgument.Scalar(value);
            });
        }
        // The tile's kernel is waited for at once: queued on an emulated device's compute engine it would only
        // add two thread hand-offs per tile (and a third busy thread beside the copier on a small machine);
        // an emulated device's launch runs it in this thread (EmulatedDevice#launch).
        if (device.kind() == DeviceKind.EMULATED) {
            device.launch(kernel, length, arguments);
            return;
        }
        long event = device.launchRecorded(kernel, length, arguments);
        Fence fence = event != 0 ? Fence.create(engine, event) : null;
        if (fence != null) {
            try {
                fence.await();
            } finally {
                fence.release();
            }
        } else if (!device.launchesAreSynchronous()) {
            device.synchronize();
        }
    }

    /**
     * A copy thread, kept idle for a while after its launch: starting a thread costs a launch about a tile's copy
     * (much more on a busy machine), and a program that tiles once tends to again. A copier is back among the idle
     * ones before its launch hears that it is done, so launches one after another share one.
     */
    private static final class Copier {
        private static final long KEEP_ALIVE_NANOS = TimeUnit.SECONDS.toNanos(30);
        /** Idle copiers, the latest first. */
        private static final Deque<Copier> IDLE = new ArrayDeque<>(); // guarded by IDLE

        private final Thread thread = Thread.ofPlatform().daemon().name("hmm4j-tile-copies-", 0).unstarted(this::loop);
        private Runnable copies; // guarded by this
        private Runnable done; // guarded by this

        /**
         * Runs {@code copies} on an idle copier or a new one, then {@code done}, which must not throw.
         *
         * @throws OutOfMemoryError if no copier was idle and no thread can be started; nothing runs then
         */
        static void start(Runnable copies, Runnable done) {
            Copier copier;
            synchronized (IDLE) {
                copier = IDLE.pollFirst();
            }
            boolean fresh = copier == null;
            if (fresh)
                copier = new Copier();
            copier.hand(copies, done);
            if (fresh)
                copier.thread.start();
        }

        private synchronized void hand(Runnable copies, Runnable done) {
            this.copies = copies;
            this.done = done;
            notifyAll();
        }

        private void loop() {
            while (true) {
                Runnable copies;
                Runnable done;
                synchronized (this) {
                    long idleSince = System.nanoTime();
                    boolean mayRetire = true;
                    while (this.copies == null) {
                        long left = KEEP_ALIVE_NANOS - (System.nanoTime() - idleSince);
                        if (mayRetire && left <= 0) {
                            synchronized (IDLE) {
                                if (IDLE.remove(this))
                                    return;
                            }
                            // A launch took this copier from the idle ones and is about to hand it its copies.
                            mayRetire = false;
                        }
                        try {
                            if (mayRetire)
                                TimeUnit.NANOSECONDS.timedWait(this, left);
                            else
                                wait();
                        } catch (InterruptedException e) {
                            // Nothing interrupts a copier on purpose; it waits on.
                        }
                    }
                    copies = this.copies;
                    done = this.done;
                    this.copies = null;
                    this.done = null;
                }
                boolean completed = false;
                try {
                    copies.run();
                    completed = true;
                } finally {
                    // A copier that threw ends with it: it must not be handed another launch.
                    if (completed) {
                        synchronized (IDLE) {
                            IDLE.addFirst(this);
                        }
                    }
                    done.run();
                }
            }
        }
    }

    /**
     * Progress of the two threads, and the first failure of either. Where the machine has a core to spare beside
     * the two busy ones (the copier and whatever runs the kernels), a wait spins briefly before it blocks: the
     * other thread's next step is usually a copy or a kernel away, and a blocked thread's wake-up costs as much.
     * Without one the spin only takes the core of the thread it waits for.
     *
     * <p>A thread that blocks parks, after saying so in a flag; the other wakes it only if the flag is up. Most
     * progress (a tile uploaded while the kernels run, a tile computed while the copier copies) then costs a volatile
     * write and no system call, and the ones that do wake a thread wake just it: a monitor's notify would also make
     * the woken thread take the monitor, often while the notifier still holds it. The copier's wake-ups of the
     * launching thread fall inside the modelled time of a copy on an emulated bus, and there they take from the
     * copy's slack. No wake-up is lost: the waiter raises its flag and then looks at the progress, the other thread
     * writes the progress and then looks at the flag (both volatile), so one of them sees the other.
     */
    private static final class Pipeline {
        private static final long SPIN_NANOS = Runtime.getRuntime().availableProcessors() > 2 ? 20_000 : 0;

        final long tiles;
        final int sets;
        /** Runs a tile's kernel in the copying thread, or null where the launching thread runs them. */
        LongConsumer inlineKernels;
        /** The copy thread's: scratch for a tile's partial result, and the sum of those brought home. */
        MemorySegment partial;
        double sum;
        /** The copy thread's: the last tile it uploaded that the kernels have not heard of yet, or -1. */
        long unannounced = -1;
        /** The thread that runs the kernels (it created the pipeline) and the copy thread, once it started. */
        private final Thread launcher = Thread.currentThread();
        private volatile Thread copier;
        private volatile long uploaded = -1;
        private volatile long computed = -1;
        private volatile Throwable failure; // written under this, which also guards the suppressed ones it collects
        private volatile boolean copierDone;
        private volatile boolean launcherParked;
        private volatile boolean copierParked;
        /** The launcher's: an interrupt it took while waiting, given back when the launch ends. */
        private boolean interrupted;

        Pipeline(long tiles, int sets) {
            this.tiles = tiles;
            this.sets = sets;
        }

        /** The copy thread's first step: from here on the kernels can wake it. */
        void copierStarted() {
            copier = Thread.currentThread();
        }

        /** The copy thread's: tells the kernels of the tile it uploaded last, if they have not heard of it. */
        void announceUploaded() {
            if (unannounced < 0)
                return;
            uploaded = unannounced;
            unannounced = -1;
            if (launcherParked)
                LockSupport.unpark(launcher);
        }

        void computed(long tile) {
            computed = tile;
            if (copierParked)
                LockSupport.unpark(copier);
        }

        /** The copying thread's, with inline kernels: runs the next announced tile's kernel, if there is one. */
        void computeNext() {
            long k = computed + 1;
            if (k > uploaded || failure != null)
                return;
            try {
                inlineKernels.accept(k);
            } catch (RuntimeException | Error e) {
                fail(e);
                return;
            }
            computed = k;
        }

        long computedNow() {
            return computed;
        }

        boolean failed() {
            return failure != null;
        }

        void fail(Throwable e) {
            synchronized (this) {
                if (failure == null)
                    failure = e;
                else if (failure != e)
                    failure.addSuppressed(e);
            }
            LockSupport.unpark(launcher);
            LockSupport.unpark(copier);
        }

        /** The launcher's: whether tile {@code k} is on the device; false once either thread failed. */
        boolean awaitUploaded(long k) {
            spinWhile(() -> uploaded < k && failure == null);
            parkLauncherWhile(() -> uploaded < k && failure == null);
            return failure == null;
        }

        /**
         * The copier's: whether tile {@code k} was computed: a kernel that failed after it does not keep it from going
         * home.
         */
        boolean awaitComputed(long k) {
            spinWhile(() -> computed < k && failure == null);
            while (computed < k && failure == null) {
                copierParked = true;
                if (computed < k && failure == null)
                    LockSupport.park(this);
                copierParked = false;
                // Nothing interrupts a copier on purpose; it waits on (park would not, with the flag set).
                Thread.interrupted();
            }
            return computed >= k;
        }

        private static void spinWhile(BooleanSupplier condition) {
            long start = System.nanoTime();
            while (condition.getAsBoolean() && System.nanoTime() - start < SPIN_NANOS)
                Thread.onSpinWait();
        }

        private void parkLauncherWhile(BooleanSupplier waiting) {
            while (waiting.getAsBoolean()) {
                launcherParked = true;
                if (waiting.getAsBoolean())
                    LockSupport.park(this);
                launcherParked = false;
                // The launch finishes or fails cleanly; the interrupt is given back when it returns.
                if (Thread.interrupted())
                    interrupted = true;
            }
        }

        void copierDone() {
            copierDone = true;
            LockSupport.unpark(launcher);
        }

        /** The launcher's: returns once the copy thread is done with the launch; an interrupt is given back. */
        void awaitCopierUninterruptibly() {
            parkLauncherWhile(() -> !copierDone);
            if (interrupted)
                Thread.currentThread().interrupt();
        }

        void rethrow() {
            switch (failure) {
                case null -> { }
                case RuntimeException e -> throw e;
                case Error e -> throw e;
                default -> throw new IllegalStateException("tiled launch failed", failure);
            }
        }
    }
}
