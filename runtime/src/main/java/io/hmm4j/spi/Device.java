package io.hmm4j.spi;

import io.hmm4j.BuiltinKernel;
import java.lang.foreign.MemorySegment;
import java.util.List;

/** One device of a backend. Methods may be called from any thread unless stated otherwise. */
public interface Device {

    /** Backend-qualified id, e.g. {@code cuda:0}; also the value of the {@code device} metric tag. */
    String id();

    /** Position in {@link Backend#devices()}. */
    int index();

    /** Human-readable device name as the driver reports it. */
    String name();

    DeviceKind kind();

    /** Device memory in bytes (for coherent devices, what the driver reports as global memory). */
    long capacityBytes();

    /**
     * Whether kernels use the array's own host memory directly (zero-copy). The runtime then migrates
     * nothing; {@link #copyEngine()} and {@link #memory()} are not used.
     */
    boolean coherent();

    /** Raw device memory; the runtime layers pooling, budgets and eviction above it. */
    DeviceMemoryResource memory();

    /** The native copy table the fault engine uses for this device. */
    NativeCopyEngine copyEngine();

    /**
     * Why this device cannot address host memory directly (zero-copy placement), or {@code null} when it can.
     * Backends that can override this with {@code null} and implement {@link #mapHost}.
     */
    default String zeroCopyUnavailabilityCause() {
        return "the " + id() + " backend does not implement zero-copy placement";
    }

    /**
     * Zero-copy placement: makes {@code host} (an array's always-writable engine view) addressable by this device's
     * kernels (by default through its {@link #copyEngine()}: {@link NativeCopyEngine#mapHost}) and returns the {@link KernelArgument.Buffer#deviceAddress()} that names it in a launch. The bytes stay
     * in host memory; kernels read and write them over the bus. The runtime calls {@link #unmapHost} before the
     * memory goes away.
     *
     * @throws UnsupportedOperationException if {@link #zeroCopyUnavailabilityCause()} is not {@code null}
     * @throws io.hmm4j.DeviceOutOfMemoryException if the device cannot map that much host memory now
     */
    default long mapHost(MemorySegment host) {
        String cause = zeroCopyUnavailabilityCause();
        if (cause != null)
            throw new UnsupportedOperationException(cause);
        return copyEngine().mapHost(host);
    }

    /** Undoes {@link #mapHost}; {@code deviceAddress} is what it returned. */
    default void unmapHost(MemorySegment host, long deviceAddress) {
        copyEngine().unmapHost(host);
    }

    /** A kernel every backend provides. */
    Kernel builtin(BuiltinKernel which);

    /**
     * Loads a user kernel.
     *
     * @throws IllegalArgumentException if the source's language is not one this backend runs
     * @throws KernelBuildException if the source does not compile (the message carries the build log)
     */
    Kernel load(KernelSource source);

    /**
     * Enqueues {@code kernel} over {@code globalSize} work items. Array arguments are already valid where
     * the kernel will read them. May return before the kernel finishes; {@link #synchronize()} waits.
     */
    void launch(Kernel kernel, long globalSize, List<KernelArgument> arguments);

    /**
     * Enqueues like {@link #launch} and returns the raw handle of an event the backend recorded after the launch's
     * last command (OpenCL: a {@code cl_event}; CUDA: a {@code CUevent} recorded on the launch's stream), whose
     * completion means the launch finished. The caller owns it and releases it through {@link #copyEngine()}'s
     * fences. Returns 0 when the backend records none; the runtime then waits with {@link #synchronize()}.
     */
    default long launchRecorded(Kernel kernel, long globalSize, List<KernelArgument> arguments) {
        launch(kernel, globalSize, arguments);
        return 0;
    }

    /**
     * Enqueues {@code kernel} over work items {@code [globalOffset, globalOffset + globalSize)} (a range launch:
     * OpenCL's global work offset; a {@link JavaKernel} reads it from {@link JavaKernel.Arguments#globalOffset()}). An
     * element-wise built-in (FILL, SCALE, AXPY) processes elements {@code [globalOffset, globalOffset + n)} of its
     * arrays; the runtime gives the others no offset. Only the blocks covering the ranges the launch named are valid
     * on the device; the kernel must touch nothing else. A device that has no global offset refuses a non-zero one
     * with an {@link UnsupportedOperationException} (the default, for backends written before range launches).
     */
    default void launch(Kernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments) {
        if (globalOffset != 0)
            throw new UnsupportedOperationException(id() + " does not run kernels at a global offset: " + globalOffset);
        launch(kernel, globalSize, arguments);
    }

    /** {@link #launchRecorded(Kernel, long, List)} at a global offset, as {@link #launch(Kernel, long, long, List)}. */
    default long launchRecorded(Kernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments) {
        if (globalOffset != 0)
            throw new UnsupportedOperationException(id() + " does not run kernels at a global offset: " + globalOffset);
        return launchRecorded(kernel, globalSize, arguments);
    }

    /**
     * Whether {@link #launch} returns only after the kernel finished (emulated kernels, coherent OpenCL). The
     * runtime then completes the launch at once instead of leaving it in flight.
     */
    default boolean launchesAreSynchronous() {
        return false;
    }

    /**
     * Whether a launch on this device may run foreign native code that puts its own signal handler in front of the
     * engine's (PoCL's LLVM compiles at enqueue and installs a non-chaining SIGSEGV handler once). The runtime then
     * checks the engine's fault handler before every launch here (two sigaction calls, microseconds on a virtualised
     * host); a device that runs only hmm4j's code and the user's while launching says false and saves them.
     */
    default boolean launchesMayReplaceSignalHandlers() {
        return true;
    }

    /**
     * Whether a kernel on this device is only the CPU work of the thread that launches it: no driver, no queue and no
     * modelled duration (an emulated device without a kernel compute model). A tiled launch then runs each tile's
     * kernel in the thread that does the copies, inside a copy's bus time, instead of handing every tile's bytes
     * between two threads (and cores); a kernel with a duration of its own keeps a copy thread, so that the copies
     * overlap it as they would a GPU's.
     */
    default boolean kernelsAreHostWork() {
        return false;
    }

    /** Waits until every launch and copy enqueued on this device has finished. */
    void synchronize();
}
