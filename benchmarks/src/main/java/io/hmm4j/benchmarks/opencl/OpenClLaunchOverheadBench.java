package io.hmm4j.benchmarks.opencl;

import io.hmm4j.Arg;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.UserKernel;
import io.hmm4j.spi.KernelSource;
import java.util.concurrent.TimeUnit;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
import org.jocl.cl_event;
import org.jocl.cl_kernel;
import org.jocl.cl_mem;
import org.jocl.cl_program;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of one launch on the migrating OpenCL placement when nothing has to move (issue 12, item 6): an empty
 * kernel over three arrays that are already valid on the device, launched and waited for.
 * <ul>
 *   <li>{@code hmm4j}: {@code heap.launch(empty, N, read(a), read(b), read(c)).await()}; the arrays' blocks are
 *       SHARED after the set-up launch, so the launch copies nothing and waits for its own event.</li>
 *   <li>{@code rawJocl}: the same kernel on three resident cl_mem buffers of the same size: three clSetKernelArg,
 *       one clEnqueueNDRangeKernel recording an event, clWaitForEvents and clReleaseEvent (what hmm4j's launch and
 *       await do at the driver).</li>
 * </ul>
 * The ratio hmm4j / rawJocl is the runtime's launch overhead; issue 12 aims at most 2.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class OpenClLaunchOverheadBench {

    static final int N = 1024;
    static final long BYTES = (long) N * Float.BYTES;

    private static final String EMPTY_SOURCE = """
            __kernel void bench_empty3(__global const float *a, __global const float *b, __global const float *c) {
            }
            """;

    private ManagedHeap heap;
    private UserKernel empty;
    private FloatArray a;
    private FloatArray b;
    private FloatArray c;

    private RawOpenCl raw;
    private cl_program program;
    private cl_kernel kernel;
    private final cl_mem[] buffers = new cl_mem[3];

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend("opencl").setting("placement", "migrate").build();
        a = heap.allocateFloats(N);
        b = heap.allocateFloats(N);
        c = heap.allocateFloats(N);
        empty = heap.load(KernelSource.openCl("bench_empty3", EMPTY_SOURCE));
        hmm4j();

        raw = new RawOpenCl();
        int[] status = new int[1];
        program = CL.clCreateProgramWithSource(raw.context, 1, new String[] {EMPTY_SOURCE}, null, status);
        RawOpenCl.check(status[0], "clCreateProgramWithSource");
        RawOpenCl.check(CL.clBuildProgram(program, 0, null, null, null, null), "clBuildProgram");
        kernel = CL.clCreateKernel(program, "bench_empty3", status);
        RawOpenCl.check(status[0], "clCreateKernel");
        for (int i = 0; i < buffers.length; i++)
            buffers[i] = raw.buffer(BYTES);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
        for (cl_mem buffer : buffers)
            CL.clReleaseMemObject(buffer);
        CL.clReleaseKernel(kernel);
        CL.clReleaseProgram(program);
        raw.close();
    }

    @Benchmark
    public void hmm4j() {
        heap.launch(empty, N, Arg.read(a), Arg.read(b), Arg.read(c)).await();
    }

    @Benchmark
    public void rawJocl() {
        for (int i = 0; i < buffers.length; i++)
            CL.clSetKernelArg(kernel, i, Sizeof.cl_mem, Pointer.to(buffers[i]));
        cl_event done = new cl_event();
        CL.clEnqueueNDRangeKernel(raw.queue, kernel, 1, null, new long[] {N}, null, 0, null, done);
        CL.clWaitForEvents(1, new cl_event[] {done});
        CL.clReleaseEvent(done);
    }
}
