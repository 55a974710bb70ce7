package io.hmm4j.benchmarks.opencl;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.Sizeof;
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
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The iterative CPU + kernel workload on OpenCL, one operation per step: a kernel scales a 16 MiB float array
 * in place, then the CPU reads 1024 floats from its middle and, with {@code hostWrites}, writes one of them back
 * (as real loops do: the next kernel must see it).
 * <ul>
 *   <li>{@code hmm4j}: a managed array on the OpenCL backend in the placement under test; the read faults one
 *       block home (migrate) or reads host memory directly (coherent).</li>
 *   <li>{@code handWrittenJocl}: the same work written by hand in JOCL on the same device ({@link RawOpenCl}): the array resident in a
 *       cl_mem, the same kernel source, and a blocking clEnqueueReadBuffer of only the 4 KiB the CPU needs; the
 *       written element goes to the device with a non-blocking 4-byte clEnqueueWriteBuffer, ordered before the
 *       next kernel by the in-order queue.</li>
 * </ul>
 * The ratio hmm4j / handWrittenJocl is hmm4j's overhead; the aim is at most 1.1.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class OpenClIterativeBench {

    static final int N = 4 << 20;
    static final long BYTES = (long) N * Float.BYTES;
    static final int WINDOW = 1024;
    static final int WINDOW_START = N / 2;

    private static final String SCALE_SOURCE = """
            __kernel void bench_scale(__global float *x, float a, ulong n) {
                size_t i = get_global_id(0);
                x[i] = x[i] * a;
            }
            """;

    @Param({"migrate", "coherent"})
    public String placement;

    @Param({"false", "true"})
    public boolean hostWrites;

    /** The heap's block size: the granule a read fault brings home (the hand-written code reads 4 KiB). */
    @Param({"65536"})
    public long blockSize;

    private ManagedHeap heap;
    private FloatArray array;

    private RawOpenCl raw;
    private cl_program program;
    private cl_kernel kernel;
    private cl_mem buffer;
    private ByteBuffer window;
    private ByteBuffer element;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend("opencl").setting("placement", placement).blockSize(blockSize).build();
        array = heap.allocateFloats(N);
        for (int i = 0; i < N; i++)
            array.set(i, i % 100);
        setUpHandWritten();
    }

    private void setUpHandWritten() {
        raw = new RawOpenCl();
        int[] status = new int[1];
        program = CL.clCreateProgramWithSource(raw.context, 1, new String[] {SCALE_SOURCE}, null, status);
        RawOpenCl.check(status[0], "clCreateProgramWithSource");
        RawOpenCl.check(CL.clBuildProgram(program, 0, null, null, null, null), "clBuildProgram");
        kernel = CL.clCreateKernel(program, "bench_scale", status);
        RawOpenCl.check(status[0], "clCreateKernel");
        float[] initial = new float[N];
        for (int i = 0; i < N; i++)
            initial[i] = i % 100;
        buffer = raw.buffer(BYTES);
        RawOpenCl.check(CL.clEnqueueWriteBuffer(raw.queue, buffer, CL.CL_TRUE, 0, BYTES, Pointer.to(initial), 0, null, null),
                "clEnqueueWriteBuffer");
        window = ByteBuffer.allocateDirect(WINDOW * Float.BYTES).order(ByteOrder.nativeOrder());
        element = ByteBuffer.allocateDirect(Float.BYTES).order(ByteOrder.nativeOrder());
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
        CL.clReleaseMemObject(buffer);
        CL.clReleaseKernel(kernel);
        CL.clReleaseProgram(program);
        raw.close();
    }

    @Benchmark
    public float hmm4j() {
        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(array), Arg.of(1.0f), Arg.of((long) N));
        float sum = 0;
        for (int i = WINDOW_START; i < WINDOW_START + WINDOW; i++)
            sum += array.get(i);
        if (hostWrites)
            array.set(WINDOW_START, array.get(WINDOW_START + 1));
        return sum;
    }

    @Benchmark
    public float handWrittenJocl() {
        CL.clSetKernelArg(kernel, 0, Sizeof.cl_mem, Pointer.to(buffer));
        CL.clSetKernelArg(kernel, 1, Sizeof.cl_float, Pointer.to(new float[] {1.0f}));
        CL.clSetKernelArg(kernel, 2, Sizeof.cl_long, Pointer.to(new long[] {N}));
        CL.clEnqueueNDRangeKernel(raw.queue, kernel, 1, null, new long[] {N}, null, 0, null, null);
        CL.clEnqueueReadBuffer(raw.queue, buffer, CL.CL_TRUE, (long) WINDOW_START * Float.BYTES, (long) WINDOW * Float.BYTES,
                Pointer.to(window), 0, null, null);
        float sum = 0;
        for (int i = 0; i < WINDOW; i++)
            sum += window.getFloat(i * Float.BYTES);
        if (hostWrites) {
            // The previous step's write finished before its blocking read returned (in-order queue): reusable.
            element.putFloat(0, window.getFloat(Float.BYTES));
            CL.clEnqueueWriteBuffer(raw.queue, buffer, CL.CL_FALSE, (long) WINDOW_START * Float.BYTES, Float.BYTES,
                    Pointer.to(element), 0, null, null);
        }
        return sum;
    }
}
