package io.hmm4j.backend.cuda;

import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceException;
import io.hmm4j.spi.BuiltinSignature;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.DeviceKind;
import io.hmm4j.spi.DeviceMemoryResource;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelArgument;
import io.hmm4j.spi.KernelBuildException;
import io.hmm4j.spi.KernelSource;
import io.hmm4j.spi.NativeCopyEngine;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUfunction;
import jcuda.driver.CUjit_option;
import jcuda.driver.CUmodule;
import jcuda.driver.CUresult;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;
import jcuda.driver.JCudaDriver;
import jcuda.driver.JITOptions;

/**
 * One CUDA GPU, a {@link DeviceKind#DISCRETE} device. Everything runs in the device's primary context (retained
 * with {@code cuDevicePrimaryCtxRetain}, so JCuda and the fault engine's C copy table share it), pushed around
 * each call so any thread may use the device. Launches are asynchronous on one stream per device; that stream is
 * a blocking stream ({@code CU_STREAM_DEFAULT}), so the copy table's synchronous {@code cuMemcpy} on the legacy
 * default stream waits for kernels still writing the blocks it copies.
 *
 * <p>Built-in kernels use grid-stride loops over their own {@code n} (or {@code width * height}); the grid is
 * {@code ceil(globalSize / blockSize)} blocks, capped at 32 blocks per multiprocessor, at least one. User kernels
 * get {@code ceil(globalSize / blockSize)} blocks of {@code blockSize} threads and must guard their tail
 * ({@code if (i < n)}), the CUDA convention.
 */
public final class CudaDevice implements Device {

    private static final String BUILTINS_PTX = "/io/hmm4j/backend/cuda/builtins.ptx";
    private static final int JIT_LOG_BYTES = 16 * 1024;
    private static final int BLOCKS_PER_SM = 32;

    private final int index;
    private final int ordinal;
    private final String id;
    private final int blockSize;
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CUstream stream = new CUstream();
    /** Uploads a launch enqueues without waiting, so they overlap the kernels on {@link #stream}; null: none. */
    private final CUstream copyStream;
    private final String name;
    private final int ccMajor;
    private final int ccMinor;
    private final int multiprocessors;
    private final long capacity;
    private final CudaDeviceMemory memory;
    private final NativeCopyEngine copyEngine;
    private final List<CUmodule> modules = new CopyOnWriteArrayList<>();
    private final EnumMap<BuiltinKernel, CudaKernel> builtins = new EnumMap<>(BuiltinKernel.class);
    private final CUfunction zeroFirst;
    private volatile List<String> peers = List.of();
    private volatile boolean closed;

    CudaDevice(int index, int ordinal, int blockSize, String libcuda, boolean copyStream) {
        this.index = index;
        this.ordinal = ordinal;
        this.id = "cuda:" + ordinal;
        this.blockSize = blockSize;
        CudaErrors.check(JCudaDriver.cuDeviceGet(device, ordinal), "cuDeviceGet(" + ordinal + ")", id);
        byte[] nameBytes = new byte[256];
        CudaErrors.check(JCudaDriver.cuDeviceGetName(nameBytes, nameBytes.length, device), "cuDeviceGetName", id);
        int length = 0;
        while (length < nameBytes.length && nameBytes[length] != 0)
            length++;
        this.name = new String(nameBytes, 0, length, StandardCharsets.UTF_8);
        this.ccMajor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        this.ccMinor = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        this.multiprocessors = attribute(CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        long[] total = {0};
        CudaErrors.check(JCudaDriver.cuDeviceTotalMem(total, device), "cuDeviceTotalMem", id);
        this.capacity = total[0];

        CudaErrors.check(JCudaDriver.cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain", id);
        NativeCopyEngine engine = null;
        try {
            enter();
            try {
                CudaErrors.check(JCudaDriver.cuStreamCreate(stream, CUstream_flags.CU_STREAM_DEFAULT), "cuStreamCreate", id);
                this.copyStream = copyStream ? new CUstream() : null;
                if (copyStream)
                    CudaErrors.check(JCudaDriver.cuStreamCreate(this.copyStream, CUstream_flags.CU_STREAM_DEFAULT),
                            "cuStreamCreate(copies)", id);
            } finally {
                exit();
            }
            engine = NativeCopyEngine.cuda(id, libcuda, CudaErrors.address(context), CudaErrors.address(stream));
            if (copyStream)
                engine.setCudaCopyStream(CudaErrors.address(this.copyStream));
            this.memory = new CudaDeviceMemory(this);
            this.zeroFirst = loadBuiltins();
        } catch (RuntimeException e) {
            if (engine != null)
                engine.close();
            DeviceException release = releaseContext();
            if (release != null)
                e.addSuppressed(release);
            throw e;
        }
        this.copyEngine = engine;
    }

    private int attribute(int attribute) {
        int[] value = {0};
        CudaErrors.check(JCudaDriver.cuDeviceGetAttribute(value, attribute, device), "cuDeviceGetAttribute(" + attribute + ")", id);
        return value[0];
    }

    /** Makes this device's primary context current on the calling thread; pair with {@link #exit()}. */
    void enter() {
        if (closed)
            throw new IllegalStateException(id + " is closed");
        CudaErrors.check(JCudaDriver.cuCtxPushCurrent(context), "cuCtxPushCurrent", id);
    }

    void exit() {
        JCudaDriver.cuCtxPopCurrent(new CUcontext());
    }

    // ---- identity and capabilities ----

    @Override
    public String id() {
        return id;
    }

    @Override
    public int index() {
        return index;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public DeviceKind kind() {
        return DeviceKind.DISCRETE;
    }

    @Override
    public long capacityBytes() {
        return capacity;
    }

    @Override
    public boolean coherent() {
        return false;
    }

    /** The CUDA ordinal (the {@code N} of {@code cuda:N}). */
    public int ordinal() {
        return ordinal;
    }

    /** Compute capability as "major.minor", e.g. "9.0" for Hopper. */
    public String computeCapability() {
        return ccMajor + "." + ccMinor;
    }

    public int computeCapabilityMajor() {
        return ccMajor;
    }

    public int computeCapabilityMinor() {
        return ccMinor;
    }

    public int multiprocessorCount() {
        return multiprocessors;
    }

    /** Ids of the other opened devices this one can access directly ({@code cuDeviceCanAccessPeer}). */
    public List<String> peers() {
        return peers;
    }

    /** Whether this device can read and write {@code other}'s memory directly. */
    public boolean canAccessPeer(CudaDevice other) {
        return peers.contains(other.id());
    }

    /** Free and total device memory now, as {@code cuMemGetInfo} reports them. */
    public long[] memoryInfo() {
        long[] free = {0};
        long[] total = {0};
        enter();
        try {
            CudaErrors.check(JCudaDriver.cuMemGetInfo(free, total), "cuMemGetInfo", id);
        } finally {
            exit();
        }
        return new long[] {free[0], total[0]};
    }

    /** Bytes allocated through {@link #memory()} and not yet freed. */
    public long rawBytesUsed() {
        return memory.used();
    }

    void discoverPeers(List<CudaDevice> all) {
        List<String> found = new ArrayList<>();
        for (CudaDevice other : all) {
            if (other == this)
                continue;
            int[] can = {0};
            CudaErrors.check(JCudaDriver.cuDeviceCanAccessPeer(can, device, other.device), "cuDeviceCanAccessPeer", id);
            if (can[0] != 0)
                found.add(other.id());
        }
        peers = List.copyOf(found);
    }

    @Override
    public DeviceMemoryResource memory() {
        return memory;
    }

    /** Zero-copy placement: the copy engine page-locks and maps the host memory (cuMemHostRegister with DEVICEMAP). */
    @Override
    public String zeroCopyUnavailabilityCause() {
        return null;
    }

    @Override
    public NativeCopyEngine copyEngine() {
        return copyEngine;
    }

    // ---- kernels ----

    /** Loads builtins.ptx, fills {@link #builtins} and returns hmm4j_zero_first (the reductions' zeroing step). */
    private CUfunction loadBuiltins() {
        byte[] ptx;
        try (InputStream in = CudaDevice.class.getResourceAsStream(BUILTINS_PTX)) {
            if (in == null)
                throw new IllegalStateException("resource " + BUILTINS_PTX + " is missing from the CUDA backend jar");
            ptx = in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + BUILTINS_PTX, e);
        }
        CUmodule module = loadModule(ptx, true, "builtins.ptx");
        for (BuiltinKernel which : BuiltinKernel.values()) {
            String entry = "hmm4j_" + which.name().toLowerCase(Locale.ROOT);
            builtins.put(which, new CudaKernel(entry, this, function(module, entry), which));
        }
        return function(module, "hmm4j_zero_first");
    }

    private CUfunction function(CUmodule module, String entry) {
        CUfunction function = new CUfunction();
        int rc;
        enter();
        try {
            rc = JCudaDriver.cuModuleGetFunction(function, module, entry);
        } finally {
            exit();
        }
        if (rc != CUresult.CUDA_SUCCESS)
            throw new KernelBuildException("cuModuleGetFunction failed on " + id + ": no kernel '" + entry
                    + "' in the module (" + CudaErrors.name(rc) + "); is it declared extern \"C\" __global__?", null);
        return function;
    }

    /** Loads PTX (JIT-compiled by the driver, with the error log kept) or a cubin. */
    private CUmodule loadModule(byte[] code, boolean ptx, String what) {
        byte[] image = code;
        if (ptx && (code.length == 0 || code[code.length - 1] != 0))
            image = Arrays.copyOf(code, code.length + 1); // the driver reads PTX as a NUL-terminated string
        JITOptions options = new JITOptions();
        options.putBytes(CUjit_option.CU_JIT_ERROR_LOG_BUFFER, new byte[JIT_LOG_BYTES]);
        options.putInt(CUjit_option.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, JIT_LOG_BYTES);
        CUmodule module = new CUmodule();
        int rc;
        enter();
        try {
            rc = JCudaDriver.cuModuleLoadDataJIT(module, Pointer.to(image), options);
        } finally {
            exit();
        }
        if (rc != CUresult.CUDA_SUCCESS) {
            String log = options.getString(CUjit_option.CU_JIT_ERROR_LOG_BUFFER);
            throw new KernelBuildException("cuModuleLoadDataEx failed on " + id + " for " + what + ": "
                    + CudaErrors.name(rc) + " (code " + rc + ")", log == null ? null : log.strip());
        }
        modules.add(module);
        return module;
    }

    @Override
    public Kernel builtin(BuiltinKernel which) {
        Objects.requireNonNull(which, "which");
        return builtins.get(which);
    }

    @Override
    public Kernel load(KernelSource source) {
        Objects.requireNonNull(source, "source");
        boolean ptx = switch (source.language()) {
            case PTX -> true;
            case CUBIN -> false;
            case JAVA, OPENCL_C -> throw new IllegalArgumentException(
                    "the CUDA backend loads PTX or CUBIN kernels, not " + source.language() + " (" + source + ")");
        };
        CUmodule module = loadModule(source.code(), ptx, "kernel '" + source.entryPoint() + "'");
        try {
            return new CudaKernel(source.entryPoint(), this, function(module, source.entryPoint()), null);
        } catch (KernelBuildException e) {
            modules.remove(module);
            unload(module);
            throw e;
        }
    }

    // ---- launches ----

    @Override
    public void launch(Kernel kernel, long globalSize, List<KernelArgument> arguments) {
        enqueueLaunch(kernel, 0, globalSize, arguments, false);
    }

    /**
     * CUDA has no global offset: an element-wise built-in's buffers start at the offset's element instead, and a
     * user kernel at a non-zero offset is refused (it would index from 0).
     */
    @Override
    public void launch(Kernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments) {
        enqueueLaunch(kernel, globalOffset, globalSize, arguments, false);
    }

    @Override
    public long launchRecorded(Kernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments) {
        return enqueueLaunch(kernel, globalOffset, globalSize, arguments, true);
    }

    /**
     * Records a CUevent on the device's stream after the launch: the stream runs in order, so the event completes
     * when the kernel has. Timing is disabled (a timing event costs more to record and to wait for).
     */
    @Override
    public long launchRecorded(Kernel kernel, long globalSize, List<KernelArgument> arguments) {
        return enqueueLaunch(kernel, 0, globalSize, arguments, true);
    }

    /** Returns the recorded event's handle, or 0 when none was asked for or nothing was launched. */
    private long enqueueLaunch(Kernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments,
            boolean record) {
        Objects.requireNonNull(arguments, "arguments");
        if (!(kernel instanceof CudaKernel cuda) || cuda.device() != this)
            throw new IllegalArgumentException("kernel " + kernel + " was not loaded by " + id);
        if (globalSize < 0)
            throw new IllegalArgumentException("globalSize < 0: " + globalSize);
        BuiltinKernel builtin = cuda.builtin();
        if (builtin == null && globalOffset != 0)
            throw new UnsupportedOperationException(id + " cannot launch user kernel '" + cuda.name() + "' at global"
                    + " offset " + globalOffset + ": CUDA has no global offset (pass the offset as a scalar argument)");
        // A wrong built-in argument must be refused here: on the GPU it is CUDA_ERROR_ILLEGAL_ADDRESS, which
        // poisons the context for every later call.
        List<KernelArgument> checked = builtin == null ? arguments
                : BuiltinSignature.of(builtin).checkLaunch(globalOffset, arguments);
        int blocks;
        if (builtin != null) {
            long cap = (long) Math.max(1, multiprocessors) * BLOCKS_PER_SM;
            blocks = (int) Math.max(1, Math.min(cap, ceilDiv(globalSize, blockSize)));
        } else {
            if (globalSize == 0)
                return 0;
            long needed = ceilDiv(globalSize, blockSize);
            if (needed > Integer.MAX_VALUE)
                throw new IllegalArgumentException("globalSize " + globalSize + " needs more than 2^31-1 blocks of "
                        + blockSize + " threads");
            blocks = (int) needed;
        }
        Pointer parameters = parameters(checked);
        enter();
        try {
            if (copyStream != null)
                copyEngine.orderLaunch();
            if (builtin == BuiltinKernel.DOT || builtin == BuiltinKernel.SUM) {
                KernelArgument.Buffer out = (KernelArgument.Buffer) checked.get(builtin == BuiltinKernel.DOT ? 2 : 1);
                Pointer zeroParameters = Pointer.to(Pointer.to(new long[] {out.deviceAddress()}));
                CudaErrors.check(JCudaDriver.cuLaunchKernel(zeroFirst, 1, 1, 1, 1, 1, 1, 0, stream, zeroParameters, null),
                        "cuLaunchKernel(hmm4j_zero_first)", id);
            }
            CudaErrors.check(JCudaDriver.cuLaunchKernel(cuda.function(), blocks, 1, 1, blockSize, 1, 1, 0, stream,
                    parameters, null), "cuLaunchKernel(" + cuda.name() + ")", id);
            return record ? recordEvent() : 0;
        } finally {
            exit();
        }
    }

    /** Context current (enter()). An event that cannot be recorded is destroyed here: nobody else has it. */
    private long recordEvent() {
        CUevent event = new CUevent();
        CudaErrors.check(JCudaDriver.cuEventCreate(event, CUevent_flags.CU_EVENT_DISABLE_TIMING), "cuEventCreate", id);
        int rc = JCudaDriver.cuEventRecord(event, stream);
        if (rc != CUresult.CUDA_SUCCESS) {
            JCudaDriver.cuEventDestroy(event);
            CudaErrors.check(rc, "cuEventRecord", id);
        }
        return CudaErrors.address(event);
    }

    private static long ceilDiv(long a, long b) {
        return a == 0 ? 0 : (a - 1) / b + 1;
    }

    private static Pointer parameters(List<KernelArgument> arguments) {
        NativePointerObject[] values = new NativePointerObject[arguments.size()];
        for (int i = 0; i < values.length; i++) {
            values[i] = switch (Objects.requireNonNull(arguments.get(i), "argument " + i)) {
                case KernelArgument.Buffer buffer -> Pointer.to(new long[] {buffer.deviceAddress()});
                case KernelArgument.Scalar(Integer v) -> Pointer.to(new int[] {v});
                case KernelArgument.Scalar(Long v) -> Pointer.to(new long[] {v});
                case KernelArgument.Scalar(Float v) -> Pointer.to(new float[] {v});
                case KernelArgument.Scalar(Double v) -> Pointer.to(new double[] {v});
                case KernelArgument.Scalar scalar -> throw new IllegalArgumentException("unsupported scalar " + scalar);
            };
        }
        return Pointer.to(values);
    }

    @Override
    public void synchronize() {
        int rc;
        enter();
        try {
            rc = JCudaDriver.cuCtxSynchronize();
        } finally {
            exit();
        }
        CudaErrors.check(rc, "cuCtxSynchronize", id);
    }

    // ---- teardown ----

    private void unload(CUmodule module) {
        enter();
        try {
            JCudaDriver.cuModuleUnload(module);
        } finally {
            exit();
        }
    }

    /**
     * Waits for outstanding work, then frees modules, the stream, leftover allocations and the copy table, and
     * releases the primary context. Called once by {@link CudaBackend#close()}.
     */
    void close() {
        if (closed)
            return;
        List<RuntimeException> failures = new ArrayList<>();
        try {
            synchronize();
        } catch (DeviceException e) {
            failures.add(e);
        }
        copyEngine.close();
        try {
            memory.freeAll();
        } catch (DeviceException e) {
            failures.add(e);
        }
        try {
            enter();
            try {
                for (CUmodule module : modules)
                    JCudaDriver.cuModuleUnload(module);
                modules.clear();
                JCudaDriver.cuStreamDestroy(stream);
                if (copyStream != null)
                    JCudaDriver.cuStreamDestroy(copyStream);
            } finally {
                exit();
            }
        } catch (DeviceException e) {
            failures.add(e);
        }
        closed = true;
        DeviceException release = releaseContext();
        if (release != null)
            failures.add(release);
        if (!failures.isEmpty()) {
            RuntimeException first = failures.getFirst();
            failures.stream().skip(1).forEach(first::addSuppressed);
            throw first;
        }
    }

    private DeviceException releaseContext() {
        int rc = JCudaDriver.cuDevicePrimaryCtxRelease(device);
        return rc == CUresult.CUDA_SUCCESS ? null : CudaErrors.failure(rc, "cuDevicePrimaryCtxRelease", id);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "%s %s (compute %s, %.1f GiB, %d SMs, peers %s)", id, name,
                computeCapability(), capacity / (double) (1L << 30), multiprocessors, peers.isEmpty() ? "none" : peers);
    }
}
