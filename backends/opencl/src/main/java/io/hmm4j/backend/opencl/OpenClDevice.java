package io.hmm4j.backend.opencl;

import io.hmm4j.BuiltinKernel;
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
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_command_queue;
import org.jocl.cl_context;
import org.jocl.cl_context_properties;
import org.jocl.cl_device_id;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;
import org.jocl.cl_platform_id;
import org.jocl.cl_program;
import org.jocl.cl_queue_properties;

/**
 * One OpenCL device. Migrating placement: arrays live in cl_mem buffers and move through the engine's copy
 * table; launches are asynchronous on one in-order queue. Coherent placement: kernels use the array's own host
 * pages through CL_MEM_USE_HOST_PTR buffers, nothing is copied, and a launch returns only when the kernel is done.
 */
public final class OpenClDevice implements Device {

    private static final int REDUCTION_GROUPS = 256;

    /** A kernel of this device; the lock serialises clSetKernelArg + enqueue, which share the cl_kernel. */
    record ClKernel(String name, cl_kernel kernel, BuiltinKernel builtin, Object lock) implements Kernel {}

    private final int index;
    private final cl_device_id device;
    private final String name;
    private final long capacity;
    private final boolean coherent;
    private final cl_context context;
    private final cl_command_queue queue;
    private final NativeCopyEngine engine;
    private final OpenClMemory memory;
    private final cl_program builtinProgram;
    private final Map<BuiltinKernel, ClKernel> builtins = new EnumMap<>(BuiltinKernel.class);
    private final ClKernel dotPartial;
    private final ClKernel sumPartial;
    private final ClKernel reducePartials;
    private final cl_mem partials;
    private final int reductionLocalSize;
    /** A CL_MEM_USE_HOST_PTR buffer over one array's host memory. */
    private record HostBuffer(long bytes, cl_mem mem) {}

    private final Map<Long, HostBuffer> hostBuffers = new HashMap<>();
    private final Object hostBuffersLock = new Object();
    private final List<cl_program> userPrograms = new java.util.concurrent.CopyOnWriteArrayList<>();

    OpenClDevice(int index, cl_platform_id platform, cl_device_id device, OpenClBackend.Placement placement) {
        this.index = index;
        this.device = device;
        this.name = DeviceInfo.stringValue(device, CL.CL_DEVICE_NAME) + " ("
                + DeviceInfo.stringValue(device, CL.CL_DEVICE_VERSION) + ")";
        this.capacity = DeviceInfo.longValue(device, CL.CL_DEVICE_GLOBAL_MEM_SIZE);
        boolean unified = DeviceInfo.longValue(device, CL.CL_DEVICE_HOST_UNIFIED_MEMORY) != 0;
        this.coherent = placement == OpenClBackend.Placement.COHERENT
                || (placement == OpenClBackend.Placement.AUTO && unified);
        int[] status = new int[1];
        cl_context_properties properties = new cl_context_properties();
        properties.addProperty(CL.CL_CONTEXT_PLATFORM, platform);
        this.context = CL.clCreateContext(properties, 1, new cl_device_id[] {device}, null, null, status);
        OpenCl.check("clCreateContext", status[0], id());
        this.queue = CL.clCreateCommandQueueWithProperties(context, device, new cl_queue_properties(), status);
        OpenCl.check("clCreateCommandQueueWithProperties", status[0], id());
        this.engine = NativeCopyEngine.openCl(id(), null, OpenCl.nativePointer(queue));
        long alignBits = DeviceInfo.longValue(device, CL.CL_DEVICE_MEM_BASE_ADDR_ALIGN);
        this.memory = new OpenClMemory(id(), context, engine,
                Math.max(1, DeviceInfo.longValue(device, CL.CL_DEVICE_MAX_MEM_ALLOC_SIZE)), Math.max(256, alignBits / 8));
        this.builtinProgram = build(readBuiltins(), "builtins");
        builtins.put(BuiltinKernel.FILL, kernel(builtinProgram, "hmm4j_fill", BuiltinKernel.FILL));
        builtins.put(BuiltinKernel.SCALE, kernel(builtinProgram, "hmm4j_scale", BuiltinKernel.SCALE));
        builtins.put(BuiltinKernel.AXPY, kernel(builtinProgram, "hmm4j_axpy", BuiltinKernel.AXPY));
        builtins.put(BuiltinKernel.DOT, kernel(builtinProgram, "hmm4j_dot", BuiltinKernel.DOT));
        builtins.put(BuiltinKernel.SUM, kernel(builtinProgram, "hmm4j_sum", BuiltinKernel.SUM));
        builtins.put(BuiltinKernel.STENCIL_2D, kernel(builtinProgram, "hmm4j_stencil_2d", BuiltinKernel.STENCIL_2D));
        this.dotPartial = kernel(builtinProgram, "hmm4j_dot_partial", null);
        this.sumPartial = kernel(builtinProgram, "hmm4j_sum_partial", null);
        this.reducePartials = kernel(builtinProgram, "hmm4j_reduce_partials", null);
        this.partials = CL.clCreateBuffer(context, CL.CL_MEM_READ_WRITE, (long) REDUCTION_GROUPS * Float.BYTES, null, status);
        OpenCl.check("clCreateBuffer(partials)", status[0], id());
        long maxGroup = DeviceInfo.longValue(device, CL.CL_DEVICE_MAX_WORK_GROUP_SIZE);
        this.reductionLocalSize = (int) Long.highestOneBit(Math.max(1, Math.min(256, maxGroup)));
    }

    private static String readBuiltins() {
        try (InputStream in = OpenClDevice.class.getResourceAsStream("builtins.cl")) {
            if (in == null)
                throw new IllegalStateException("builtins.cl is missing from the OpenCL backend jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read builtins.cl", e);
        }
    }

    private cl_program build(String source, String what) {
        int[] status = new int[1];
        cl_program program = CL.clCreateProgramWithSource(context, 1, new String[] {source}, null, status);
        OpenCl.check("clCreateProgramWithSource(" + what + ")", status[0], id());
        int rc = CL.clBuildProgram(program, 1, new cl_device_id[] {device}, null, null, null);
        if (rc != CL.CL_SUCCESS) {
            String log = buildLog(program);
            CL.clReleaseProgram(program);
            throw new KernelBuildException("clBuildProgram(" + what + ") failed on " + id() + ": " + OpenCl.errorName(rc), log);
        }
        return program;
    }

    private String buildLog(cl_program program) {
        long[] size = new long[1];
        CL.clGetProgramBuildInfo(program, device, CL.CL_PROGRAM_BUILD_LOG, 0, null, size);
        byte[] log = new byte[(int) Math.max(1, size[0])];
        CL.clGetProgramBuildInfo(program, device, CL.CL_PROGRAM_BUILD_LOG, log.length, Pointer.to(log), null);
        return new String(log, StandardCharsets.UTF_8).replace("\0", "").trim();
    }

    private ClKernel kernel(cl_program program, String kernelName, BuiltinKernel builtin) {
        int[] status = new int[1];
        // DOT and SUM are two-pass: their entries have no cl_kernel of their own.
        if (builtin == BuiltinKernel.DOT || builtin == BuiltinKernel.SUM)
            return new ClKernel(kernelName, null, builtin, new Object());
        cl_kernel kernel = CL.clCreateKernel(program, kernelName, status);
        OpenCl.check("clCreateKernel(" + kernelName + ")", status[0], id());
        return new ClKernel(kernelName, kernel, builtin, new Object());
    }

    @Override
    public String id() {
        return "opencl:" + index;
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
        return coherent ? DeviceKind.COHERENT : DeviceKind.DISCRETE;
    }

    @Override
    public long capacityBytes() {
        return capacity;
    }

    @Override
    public boolean coherent() {
        return coherent;
    }

    @Override
    public DeviceMemoryResource memory() {
        return memory;
    }

    @Override
    public NativeCopyEngine copyEngine() {
        return engine;
    }

    @Override
    public Kernel builtin(BuiltinKernel which) {
        return builtins.get(Objects.requireNonNull(which, "which"));
    }

    @Override
    public Kernel load(KernelSource source) {
        Objects.requireNonNull(source, "source");
        if (source.language() != KernelSource.Language.OPENCL_C)
            throw new IllegalArgumentException("the OpenCL backend runs OpenCL C kernels, not " + source.language());
        cl_program program = build(source.text(), source.entryPoint());
        userPrograms.add(program);
        return kernel(program, source.entryPoint(), null);
    }

    @Override
    public boolean launchesAreSynchronous() {
        return coherent;
    }

    @Override
    public void launch(Kernel kernel, long globalSize, List<KernelArgument> arguments) {
        if (!(kernel instanceof ClKernel cl))
            throw new IllegalArgumentException("kernel " + kernel + " was not loaded by an OpenCL device");
        if (cl.builtin() == null)
            launchUser(cl, globalSize, arguments);
        else
            launchBuiltin(cl.builtin(), arguments);
        if (coherent)
            synchronize();
    }

    private void launchUser(ClKernel kernel, long globalSize, List<KernelArgument> arguments) {
        synchronized (kernel.lock()) {
            for (int i = 0; i < arguments.size(); i++)
                setArgument(kernel, i, arguments.get(i));
            enqueue(kernel, new long[] {globalSize}, null);
        }
    }

    private void launchBuiltin(BuiltinKernel which, List<KernelArgument> a) {
        switch (which) {
            case FILL, SCALE -> {
                long n = count(a, 2, 0);
                if (n > 0)
                    run(builtins.get(which), new long[] {n}, a.get(0), a.get(1), a.get(2));
            }
            case AXPY -> {
                long n = Math.min(count(a, 3, 0), count(a, 3, 1));
                if (n > 0)
                    run(builtins.get(which), new long[] {n}, a.get(0), a.get(1), a.get(2), a.get(3));
            }
            case DOT -> reduce(dotPartial, count(a, 3, 0), a.get(2), a.get(0), a.get(1), a.get(3));
            case SUM -> reduce(sumPartial, count(a, 2, 0), a.get(1), a.get(0), a.get(2));
            case STENCIL_2D -> {
                int width = scalar(a, 2).intValue();
                int height = scalar(a, 3).intValue();
                long cells = (long) width * height;
                if (width <= 0 || height <= 0 || cells * Float.BYTES > buffer(a, 0).byteSize()
                        || cells * Float.BYTES > buffer(a, 1).byteSize())
                    throw new IndexOutOfBoundsException("grid " + width + "x" + height + " does not fit the arrays");
                run(builtins.get(which), new long[] {width, height}, a.toArray(KernelArgument[]::new));
            }
        }
    }

    /** The element count argument {@code nIndex}, checked against the float array {@code arrayIndex}. */
    private static long count(List<KernelArgument> a, int nIndex, int arrayIndex) {
        long n = scalar(a, nIndex).longValue();
        long elements = buffer(a, arrayIndex).byteSize() / Float.BYTES;
        if (n < 0 || n > elements)
            throw new IndexOutOfBoundsException("n = " + n + " but the array has " + elements + " floats");
        return n;
    }

    private static KernelArgument.Buffer buffer(List<KernelArgument> a, int index) {
        if (!(a.get(index) instanceof KernelArgument.Buffer b))
            throw new IllegalArgumentException("argument " + index + " is not an array: " + a.get(index));
        return b;
    }

    private static Number scalar(List<KernelArgument> a, int index) {
        if (!(a.get(index) instanceof KernelArgument.Scalar(Number value)))
            throw new IllegalArgumentException("argument " + index + " is not a scalar: " + a.get(index));
        return value;
    }

    /** Two passes: per-group partial sums, then one group adds them into out[0]. */
    private void reduce(ClKernel partial, long n, KernelArgument out, KernelArgument... inputs) {
        int local = reductionLocalSize;
        long groups = Math.max(1, Math.min(REDUCTION_GROUPS, (n + local - 1) / local));
        synchronized (partial.lock()) {
            int arg = 0;
            for (KernelArgument input : inputs)
                setArgument(partial, arg++, input);
            check("clSetKernelArg", CL.clSetKernelArg(partial.kernel(), arg++, Sizeof.cl_mem, Pointer.to(partials)));
            check("clSetKernelArg", CL.clSetKernelArg(partial.kernel(), arg, (long) local * Float.BYTES, null));
            enqueue(partial, new long[] {groups * local}, new long[] {local});
        }
        synchronized (reducePartials.lock()) {
            cl_kernel k = reducePartials.kernel();
            check("clSetKernelArg", CL.clSetKernelArg(k, 0, Sizeof.cl_mem, Pointer.to(partials)));
            check("clSetKernelArg", CL.clSetKernelArg(k, 1, Sizeof.cl_uint, Pointer.to(new int[] {(int) groups})));
            setArgument(reducePartials, 2, out);
            check("clSetKernelArg", CL.clSetKernelArg(k, 3, (long) local * Float.BYTES, null));
            enqueue(reducePartials, new long[] {local}, new long[] {local});
        }
    }

    private void run(ClKernel kernel, long[] global, KernelArgument... arguments) {
        synchronized (kernel.lock()) {
            for (int i = 0; i < arguments.length; i++)
                setArgument(kernel, i, arguments[i]);
            enqueue(kernel, global, null);
        }
    }

    private void enqueue(ClKernel kernel, long[] global, long[] local) {
        check("clEnqueueNDRangeKernel(" + kernel.name() + ")",
                CL.clEnqueueNDRangeKernel(queue, kernel.kernel(), global.length, null, global, local, 0, null, null));
    }

    private void setArgument(ClKernel kernel, int index, KernelArgument argument) {
        int rc = switch (argument) {
            case KernelArgument.Buffer b -> CL.clSetKernelArg(kernel.kernel(), index, Sizeof.cl_mem, Pointer.to(memOf(b)));
            case KernelArgument.Scalar(Integer v) -> CL.clSetKernelArg(kernel.kernel(), index, Sizeof.cl_int, Pointer.to(new int[] {v}));
            case KernelArgument.Scalar(Long v) -> CL.clSetKernelArg(kernel.kernel(), index, Sizeof.cl_long, Pointer.to(new long[] {v}));
            case KernelArgument.Scalar(Float v) -> CL.clSetKernelArg(kernel.kernel(), index, Sizeof.cl_float, Pointer.to(new float[] {v}));
            case KernelArgument.Scalar(Double v) -> CL.clSetKernelArg(kernel.kernel(), index, Sizeof.cl_double, Pointer.to(new double[] {v}));
            case KernelArgument.Scalar s -> throw new IllegalArgumentException("unsupported scalar " + s);
        };
        check("clSetKernelArg(" + kernel.name() + ", " + index + ")", rc);
    }

    private cl_mem memOf(KernelArgument.Buffer buffer) {
        if (!coherent)
            return memory.bufferFor(buffer.deviceAddress(), buffer.byteSize());
        MemorySegment host = buffer.host();
        synchronized (hostBuffersLock) {
            HostBuffer cached = hostBuffers.get(host.address());
            if (cached != null && cached.bytes() == host.byteSize())
                return cached.mem();
            if (cached != null)
                CL.clReleaseMemObject(cached.mem());
            int[] status = new int[1];
            cl_mem mem = CL.clCreateBuffer(context, CL.CL_MEM_READ_WRITE | CL.CL_MEM_USE_HOST_PTR, host.byteSize(),
                    Pointer.to(host.asByteBuffer()), status);
            check("clCreateBuffer(CL_MEM_USE_HOST_PTR, " + host.byteSize() + " bytes)", status[0]);
            hostBuffers.put(host.address(), new HostBuffer(host.byteSize(), mem));
            return mem;
        }
    }

    private void check(String call, int status) {
        OpenCl.check(call, status, id());
    }

    @Override
    public void synchronize() {
        check("clFinish", CL.clFinish(queue));
    }

    void close() {
        CL.clFinish(queue);
        synchronized (hostBuffersLock) {
            hostBuffers.values().forEach(b -> CL.clReleaseMemObject(b.mem()));
            hostBuffers.clear();
        }
        memory.close();
        engine.close();
        CL.clReleaseMemObject(partials);
        for (ClKernel k : builtins.values())
            if (k.kernel() != null)
                CL.clReleaseKernel(k.kernel());
        for (ClKernel k : List.of(dotPartial, sumPartial, reducePartials))
            CL.clReleaseKernel(k.kernel());
        CL.clReleaseProgram(builtinProgram);
        userPrograms.forEach(CL::clReleaseProgram);
        CL.clReleaseCommandQueue(queue);
        CL.clReleaseContext(context);
    }

    @Override
    public String toString() {
        return id() + " " + name + (coherent ? " [coherent]" : " [migrating]");
    }
}
