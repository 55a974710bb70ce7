package io.hmm4j.backend.opencl;

import io.hmm4j.BuiltinKernel;
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
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.EnumMap;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_command_queue;
import org.jocl.cl_context;
import org.jocl.cl_context_properties;
import org.jocl.cl_device_id;
import org.jocl.cl_event;
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
    /**
     * Element-wise built-ins run as a bulk launch of a multiple of this many work items plus a tail launch (global
     * offset) for the rest, both with the driver's work-group size. Launching exactly n items instead lets PoCL pick
     * a work-group size dividing n (1 for a prime n): a SCALE of 4,097,021 floats took 42 ms that way and 0.6 ms
     * split; a tail guard in the kernel instead stops PoCL vectorising (2-3x slower).
     */
    static final long BULK_GRANULE = 1024;
    /** The same split for STENCIL_2D, along x (rows are contiguous). */
    static final long STENCIL_GRANULE = 64;
    /** Most CL_MEM_USE_HOST_PTR buffers kept (coherent placement); the least recently used is released beyond it. */
    static final int HOST_BUFFER_CACHE = 1024;

    /**
     * A kernel of {@code device}; the lock serialises clSetKernelArg + enqueue, which share the cl_kernel. On another
     * device's queue it is undefined behaviour (PoCL ran it without an error), so launch checks the owner.
     */
    record ClKernel(String name, cl_kernel kernel, BuiltinKernel builtin, ArgumentsSet lock, OpenClDevice device) implements Kernel {
        @Override
        public String toString() {
            return "ClKernel[" + name + " on " + device.id() + "]";
        }
    }

    /**
     * A buffer argument's key in {@link ArgumentsSet}: its cl_mem handle, and how many of the device's buffers had
     * been released when the launch looked the buffer up ({@link OpenClMemory.Lookup}).
     */
    private record MemArgument(long handle, long releases) {}

    /**
     * The argument values last set on a cl_kernel, guarded by what serialises the kernel's launches (this object,
     * the kernel's lock; the reduction lock for the reduction passes, whose other arguments are set directly at
     * indices setArgument never uses). OpenCL keeps an argument until it is set again, so a launch passing the
     * value already set skips clSetKernelArg: through JOCL each call costs microseconds of JNI on the launch's way
     * to its enqueue, and an iterative loop passes the same arguments every step. A buffer is known by its cl_mem's
     * handle and the device's release count: a handle alone is not enough, since a released handle is handed out
     * again and the driver may keep what it resolved at clSetKernelArg (PoCL stores a sub-buffer as its parent and
     * offset: the kernel would write where the released buffer was, or PoCL abort). Any release since the argument
     * was set makes the launch set it again; the count comes with the buffer's lookup ({@link OpenClMemory.Lookup}).
     */
    static final class ArgumentsSet {
        private Object[] values = new Object[4];

        boolean holds(int index, Object value) {
            return index < values.length && value.equals(values[index]);
        }

        void set(int index, Object value) {
            if (index >= values.length)
                values = java.util.Arrays.copyOf(values, Math.max(index + 1, 2 * values.length));
            values[index] = value;
        }

        void forget(int index) {
            if (index < values.length)
                values[index] = null;
        }
    }

    private final int index;
    private final cl_device_id device;
    private final String name;
    private final long capacity;
    private final boolean coherent;
    private final cl_context context;
    private final cl_command_queue queue;
    /** Uploads a launch enqueues without waiting, so they overlap the kernels on {@link #queue}; null: none. */
    private final cl_command_queue copyQueue;
    private final NativeCopyEngine engine;
    private final OpenClMemory memory;
    private final cl_program builtinProgram;
    private final Map<BuiltinKernel, ClKernel> builtins = new EnumMap<>(BuiltinKernel.class);
    private final ClKernel dotPartial;
    private final ClKernel sumPartial;
    private final ClKernel reducePartials;
    private final cl_mem partials;
    private final int reductionLocalSize;
    /** The host memory a CL_MEM_USE_HOST_PTR buffer covers. */
    private record HostRange(long address, long bytes) {}

    /** Coherent placement: a buffer per array (address + size), least recently used first; guarded by itself. */
    private final Map<HostRange, cl_mem> hostBuffers = new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<HostRange, cl_mem> eldest) {
            if (size() <= HOST_BUFFER_CACHE)
                return false;
            // A launch that still uses it holds its own reference (retained in memOf, or by the enqueued command).
            CL.clReleaseMemObject(eldest.getValue());
            memory.countRelease();
            return true;
        }
    };
    /** DOT and SUM: both passes share {@link #partials}, so one reduction's two enqueues must not interleave with another's. */
    private final Object reductionLock = new Object();
    /** Released on close, kernels before their programs (a cl_kernel keeps its program alive). */
    private final List<cl_program> userPrograms = new CopyOnWriteArrayList<>();
    private final List<cl_kernel> userKernels = new CopyOnWriteArrayList<>();

    OpenClDevice(int index, cl_platform_id platform, cl_device_id device, OpenClBackend.Placement placement,
            boolean copyQueue) {
        this.index = index;
        this.device = device;
        this.name = DeviceInfo.stringValue(device, CL.CL_DEVICE_NAME) + " ("
                + DeviceInfo.stringValue(device, CL.CL_DEVICE_VERSION) + ")";
        this.capacity = DeviceInfo.longValue(device, CL.CL_DEVICE_GLOBAL_MEM_SIZE);
        boolean unified = OpenClBackend.sharesHostMemory(device);
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
        if (copyQueue && !coherent) {
            this.copyQueue = CL.clCreateCommandQueueWithProperties(context, device, new cl_queue_properties(), status);
            OpenCl.check("clCreateCommandQueueWithProperties(copies)", status[0], id());
            engine.setOpenClCopyQueue(OpenCl.nativePointer(this.copyQueue));
        } else {
            this.copyQueue = null;
        }
        long alignBits = DeviceInfo.longValue(device, CL.CL_DEVICE_MEM_BASE_ADDR_ALIGN);
        this.memory = new OpenClMemory(id(), context, engine,
                Math.max(1, DeviceInfo.longValue(device, CL.CL_DEVICE_MAX_MEM_ALLOC_SIZE)),
                alignBits >= 8 && Long.bitCount(alignBits) == 1 ? alignBits / 8 : 128);
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
        // PoCL's LLVM may have put its own non-chaining SIGSEGV handler in front during the build. The first
        // build (the built-ins, when the device opens) is the one that installs it: re-installing ours keeps
        // LLVM's from ever running, so LLVM does not install it again for later builds.
        NativeCopyEngine.ensureFaultHandler();
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
            return new ClKernel(kernelName, null, builtin, new ArgumentsSet(), this);
        cl_kernel kernel = CL.clCreateKernel(program, kernelName, status);
        OpenCl.check("clCreateKernel(" + kernelName + ")", status[0], id());
        return new ClKernel(kernelName, kernel, builtin, new ArgumentsSet(), this);
    }

    /** Whether launch uploads go to a second queue (setting {@code copy.queue}). */
    boolean hasCopyQueue() {
        return copyQueue != null;
    }

    /** The JOCL device handle, for tests that compare with clGetDeviceInfo. */
    cl_device_id clDevice() {
        return device;
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

    /** Zero-copy placement: a CL_MEM_USE_HOST_PTR buffer over the host memory (on a discrete device, mapped memory). */
    @Override
    public String zeroCopyUnavailabilityCause() {
        return null;
    }

    /** Wraps {@code host} in a CL_MEM_USE_HOST_PTR buffer held in a slot of {@link #memory()}: its address names it. */
    @Override
    public long mapHost(MemorySegment host) {
        return memory.mapHost(host);
    }

    @Override
    public void unmapHost(MemorySegment host, long deviceAddress) {
        memory.deallocate(deviceAddress, host.byteSize());
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
        String entry = source.entryPoint();
        cl_program program = build(source.text(), entry);
        int[] status = new int[1];
        cl_kernel kernel = CL.clCreateKernel(program, entry, status);
        if (status[0] != CL.CL_SUCCESS) {
            CL.clReleaseProgram(program);
            // The source lacks the entry point: a build problem, as CUDA reports it, not a device failure.
            if (status[0] == CL.CL_INVALID_KERNEL_NAME)
                throw new KernelBuildException("clCreateKernel failed on " + id() + ": no kernel '" + entry
                        + "' in the program (CL_INVALID_KERNEL_NAME); is it declared __kernel?", null);
            OpenCl.check("clCreateKernel(" + entry + ")", status[0], id());
        }
        userKernels.add(kernel);
        userPrograms.add(program);
        return new ClKernel(entry, kernel, null, new ArgumentsSet(), this);
    }

    @Override
    public boolean launchesAreSynchronous() {
        return coherent;
    }

    @Override
    public void launch(Kernel kernel, long globalSize, List<KernelArgument> arguments) {
        launch(kernel, 0, globalSize, arguments);
    }

    /** The global work offset: a user kernel's get_global_id starts there; an element-wise built-in's elements too. */
    @Override
    public void launch(Kernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments) {
        enqueueLaunch(kernel, globalOffset, globalSize, arguments, null);
        if (coherent)
            synchronize();
    }

    /**
     * The event of the launch's last command: the queue is in order, so it completes after every command of the
     * launch. Coherent launches are synchronous and record none.
     */
    @Override
    public long launchRecorded(Kernel kernel, long globalSize, List<KernelArgument> arguments) {
        return launchRecorded(kernel, 0, globalSize, arguments);
    }

    @Override
    public long launchRecorded(Kernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments) {
        if (coherent) {
            launch(kernel, globalOffset, globalSize, arguments);
            return 0;
        }
        cl_event last = new cl_event();
        enqueueLaunch(kernel, globalOffset, globalSize, arguments, last);
        return OpenCl.nativePointer(last);
    }

    /** {@code last}, when not null, receives the event of the launch's last command (none if nothing ran). */
    private void enqueueLaunch(Kernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments,
            cl_event last) {
        if (!(kernel instanceof ClKernel cl) || cl.device() != this)
            throw new IllegalArgumentException("kernel " + kernel + " was not loaded by this " + id());
        if (globalOffset < 0)
            throw new IllegalArgumentException("global offset must be >= 0: " + globalOffset);
        if (copyQueue != null)
            engine.orderLaunch();
        if (cl.builtin() == null)
            launchUser(cl, globalOffset, globalSize, arguments, last);
        else
            launchBuiltin(cl.builtin(), globalOffset, arguments, last);
    }

    private void launchUser(ClKernel kernel, long globalOffset, long globalSize, List<KernelArgument> arguments,
            cl_event last) {
        if (globalSize <= 0)
            throw new IllegalArgumentException("global size must be > 0: " + globalSize);
        // User kernels run as one launch of exactly globalSize items: splitting would change get_global_size().
        synchronized (kernel.lock()) {
            try (Retained retained = new Retained()) {
                for (int i = 0; i < arguments.size(); i++)
                    setArgument(kernel, i, arguments.get(i), retained);
                enqueue(kernel, globalOffset == 0 ? null : new long[] {globalOffset}, new long[] {globalSize}, null,
                        last);
            }
        }
    }

    /** Runs a built-in over its whole n (or grid); its arguments have passed {@link BuiltinSignature}'s check. */
    private void launchBuiltin(BuiltinKernel which, long globalOffset, List<KernelArgument> arguments, cl_event last) {
        BuiltinSignature signature = BuiltinSignature.of(which);
        // The element-wise kernels index by get_global_id: the offset moves their elements; the others take none.
        List<KernelArgument> a = signature.checkLaunch(arguments);
        if (globalOffset != 0)
            signature.checkLaunch(globalOffset, arguments);
        switch (which) {
            case FILL, SCALE -> {
                long n = count(a, 2);
                if (n > 0)
                    runSplit(builtins.get(which), globalOffset, n, 1, BULK_GRANULE, last, a.get(0), a.get(1),
                            a.get(2));
            }
            case AXPY -> {
                long n = count(a, 3);
                if (n > 0)
                    runSplit(builtins.get(which), globalOffset, n, 1, BULK_GRANULE, last, a.get(0), a.get(1),
                            a.get(2), a.get(3));
            }
            case DOT -> reduce(dotPartial, count(a, 3), last, a.get(2), a.get(0), a.get(1), a.get(3));
            case SUM -> reduce(sumPartial, count(a, 2), last, a.get(1), a.get(0), a.get(2));
            case STENCIL_2D -> {
                int width = (Integer) ((KernelArgument.Scalar) a.get(2)).value();
                int height = (Integer) ((KernelArgument.Scalar) a.get(3)).value();
                if (width > 0 && height > 0)
                    runSplit(builtins.get(which), 0, width, height, STENCIL_GRANULE, last,
                            a.toArray(KernelArgument[]::new));
            }
        }
    }

    /** The checked element count at {@code index} (a Long after {@link BuiltinSignature#checkLaunch}). */
    private static long count(List<KernelArgument> a, int index) {
        return (Long) ((KernelArgument.Scalar) a.get(index)).value();
    }

    /** Two passes: per-group partial sums, then one group adds them into out[0]. */
    private void reduce(ClKernel partial, long n, cl_event last, KernelArgument out, KernelArgument... inputs) {
        int local = reductionLocalSize;
        long groups = Math.max(1, Math.min(REDUCTION_GROUPS, (n + local - 1) / local));
        synchronized (reductionLock) {
            try (Retained retained = new Retained()) {
                int arg = 0;
                cl_kernel k = partial.kernel();
                for (KernelArgument input : inputs)
                    setArgument(partial, arg++, input, retained);
                check("clSetKernelArg", CL.clSetKernelArg(k, arg++, Sizeof.cl_mem, Pointer.to(partials)));
                check("clSetKernelArg", CL.clSetKernelArg(k, arg, (long) local * Float.BYTES, null));
                enqueue(partial, null, new long[] {groups * local}, new long[] {local}, null);

                k = reducePartials.kernel();
                check("clSetKernelArg", CL.clSetKernelArg(k, 0, Sizeof.cl_mem, Pointer.to(partials)));
                check("clSetKernelArg", CL.clSetKernelArg(k, 1, Sizeof.cl_uint, Pointer.to(new int[] {(int) groups})));
                setArgument(reducePartials, 2, out, retained);
                check("clSetKernelArg", CL.clSetKernelArg(k, 3, (long) local * Float.BYTES, null));
                enqueue(reducePartials, null, new long[] {local}, new long[] {local}, last);
            }
        }
    }

    /**
     * Launches {@code width x height} items (height 1: one dimension) as a bulk of a multiple of {@code granule}
     * along x and a tail at a global offset, so the driver never has to pick a work-group size for an odd count;
     * both from x = {@code start} (a range launch's global offset).
     */
    private void runSplit(ClKernel kernel, long start, long width, long height, long granule, cl_event last,
            KernelArgument... arguments) {
        long tail = width % granule;
        long bulk = width - tail;
        boolean twoD = height > 1 || kernel.builtin() == BuiltinKernel.STENCIL_2D;
        synchronized (kernel.lock()) {
            try (Retained retained = new Retained()) {
                for (int i = 0; i < arguments.length; i++)
                    setArgument(kernel, i, arguments[i], retained);
                if (bulk > 0)
                    enqueue(kernel, start == 0 ? null : twoD ? new long[] {start, 0} : new long[] {start},
                            twoD ? new long[] {bulk, height} : new long[] {bulk}, null, tail > 0 ? null : last);
                if (tail > 0)
                    enqueue(kernel, twoD ? new long[] {start + bulk, 0} : new long[] {start + bulk},
                            twoD ? new long[] {tail, height} : new long[] {tail}, null, last);
            }
        }
    }

    private void enqueue(ClKernel kernel, long[] offset, long[] global, long[] local, cl_event event) {
        check("clEnqueueNDRangeKernel(" + kernel.name() + ")",
                CL.clEnqueueNDRangeKernel(queue, kernel.kernel(), global.length, offset, global, local, 0, null, event));
    }

    /**
     * cl_mem objects retained for one launch while its arguments are set, released once enqueued (an enqueued
     * command holds its own references), so a cache eviction on another thread cannot free one in between.
     */
    private static final class Retained implements AutoCloseable {
        private final List<cl_mem> mems = new ArrayList<>(4);

        cl_mem add(cl_mem mem) {
            mems.add(mem);
            return mem;
        }

        @Override
        public void close() {
            mems.forEach(CL::clReleaseMemObject);
            mems.clear();
        }
    }

    /** Test hook, null but in tests: runs as a launch starts to set each argument, to race a release against it. */
    volatile Runnable beforeSettingArgument;

    /** Called with the kernel's lock held. */
    private void setArgument(ClKernel kernel, int index, KernelArgument argument, Retained retained) {
        Runnable hook = beforeSettingArgument;
        if (hook != null)
            hook.run();
        OpenClMemory.Lookup lookup = argument instanceof KernelArgument.Buffer b ? memOf(b, retained) : null;
        cl_mem mem = lookup != null ? lookup.mem() : null;
        /*
         * The release count comes with the lookup, under the lock releases count under: a buffer the argument was
         * set to with the same handle and count is this very one (a released one's handle comes back only after its
         * release counted). Read before the lookup, a release racing this launch (another thread's eviction) let a
         * new buffer with the freed handle pass for the old; read after it, a release between the two let the next
         * buffer with that handle pass for this one.
         * Keys of different kinds never match: a Float and an Integer of the same bits differ (equals compares the
         * type), and a buffer's handle is not a Long scalar of the same value (which must still reach the driver
         * to be refused where the kernel takes a buffer).
         */
        Object value = mem != null ? new MemArgument(OpenCl.nativePointer(mem), lookup.releases())
                : ((KernelArgument.Scalar) argument).value();
        if (kernel.lock().holds(index, value))
            return;
        int rc = switch (argument) {
            case KernelArgument.Buffer b -> CL.clSetKernelArg(kernel.kernel(), index, Sizeof.cl_mem, Pointer.to(mem));
            case KernelArgument.Scalar(Integer v) -> CL.clSetKernelArg(kernel.kernel(), index, Sizeof.cl_int, Pointer.to(new int[] {v}));
            case KernelArgument.Scalar(Long v) -> CL.clSetKernelArg(kernel.kernel(), index, Sizeof.cl_long, Pointer.to(new long[] {v}));
            case KernelArgument.Scalar(Float v) -> CL.clSetKernelArg(kernel.kernel(), index, Sizeof.cl_float, Pointer.to(new float[] {v}));
            case KernelArgument.Scalar(Double v) -> CL.clSetKernelArg(kernel.kernel(), index, Sizeof.cl_double, Pointer.to(new double[] {v}));
            case KernelArgument.Scalar s -> throw new IllegalArgumentException("unsupported scalar " + s);
        };
        if (rc == CL.CL_SUCCESS)
            kernel.lock().set(index, value);
        else
            kernel.lock().forget(index);
        check("clSetKernelArg(" + kernel.name() + ", " + index + ")", rc);
    }

    /** The cl_mem for an array argument, retained for the launch, with the release count of its lookup. */
    private OpenClMemory.Lookup memOf(KernelArgument.Buffer buffer, Retained retained) {
        // A zero-copy array is named by its buffer's slot even on a coherent device (its user view may be protected).
        if (!coherent || OpenClMemory.isSlotAddress(buffer.deviceAddress())) {
            OpenClMemory.Lookup lookup = memory.lookUp(buffer.deviceAddress(), buffer.byteSize());
            retained.add(lookup.mem());
            return lookup;
        }
        MemorySegment host = buffer.host();
        if (host.byteSize() > Integer.MAX_VALUE)
            throw new IllegalArgumentException("placement=coherent on " + id() + ": an array of " + host.byteSize()
                    + " bytes is above the 2 GiB JOCL can wrap as a host pointer; use placement=migrate");
        HostRange key = new HostRange(host.address(), host.byteSize());
        synchronized (hostBuffers) {
            cl_mem mem = hostBuffers.get(key);
            if (mem == null) {
                int[] status = new int[1];
                mem = CL.clCreateBuffer(context, CL.CL_MEM_READ_WRITE | CL.CL_MEM_USE_HOST_PTR, host.byteSize(),
                        Pointer.to(host.asByteBuffer()), status);
                check("clCreateBuffer(CL_MEM_USE_HOST_PTR, " + host.byteSize() + " bytes)", status[0]);
                hostBuffers.put(key, mem);
            }
            CL.clRetainMemObject(mem);
            retained.add(mem);
            // Under the lock this cache's releases count under (removeEldestEntry).
            return new OpenClMemory.Lookup(mem, memory.releases());
        }
    }

    int cachedHostBuffers() {
        synchronized (hostBuffers) {
            return hostBuffers.size();
        }
    }

    private void check(String call, int status) {
        OpenCl.check(call, status, id());
    }

    @Override
    public void synchronize() {
        if (copyQueue != null)
            check("clFinish(copies)", CL.clFinish(copyQueue));
        check("clFinish", CL.clFinish(queue));
    }

    void close() {
        if (copyQueue != null)
            CL.clFinish(copyQueue);
        CL.clFinish(queue);
        synchronized (hostBuffers) {
            hostBuffers.values().forEach(CL::clReleaseMemObject);
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
        userKernels.forEach(CL::clReleaseKernel);
        userKernels.clear();
        userPrograms.forEach(CL::clReleaseProgram);
        userPrograms.clear();
        if (copyQueue != null)
            CL.clReleaseCommandQueue(copyQueue);
        CL.clReleaseCommandQueue(queue);
        CL.clReleaseContext(context);
    }

    @Override
    public String toString() {
        return id() + " " + name + (coherent ? " [coherent]" : " [migrating]");
    }
}
