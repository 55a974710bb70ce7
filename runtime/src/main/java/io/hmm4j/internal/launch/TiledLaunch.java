package io.hmm4j.internal.launch;

import io.hmm4j.Access;
import io.hmm4j.Arg;
import io.hmm4j.ManagedArray;
import io.hmm4j.internal.engine.Fence;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelArgument;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A launch of an element-wise kernel streamed through device memory in tiles (TornadoVM's batch processing), for
 * arrays that do not fit on the device at once. Tile {@code k} covers elements {@code [k * tileElements,
 * min(n, (k + 1) * tileElements))} of every array argument; it runs on two sets of tile buffers (double buffering):
 * while the kernel computes tile {@code k} in one set, a copy thread brings tile {@code k - 1}'s written arrays
 * home from the other set and then uploads tile {@code k + 1}'s read arrays into it. All copies go through one
 * thread in order, as over one bus, so the bus carries exactly the bytes a copy-in / copy-out loop would; only
 * the kernels overlap with it.
 *
 * <p>This class is the mechanism only: the heap pins the arrays, brings their bytes home, reserves the tile
 * buffers ({@link #stagingBytes()}) and gives them back; the arrays' host memory is their only valid copy while
 * the tiles stream, and it is read and written directly.
 */
public final class TiledLaunch {

    /** One array the tiles stream, with the access the kernel makes of it (arguments naming it merged). */
    private record Stream(MemorySegment host, long elementSize, Access access, long slotOffset, long slotBytes) {}

    /** A kernel parameter as each tile passes it. */
    private sealed interface Param {
        record Array(int stream) implements Param {}

        /** The element count, as an Integer or a Long like the launch's own. */
        record Count(boolean asInt) implements Param {}

        record Fixed(Number value) implements Param {}
    }

    private final String kernelName;
    private final long n;
    private final long tileElements;
    private final List<Stream> streams;
    private final List<Param> params;
    /** Bytes of one set of tile buffers: every stream's slot, each a whole number of blocks. */
    private final long setBytes;

    private TiledLaunch(String kernelName, long n, long tileElements, List<Stream> streams, List<Param> params,
            long setBytes) {
        this.kernelName = kernelName;
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
     * @throws IllegalArgumentException if {@code n <= 0}, {@code tileBytes <= 0}, an array holds fewer than
     *     {@code n} elements, the count argument is not an int or long equal to {@code n}, or the tile sizes
     *     overflow
     */
    public static TiledLaunch plan(String kernelName, Arg[] args, Map<ManagedArray, Access> access, int countArgument,
            long n, long tileBytes, long blockSize) {
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
        Map<ManagedArray, Integer> streamOf = new IdentityHashMap<>();
        List<ManagedArray> arrays = new ArrayList<>();
        List<Param> params = new ArrayList<>(args.length);
        long widest = 1;
        for (int i = 0; i < args.length; i++) {
            Arg arg = args[i];
            if (arg instanceof Arg.Array(ManagedArray array, Access ignored)) {
                long elementSize = array.elementLayout().byteSize();
                if (array.byteSize() / elementSize < n)
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
                long slot = Math.multiplyExact(Math.ceilDiv(Math.multiplyExact(tileElements, elementSize), blockSize),
                        blockSize);
                streams.add(new Stream(array.segment(), elementSize, access.get(array), setBytes, slot));
                setBytes = Math.addExact(setBytes, slot);
            }
            Math.multiplyExact(setBytes, 2);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("tiles of " + roundedTile + " bytes for " + arrays.size()
                    + " arrays overflow a long");
        }
        return new TiledLaunch(kernelName, n, tileElements, List.copyOf(streams), List.copyOf(params), setBytes);
    }

    /** Device memory the launch needs at once: two sets of tile buffers. */
    public long stagingBytes() {
        return 2 * setBytes;
    }

    /** Elements per tile (the last one may hold fewer). */
    public long tileElements() {
        return tileElements;
    }

    public long tiles() {
        return Math.ceilDiv(n, tileElements);
    }

    /**
     * Streams every tile through {@code staging} ({@link #stagingBytes()} of device memory of {@code device}) and
     * returns when the last written tile is home. The calling thread launches the kernels; one copy thread does
     * every copy. On failure the tiles before the failed one have been computed and brought home, later ones are
     * untouched; nothing runs any more when this returns or throws.
     *
     * @throws io.hmm4j.DeviceException if a copy or a kernel failed (the first failure; later ones suppressed)
     */
    public void run(Device device, Kernel kernel, NativeCopyEngine engine, long staging) {
        Pipeline pipeline = new Pipeline(tiles());
        Thread copier = Thread.ofPlatform().daemon().name("hmm4j-tile-copies-" + kernelName)
                .unstarted(() -> copyAll(pipeline, engine, staging));
        copier.start();
        try {
            for (long k = 0; k < pipeline.tiles; k++) {
                if (!pipeline.awaitUploaded(k))
                    break;
                try {
                    compute(device, kernel, engine, staging, k);
                } catch (RuntimeException | Error e) {
                    pipeline.fail(e);
                    break;
                }
                pipeline.computed(k);
            }
        } finally {
            // The tile buffers are given back after this returns: no copy may still be using them.
            pipeline.joinUninterruptibly(copier);
        }
        pipeline.rethrow();
    }

    /** The copy thread: up(0), then for each tile k >= 1 up(k) and down(k - 1), and down of the last tile. */
    private void copyAll(Pipeline pipeline, NativeCopyEngine engine, long staging) {
        try {
            for (long k = 0; k < pipeline.tiles; k++) {
                if (pipeline.failed()) {
                    // Still bring home the last tile computed before the failure.
                    if (k > 0 && pipeline.awaitComputed(k - 1))
                        download(engine, staging, k - 1);
                    return;
                }
                // Tile k reuses tile k - 2's buffers, whose written arrays went home at step k - 1.
                upload(engine, staging, k);
                pipeline.uploaded(k);
                if (k > 0) {
                    if (!pipeline.awaitComputed(k - 1))
                        return;
                    download(engine, staging, k - 1);
                }
            }
            if (pipeline.awaitComputed(pipeline.tiles - 1))
                download(engine, staging, pipeline.tiles - 1);
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

    private long slotAddress(long staging, long tile, Stream stream) {
        return staging + (tile & 1) * setBytes + stream.slotOffset();
    }

    private MemorySegment hostTile(Stream stream, long tile) {
        return stream.host().asSlice(start(tile) * stream.elementSize(), length(tile) * stream.elementSize());
    }

    private void upload(NativeCopyEngine engine, long staging, long tile) {
        for (Stream stream : streams)
            if (stream.access().reads())
                engine.copyToDevice(slotAddress(staging, tile, stream), hostTile(stream, tile));
    }

    private void download(NativeCopyEngine engine, long staging, long tile) {
        for (Stream stream : streams)
            if (stream.access().writes())
                engine.copyToHost(hostTile(stream, tile), slotAddress(staging, tile, stream));
    }

    private void compute(Device device, Kernel kernel, NativeCopyEngine engine, long staging, long tile) {
        long length = length(tile);
        List<KernelArgument> arguments = new ArrayList<>(params.size());
        for (Param param : params) {
            arguments.add(switch (param) {
                case Param.Array(int index) -> {
                    Stream stream = streams.get(index);
                    yield new KernelArgument.Buffer(slotAddress(staging, tile, stream), length * stream.elementSize(),
                            stream.access(), hostTile(stream, tile));
                }
                case Param.Count(boolean asInt) -> new KernelArgument.Scalar(asInt ? (Number) (int) length : length);
                case Param.Fixed(Number value) -> new KernelArgument.Scalar(value);
            });
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

    /** Progress of the two threads, and the first failure of either. */
    private static final class Pipeline {
        final long tiles;
        private long uploaded = -1;
        private long computed = -1;
        private Throwable failure;
        private boolean interrupted;

        Pipeline(long tiles) {
            this.tiles = tiles;
        }

        synchronized void uploaded(long tile) {
            uploaded = tile;
            notifyAll();
        }

        synchronized void computed(long tile) {
            computed = tile;
            notifyAll();
        }

        synchronized void fail(Throwable e) {
            if (failure == null)
                failure = e;
            else if (failure != e)
                failure.addSuppressed(e);
            notifyAll();
        }

        /** Whether tile {@code k} is on the device; false once either thread failed. */
        synchronized boolean awaitUploaded(long k) {
            while (uploaded < k && failure == null)
                waitUninterruptibly();
            return failure == null;
        }

        /** Whether tile {@code k} was computed: a kernel that failed after it does not keep it from going home. */
        synchronized boolean awaitComputed(long k) {
            while (computed < k && failure == null)
                waitUninterruptibly();
            return computed >= k;
        }

        synchronized boolean failed() {
            return failure != null;
        }

        private void waitUninterruptibly() {
            try {
                wait();
            } catch (InterruptedException e) {
                // The launch finishes or fails cleanly; the interrupt is given back when it returns.
                interrupted = true;
            }
        }

        void joinUninterruptibly(Thread copier) {
            while (true) {
                try {
                    copier.join();
                    break;
                } catch (InterruptedException e) {
                    synchronized (this) {
                        interrupted = true;
                    }
                }
            }
            synchronized (this) {
                if (interrupted)
                    Thread.currentThread().interrupt();
            }
        }

        synchronized void rethrow() {
            switch (failure) {
                case null -> { }
                case RuntimeException e -> throw e;
                case Error e -> throw e;
                default -> throw new IllegalStateException("tiled launch failed", failure);
            }
        }
    }
}
