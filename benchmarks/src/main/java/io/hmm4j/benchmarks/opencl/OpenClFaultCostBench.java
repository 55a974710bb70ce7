package io.hmm4j.benchmarks.opencl;

import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.benchmarks.DeviceResident;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.cl_mem;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The cost of one host read fault on OpenCL in migrating placement, by block size. Before each invocation a FILL
 * launch with {@code Arg.write} leaves all {@value #BATCH} blocks of an array DEVICE; {@code fault} then reads one
 * byte of each block: one SIGSEGV, one blocking clEnqueueReadBuffer of the block through the engine's C table, one
 * protection change (read-ahead off, {@code prefetchBlocks(0)}). Scores are per fault.
 *
 * <p>Baseline in the same class: {@code rawReadBlock} is what a hand-written JOCL program pays to fetch the same
 * block: one blocking clEnqueueReadBuffer of {@code blockSize} bytes from a cl_mem into native memory, and the
 * read of the byte. The ratio fault / rawReadBlock is what the transparency costs per block.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class OpenClFaultCostBench {

    /** Blocks faulted per invocation; scores are divided by it. */
    static final int BATCH = 32;

    @Param({"4096", "65536", "1048576"})
    public long blockSize;

    /** Whether DEVICE blocks give their host pages back (the default); {@code false}: a block comes home into kept pages. */
    @Param({"true", "false"})
    public boolean releaseHost;

    private ManagedHeap heap;
    private FloatArray array;
    private MemorySegment handle;

    private RawOpenCl cl;
    private cl_mem buffer;
    private Arena arena;
    private MemorySegment host;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend("opencl").setting("placement", "migrate").blockSize(blockSize)
                .prefetchBlocks(0).releaseHostMemory(releaseHost).build();
        array = heap.allocateFloats(BATCH * blockSize / Float.BYTES);
        handle = array.segment();
        DeviceResident.fillAndCheck(heap, array, 1.0f);

        cl = new RawOpenCl();
        arena = Arena.ofShared();
        host = arena.allocate(BATCH * blockSize, 4096);
        buffer = cl.buffer(BATCH * blockSize);
        RawOpenCl.check(CL.clEnqueueWriteBuffer(cl.queue, buffer, CL.CL_TRUE, 0, BATCH * blockSize, Pointer.to(host.asByteBuffer()), 0, null, null), "clEnqueueWriteBuffer");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
        CL.clReleaseMemObject(buffer);
        cl.close();
        arena.close();
    }

    @Setup(Level.Invocation)
    public void toDevice() {
        DeviceResident.fill(heap, array, 1.0f);
    }

    /** One read per block: each one faults and migrates exactly one block home. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void fault(Blackhole bh) {
        for (int b = 0; b < BATCH; b++)
            bh.consume(handle.get(ValueLayout.JAVA_BYTE, b * blockSize + 8));
    }

    /** The hand-written equivalent: read the block with clEnqueueReadBuffer, then the byte. */
    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void rawReadBlock(Blackhole bh) {
        for (int b = 0; b < BATCH; b++) {
            MemorySegment block = host.asSlice(b * blockSize, blockSize);
            RawOpenCl.check(CL.clEnqueueReadBuffer(cl.queue, buffer, CL.CL_TRUE, b * blockSize, blockSize, Pointer.to(block.asByteBuffer()),
                    0, null, null), "clEnqueueReadBuffer");
            bh.consume(block.get(ValueLayout.JAVA_BYTE, 8));
        }
    }
}
