package io.hmm4j.spi;

import io.hmm4j.internal.engine.NativeErrors;
import io.hmm4j.internal.ffm.hmm4j_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A device's table of native copy functions ({@code struct hmm4j_device}), through which the fault engine
 * moves blocks without leaving C. Backends create one per device with the factory for their kind and close it
 * with the device.
 */
public final class NativeCopyEngine implements AutoCloseable {

    /** One-shot fault injection points, for tests of the failure paths. */
    public enum Injection {
        /** The next copy to the device fails after the given number of bytes. */
        COPY_TO_DEVICE(hmm4j_h.HMM4J_INJECT_COPY_TO_DEVICE),
        /** The next copy to the host fails after the given number of bytes. */
        COPY_TO_HOST(hmm4j_h.HMM4J_INJECT_COPY_TO_HOST),
        /** Every later copy to the device fails; copies home still work so data can be evacuated. */
        DEVICE_LOST(hmm4j_h.HMM4J_INJECT_DEVICE_LOST),
        /** Every later copy to the host fails as well: device-only data is gone (a dead GPU). */
        DEVICE_UNREADABLE(hmm4j_h.HMM4J_INJECT_DEVICE_UNREADABLE);

        final int code;

        Injection(int code) {
            this.code = code;
        }
    }

    /** Per thread: where an unpaced copy's native call stores its pacing time (a copy thread makes many). */
    private static final ThreadLocal<MemorySegment> PACED_UNTIL = ThreadLocal.withInitial(
            () -> Arena.ofAuto().allocate(ValueLayout.JAVA_LONG));

    private final MemorySegment handle;
    private final String deviceId;
    private final AtomicBoolean closed = new AtomicBoolean();

    private NativeCopyEngine(MemorySegment handle, String deviceId) {
        this.handle = handle;
        this.deviceId = deviceId;
    }

    /** Whether the native engine (libhmm4j) loads on this machine; every backend needs it. */
    public static boolean engineAvailable() {
        return io.hmm4j.internal.engine.NativeLibrary.isAvailable();
    }

    /** Why the native engine does not load, or {@code null}. */
    public static String engineUnavailabilityCause() {
        Throwable cause = io.hmm4j.internal.engine.NativeLibrary.unavailabilityCause();
        return cause == null ? null : cause.getMessage();
    }

    /**
     * Puts the engine's fault handler back in front of a signal handler a driver installed over it. Backends
     * call it after every driver call that may install one (an OpenCL program build: PoCL's LLVM installs a
     * non-chaining SIGSEGV handler then, and a fault in a managed array would kill the process).
     *
     * @throws UnsatisfiedLinkError if the native engine cannot load
     */
    public static void ensureFaultHandler() {
        io.hmm4j.internal.engine.Engine.ensureHandler();
    }

    /** Copies with memcpy, taking {@code latencyNanos} plus bytes at {@code bytesPerSecond} (0: no limit). */
    public static NativeCopyEngine emulated(String deviceId, long latencyNanos, long bytesPerSecond) {
        if (latencyNanos < 0 || bytesPerSecond < 0)
            throw new IllegalArgumentException("latency and bandwidth must be >= 0");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            NativeErrors.check("hmm4j_device_create_emulated",
                    hmm4j_h.hmm4j_device_create_emulated(latencyNanos, bytesPerSecond, out));
            return new NativeCopyEngine(out.get(ValueLayout.ADDRESS, 0), deviceId);
        }
    }

    /**
     * An emulated device with a copy engine and a compute engine (native worker threads) when {@code overlap}:
     * copies to the device enqueued by a launch run while the kernel before it computes (see
     * {@link #launchEmulated}); without overlap the same copies and kernels run one after the other in the calling
     * thread. A kernel takes at least the bytes it reads and writes at {@code kernelBytesPerSecond} (0: no model).
     */
    public static NativeCopyEngine emulated(String deviceId, long latencyNanos, long bytesPerSecond,
            long kernelBytesPerSecond, boolean overlap) {
        if (latencyNanos < 0 || bytesPerSecond < 0 || kernelBytesPerSecond < 0)
            throw new IllegalArgumentException("latency and bandwidths must be >= 0");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            NativeErrors.check("hmm4j_device_create_emulated_engines", hmm4j_h.hmm4j_device_create_emulated_engines(
                    latencyNanos, bytesPerSecond, kernelBytesPerSecond, overlap ? 1 : 0, out));
            return new NativeCopyEngine(out.get(ValueLayout.ADDRESS, 0), deviceId);
        }
    }

    /**
     * Emulated devices only: prices copies to this device from another emulated device (device to device, direct)
     * at {@code latencyNanos} plus bytes at {@code bytesPerSecond} (0: memcpy speed) instead of its own bus's price.
     *
     * @throws IllegalArgumentException for a negative value or a device that is not emulated
     */
    public void emulatedPeer(long latencyNanos, long bytesPerSecond) {
        if (latencyNanos < 0 || bytesPerSecond < 0)
            throw new IllegalArgumentException("peer latency and bandwidth must be >= 0");
        NativeErrors.check("hmm4j_device_emulated_set_peer",
                hmm4j_h.hmm4j_device_emulated_set_peer(handle(), latencyNanos, bytesPerSecond));
    }

    /**
     * Emulated devices only: runs {@code kernel}'s C body over {@code arguments} (checked against its
     * {@link BuiltinSignature} by the caller) after the copies to the device enqueued before. With {@code queued}
     * on a device created with overlap, the kernel is queued on the device's compute engine and the raw handle of
     * an event that completes with it is returned, for the runtime's fences; otherwise it has run when this returns
     * and the result is 0. A {@code null} kernel runs nothing: it waits for the queued copies (the caller runs a
     * Java kernel next) and, if {@code queued}, returns an event already complete.
     *
     * @throws io.hmm4j.DeviceException if the device is lost or closed
     */
    public long launchEmulated(io.hmm4j.BuiltinKernel kernel, java.util.List<KernelArgument> arguments,
            boolean queued) {
        if (arguments.size() > hmm4j_h.HMM4J_EMULATED_MAX_ARGS)
            throw new IllegalArgumentException("at most " + hmm4j_h.HMM4J_EMULATED_MAX_ARGS + " arguments: "
                    + arguments.size());
        int id = kernel == null ? hmm4j_h.HMM4J_EMULATED_HOST_KERNEL : switch (kernel) {
            case FILL -> hmm4j_h.HMM4J_EMULATED_FILL;
            case SCALE -> hmm4j_h.HMM4J_EMULATED_SCALE;
            case AXPY -> hmm4j_h.HMM4J_EMULATED_AXPY;
            case DOT -> hmm4j_h.HMM4J_EMULATED_DOT;
            case SUM -> hmm4j_h.HMM4J_EMULATED_SUM;
            case STENCIL_2D -> hmm4j_h.HMM4J_EMULATED_STENCIL_2D;
        };
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment args = arena.allocate(ValueLayout.JAVA_LONG, Math.max(1, arguments.size()));
            for (int i = 0; i < arguments.size(); i++)
                args.setAtIndex(ValueLayout.JAVA_LONG, i, switch (arguments.get(i)) {
                    case KernelArgument.Buffer buffer -> buffer.deviceAddress();
                    case KernelArgument.Scalar(Float f) -> Float.floatToRawIntBits(f) & 0xffff_ffffL;
                    case KernelArgument.Scalar(Double d) -> Double.doubleToRawLongBits(d);
                    case KernelArgument.Scalar(Number value) -> value.longValue();
                });
            MemorySegment event = queued ? arena.allocate(ValueLayout.JAVA_LONG) : MemorySegment.NULL;
            int rc = hmm4j_h.hmm4j_device_emulated_launch(handle(), id, args, arguments.size(), event);
            NativeErrors.checkDevice("hmm4j_device_emulated_launch", rc, deviceId, lastError());
            return queued ? event.get(ValueLayout.JAVA_LONG, 0) : 0;
        }
    }

    /**
     * Zero-copy placement: makes {@code host} (a region's engine view) addressable by kernels on this device and
     * returns the address they use ({@code hmm4j_device_map_host}): CUDA page-locks and maps it under the pinned
     * limit ({@link #limitPinnedBytes}); an emulated device reads it over its bus. Undo with {@link #unmapHost}.
     *
     * @throws UnsupportedOperationException for a device whose engine cannot address host memory (OpenCL wraps it in
     *     its own buffers)
     * @throws io.hmm4j.DeviceOutOfMemoryException if the pinned limit is full or the driver refuses to lock the pages
     * @throws io.hmm4j.DeviceException if the device is lost or closed
     */
    public long mapHost(MemorySegment host) {
        Objects.requireNonNull(host, "host");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG);
            int rc = hmm4j_h.hmm4j_device_map_host(handle(), host, host.byteSize(), out);
            if (rc == -95)
                throw new UnsupportedOperationException(deviceId + " cannot address host memory from its copy engine");
            if (rc == -12)
                throw new io.hmm4j.DeviceOutOfMemoryException("cannot page-lock and map " + host.byteSize()
                        + " bytes of host memory for " + deviceId + ": its pinned-host limit is full (" + pinnedBytes()
                        + " bytes pinned; ManagedHeap.Builder.pinnedHostLimit) or the driver refused (error "
                        + lastError() + ")", deviceId);
            NativeErrors.checkDevice("hmm4j_device_map_host", rc, deviceId, lastError());
            return out.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    /** Undoes {@link #mapHost} for the same segment. */
    public void unmapHost(MemorySegment host) {
        hmm4j_h.hmm4j_device_unmap_host(handle(), host, host.byteSize());
    }

    /** {@code bytes} if {@code [address, address + bytes)} lies in host memory {@link #mapHost mapped} here, else 0. */
    public long hostMappedBytes(long address, long bytes) {
        return hmm4j_h.hmm4j_device_host_mapped_bytes(handle(), address, bytes);
    }

    /**
     * Emulated devices: returns once moving {@code bytes} over the device's bus, started at {@code startNanos}
     * ({@link System#nanoTime()}: on Linux CLOCK_MONOTONIC, the engine's clock), would be done.
     */
    public void emulatedBusWait(long startNanos, long bytes) {
        NativeErrors.check("hmm4j_device_emulated_bus_wait",
                hmm4j_h.hmm4j_device_emulated_bus_wait(handle(), startNanos, bytes));
    }

    /** Copies with libcuda in {@code context} (a CUcontext) on {@code stream} (a CUstream, 0 = default). */
    public static NativeCopyEngine cuda(String deviceId, String libcudaPath, long context, long stream) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            MemorySegment path = libcudaPath == null ? MemorySegment.NULL : arena.allocateFrom(libcudaPath);
            NativeErrors.check("hmm4j_device_create_cuda(" + Objects.requireNonNullElse(libcudaPath, "libcuda.so.1") + ")",
                    hmm4j_h.hmm4j_device_create_cuda(path, context, stream, out));
            return new NativeCopyEngine(out.get(ValueLayout.ADDRESS, 0), deviceId);
        }
    }

    /** Copies with libOpenCL on {@code queue} (a cl_command_queue); buffers are registered by slot. */
    public static NativeCopyEngine openCl(String deviceId, String libOpenClPath, long queue) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            MemorySegment path = libOpenClPath == null ? MemorySegment.NULL : arena.allocateFrom(libOpenClPath);
            NativeErrors.check("hmm4j_device_create_opencl(" + Objects.requireNonNullElse(libOpenClPath, "libOpenCL.so.1") + ")",
                    hmm4j_h.hmm4j_device_create_opencl(path, queue, out));
            return new NativeCopyEngine(out.get(ValueLayout.ADDRESS, 0), deviceId);
        }
    }

    /** OpenCL only: device addresses {@code (slot << 48) | offset} refer to {@code clMem}. */
    public void setOpenClBuffer(int slot, long clMem) {
        NativeErrors.check("hmm4j_device_opencl_set_buffer", hmm4j_h.hmm4j_device_opencl_set_buffer(handle(), slot, clMem));
    }

    /**
     * OpenCL only: {@code copyQueue} (a cl_command_queue of the device's context, in order) becomes the device's
     * second copy engine: copies to the device a launch enqueues without waiting go there, so they overlap the
     * kernels on the launch queue. Call {@link #orderLaunch()} right before every launch enqueue. Set it once,
     * before the engine is used; keep the queue until this engine is closed.
     */
    public void setOpenClCopyQueue(long copyQueue) {
        NativeErrors.check("hmm4j_device_opencl_set_copy_queue",
                hmm4j_h.hmm4j_device_opencl_set_copy_queue(handle(), copyQueue));
    }

    /**
     * CUDA only: {@code copyStream} (a CUstream of the device's context) becomes the device's second copy engine, as
     * {@link #setOpenClCopyQueue} does for OpenCL. Call {@link #orderLaunch()} right before every launch.
     */
    public void setCudaCopyStream(long copyStream) {
        NativeErrors.check("hmm4j_device_cuda_set_copy_stream",
                hmm4j_h.hmm4j_device_cuda_set_copy_stream(handle(), copyStream));
    }

    /**
     * Makes the launch the caller enqueues next on the device's launch queue (or stream) start after the copies to
     * the device enqueued so far on its copy queue (or stream); nothing where the device has none.
     *
     * @throws io.hmm4j.DeviceException if the driver fails or the engine's device is closed
     */
    public void orderLaunch() {
        int rc = hmm4j_h.hmm4j_device_order_launch(handle());
        NativeErrors.checkDevice("hmm4j_device_order_launch", rc, deviceId, lastError());
    }

    /** The {@code struct hmm4j_device *} for the engine. */
    public MemorySegment handle() {
        if (closed.get())
            throw new IllegalStateException("copy engine of " + deviceId + " is closed");
        return handle;
    }

    public String deviceId() {
        return deviceId;
    }

    public void copyToDevice(long deviceAddress, MemorySegment source) {
        int rc = hmm4j_h.hmm4j_device_copy_to_device(handle(), deviceAddress, source, source.byteSize());
        NativeErrors.checkDevice("hmm4j_device_copy_to_device", rc, deviceId, lastError());
    }

    public void copyToHost(MemorySegment destination, long deviceAddress) {
        int rc = hmm4j_h.hmm4j_device_copy_to_host(handle(), destination, deviceAddress, destination.byteSize());
        NativeErrors.checkDevice("hmm4j_device_copy_to_host", rc, deviceId, lastError());
    }

    /**
     * {@link #copyToDevice} without waiting out the copy's modelled time (an emulated device's bus): the bytes have
     * moved when it returns. Returns what to pass to {@link #pace} once the caller has done what it could meanwhile
     * (a copy thread: handing earlier work on), so that copies made one after another occupy the modelled bus as
     * plain ones do; 0 where nothing is modelled (other backends copy for real).
     */
    public long copyToDeviceUnpaced(long deviceAddress, MemorySegment source) {
        return copyUnpaced(hmm4j_h.HMM4J_TO_DEVICE, deviceAddress, source);
    }

    /** {@link #copyToHost} without waiting out its modelled time; see {@link #copyToDeviceUnpaced}. */
    public long copyToHostUnpaced(MemorySegment destination, long deviceAddress) {
        return copyUnpaced(hmm4j_h.HMM4J_TO_HOST, deviceAddress, destination);
    }

    private long copyUnpaced(int direction, long deviceAddress, MemorySegment host) {
        MemorySegment pacedUntil = PACED_UNTIL.get();
        int rc = hmm4j_h.hmm4j_device_copy_unpaced(handle(), direction, deviceAddress, host, host.byteSize(),
                pacedUntil);
        NativeErrors.checkDevice("hmm4j_device_copy_unpaced", rc, deviceId, lastError());
        return pacedUntil.get(ValueLayout.JAVA_LONG, 0);
    }

    /**
     * Returns once the modelled time of an unpaced copy ({@link #copyToDeviceUnpaced}) is over; at once for 0.
     *
     * @throws IllegalArgumentException if {@code pacedUntil} is negative (no unpaced copy returns one)
     */
    public static void pace(long pacedUntil) {
        if (pacedUntil < 0)
            throw new IllegalArgumentException("pacedUntil must be a time an unpaced copy returned: " + pacedUntil);
        if (pacedUntil != 0)
            hmm4j_h.hmm4j_device_pace(pacedUntil);
    }

    public void zero(long deviceAddress, long bytes) {
        int rc = hmm4j_h.hmm4j_device_zero(handle(), deviceAddress, bytes);
        NativeErrors.checkDevice("hmm4j_device_zero", rc, deviceId, lastError());
    }

    public void synchronize() {
        int rc = hmm4j_h.hmm4j_device_synchronize(handle());
        NativeErrors.checkDevice("hmm4j_device_synchronize", rc, deviceId, lastError());
    }

    /** Test hook: how many waits (faults, awaits) drained the whole device. */
    public long synchronizations() {
        return hmm4j_h.hmm4j_device_synchronizations(handle());
    }

    /** Test hook: how many waits waited for one launch's recorded event. */
    public long eventWaits() {
        return hmm4j_h.hmm4j_device_event_waits(handle());
    }

    /** Test hook: how many copies left their modelled time to the caller ({@link #copyToDeviceUnpaced}). */
    public long unpacedCopies() {
        return hmm4j_h.hmm4j_device_unpaced_copies(handle());
    }

    /** Test hook: how many copies to the device were enqueued without waiting for them. */
    public long asyncCopies() {
        return hmm4j_h.hmm4j_device_async_copies(handle());
    }

    /**
     * Keeps the host memory page-locked with this device (CUDA: a region's kept pages, registered so moves DMA
     * directly) at or below {@code bytes}; a region over the limit stays unpinned and its copies stage through the
     * driver. Lowering the limit unpins nothing already pinned.
     *
     * @throws IllegalArgumentException if {@code bytes < 0}
     */
    public void limitPinnedBytes(long bytes) {
        if (bytes < 0)
            throw new IllegalArgumentException("pinned-bytes limit < 0: " + bytes);
        hmm4j_h.hmm4j_device_set_pinned_limit(handle(), bytes);
    }

    /** Host bytes page-locked with this device now. */
    public long pinnedBytes() {
        return hmm4j_h.hmm4j_device_pinned_bytes(handle());
    }

    /** How many times a region stayed unpinned because the pinned-bytes limit was full. */
    public long pinRefusals() {
        return hmm4j_h.hmm4j_device_pin_refusals(handle());
    }

    /**
     * Test hook: a device that cannot page-lock memory (emulated) accounts pins from now on as a CUDA device does,
     * so the pinned-bytes limit and its interplay with reclaim can be tested without a GPU.
     */
    public void pretendPinning() {
        hmm4j_h.hmm4j_device_test_pretend_pinning(handle());
    }

    /** The backend's raw code of the last failure (CUresult, cl_int, errno). */
    public long lastError() {
        return hmm4j_h.hmm4j_device_last_error(handle());
    }

    /** Arms a fault injection; see {@link Injection}. */
    public void inject(Injection what, long afterBytes) {
        if (afterBytes < 0)
            throw new IllegalArgumentException("afterBytes < 0");
        hmm4j_h.hmm4j_device_inject(handle(), what.code, afterBytes);
    }

    /**
     * Releases the native table. Regions should have been unbound; one still bound keeps the table allocated
     * until it is unbound or destroyed, and every copy through this engine fails from now on (as a lost
     * device). Idempotent.
     */
    @Override
    public void close() {
        if (closed.compareAndSet(false, true))
            hmm4j_h.hmm4j_device_destroy(handle);
    }
}
