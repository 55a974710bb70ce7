package io.hmm4j.backend.emulated;

import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceException;
import io.hmm4j.spi.BuiltinSignature;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.DeviceKind;
import io.hmm4j.spi.DeviceMemoryResource;
import io.hmm4j.spi.JavaKernel;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelArgument;
import io.hmm4j.spi.KernelSource;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Objects;

/**
 * One emulated device. Built-in kernels have C bodies: with overlap (the default) they are queued on the device's
 * native compute engine and copies to the device a launch enqueues run on its native copy engine meanwhile, every
 * kernel after the copies enqueued before it; the fault handler may wait for them (native threads). User kernels are
 * Java and run in the launching thread after the queued copies (a Java kernel cannot be waited for from the fault
 * handler without risking a safepoint deadlock, so it is never left in flight). Without overlap every copy and
 * kernel runs in the calling thread. Fault injection for tests: {@link #injectAllocationFailures(int)},
 * {@link NativeCopyEngine#inject} on {@link #copyEngine()}, and {@link #loseDevice()}.
 */
public final class EmulatedDevice implements Device {

    /** An emulated kernel: a name, and either a built-in (run by the native engine) or a Java body. */
    record EmulatedKernel(String name, JavaKernel body, BuiltinKernel builtin) implements Kernel {}

    private final int index;
    private final long capacity;
    private final EmulatedDeviceMemory memory;
    private final NativeCopyEngine copyEngine;
    private final boolean overlap;
    private final boolean kernelModel;
    private volatile boolean lost;

    EmulatedDevice(int index, long capacity, long latencyNanos, long bytesPerSecond, long kernelBytesPerSecond,
            boolean overlap) {
        this.index = index;
        this.capacity = capacity;
        this.overlap = overlap;
        this.kernelModel = kernelBytesPerSecond > 0;
        this.memory = new EmulatedDeviceMemory(id(), capacity);
        this.copyEngine = NativeCopyEngine.emulated(id(), latencyNanos, bytesPerSecond, kernelBytesPerSecond, overlap);
    }

    @Override
    public String id() {
        return "emulated:" + index;
    }

    @Override
    public int index() {
        return index;
    }

    @Override
    public String name() {
        return "hmm4j emulated device " + index;
    }

    @Override
    public DeviceKind kind() {
        return DeviceKind.EMULATED;
    }

    @Override
    public long capacityBytes() {
        return capacity;
    }

    @Override
    public boolean coherent() {
        return false;
    }

    @Override
    public DeviceMemoryResource memory() {
        return memory;
    }

    @Override
    public NativeCopyEngine copyEngine() {
        return copyEngine;
    }

    /** Zero-copy placement: kernels read and write the engine view directly, paying the bus for the bytes they touch. */
    @Override
    public String zeroCopyUnavailabilityCause() {
        return null;
    }

    @Override
    public Kernel builtin(BuiltinKernel which) {
        return new EmulatedKernel(which.name().toLowerCase(java.util.Locale.ROOT), null, which);
    }

    @Override
    public Kernel load(KernelSource source) {
        Objects.requireNonNull(source, "source");
        if (source.language() != KernelSource.Language.JAVA)
            throw new IllegalArgumentException("the emulated backend runs Java kernels only, not " + source.language());
        return new EmulatedKernel(source.entryPoint(), source.javaKernel(), null);
    }

    /** Runs the kernel before it returns. */
    @Override
    public void launch(Kernel kernel, long globalSize, List<KernelArgument> arguments) {
        run(kernel, 0, globalSize, arguments, false);
    }

    @Override
    public long launchRecorded(Kernel kernel, long globalSize, List<KernelArgument> arguments) {
        return run(kernel, 0, globalSize, arguments, overlap);
    }

    /** A built-in's buffers start at the offset's element; a Java kernel reads the offset from its arguments. */
    @Override
    public void launch(Kernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments) {
        run(kernel, globalOffset, globalSize, arguments, false);
    }

    @Override
    public long launchRecorded(Kernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments) {
        return run(kernel, globalOffset, globalSize, arguments, overlap);
    }

    private long run(Kernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments,
            boolean queued) {
        if (!(kernel instanceof EmulatedKernel emulated))
            throw new IllegalArgumentException("kernel " + kernel + " was not loaded by an emulated device");
        if (lost)
            throw new DeviceException("launch of " + kernel.name() + " failed on " + id() + ": device lost", id(), 0);
        if (emulated.builtin() != null)
            return copyEngine.launchEmulated(emulated.builtin(),
                    BuiltinSignature.of(emulated.builtin()).checkLaunch(globalOffset, arguments), queued);
        copyEngine.launchEmulated(null, List.of(), false);
        long start = System.nanoTime();
        emulated.body().run(globalSize, new Arguments(globalOffset, arguments));
        chargeBus(start, arguments);
        return queued ? copyEngine.launchEmulated(null, List.of(), true) : 0;
    }

    /**
     * A Java kernel reports no traffic: one in host memory mapped for zero-copy is charged the bus for its whole
     * buffer once per direction its access mode names (read, write), an upper bound of what it touched.
     */
    private void chargeBus(long start, List<KernelArgument> arguments) {
        long bytes = 0;
        for (KernelArgument argument : arguments)
            if (argument instanceof KernelArgument.Buffer b) {
                long mapped = copyEngine.hostMappedBytes(b.deviceAddress(), b.byteSize());
                bytes += mapped * ((b.access().reads() ? 1 : 0) + (b.access().writes() ? 1 : 0));
            }
        if (bytes > 0)
            copyEngine.emulatedBusWait(start, bytes);
    }

    @Override
    public boolean launchesAreSynchronous() {
        return !overlap;
    }

    /** Its kernels are hmm4j's C built-ins and the user's Java: no driver to install a signal handler. */
    @Override
    public boolean launchesMayReplaceSignalHandlers() {
        return false;
    }

    /** Built-ins and Java kernels run in the launching thread; only a compute model gives them a duration. */
    @Override
    public boolean kernelsAreHostWork() {
        return !kernelModel;
    }

    /** Whether built-in kernels and copies to the device run on the device's own engines (setting {@code overlap}). */
    public boolean overlaps() {
        return overlap;
    }

    @Override
    public void synchronize() {
        if (overlap)
            copyEngine.synchronize();
    }

    /** The next {@code count} raw device allocations fail with DeviceOutOfMemoryException. */
    public void injectAllocationFailures(int count) {
        memory.injectAllocationFailures(count);
    }

    /** Simulates device loss: launches and copies to the device fail; copies home still work (evacuation). */
    public void loseDevice() {
        lost = true;
        copyEngine.inject(NativeCopyEngine.Injection.DEVICE_LOST, 0);
    }

    /** Raw device memory in use (pool chunks included). */
    public long rawBytesUsed() {
        return memory.used();
    }

    void close() {
        copyEngine.close();
        memory.close();
    }

    @Override
    public String toString() {
        return id();
    }

    private static final class Arguments implements JavaKernel.Arguments {
        private final long globalOffset;
        private final List<KernelArgument> arguments;

        Arguments(long globalOffset, List<KernelArgument> arguments) {
            this.globalOffset = globalOffset;
            this.arguments = List.copyOf(arguments);
        }

        @Override
        public long globalOffset() {
            return globalOffset;
        }

        @Override
        public MemorySegment buffer(int index) {
            if (!(arguments.get(index) instanceof KernelArgument.Buffer(long address, long size, var access, var host)))
                throw new IllegalArgumentException("argument " + index + " is not an array: " + arguments.get(index));
            return MemorySegment.ofAddress(address).reinterpret(size);
        }

        /** Scalar {@code index}, which must be a {@code type}: OpenCL and CUDA pass a scalar with its own C type too. */
        private <T extends Number> T scalar(int index, Class<T> type) {
            if (!(arguments.get(index) instanceof KernelArgument.Scalar(Number value)))
                throw new IllegalArgumentException("argument " + index + " is not a scalar: " + arguments.get(index));
            if (!type.isInstance(value))
                throw new IllegalArgumentException("argument " + index + " is a " + value.getClass().getSimpleName()
                        + ", not " + (type == Integer.class ? "an " : "a ") + type.getSimpleName() + ": " + value);
            return type.cast(value);
        }

        @Override
        public int intValue(int index) {
            return scalar(index, Integer.class);
        }

        @Override
        public long longValue(int index) {
            return scalar(index, Long.class);
        }

        @Override
        public float floatValue(int index) {
            return scalar(index, Float.class);
        }

        @Override
        public double doubleValue(int index) {
            return scalar(index, Double.class);
        }

        @Override
        public List<KernelArgument> all() {
            return arguments;
        }
    }
}
