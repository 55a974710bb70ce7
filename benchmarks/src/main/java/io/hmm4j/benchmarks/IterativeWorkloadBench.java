package io.hmm4j.benchmarks;

import io.hmm4j.Access;
import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelArgument;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.TimeUnit;
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
 * An iterative workload: each step a kernel (SCALE) updates a whole 16 MiB float array on the device and the CPU
 * then reads a small window of it (1024 floats, 4 KiB) and writes one float of that window back, as a real loop
 * feeds a boundary condition or a parameter into the next step. One operation is one step. Every variant does
 * the same host work; only how the bytes move differs.
 * <ul>
 *   <li>{@code managed}: hmm4j as intended: launch, then read and write; the read faults one block home, the
 *       write makes it HOST, so the next launch uploads that one block.</li>
 *   <li>{@code managedCopyAll}: the same heap used the copy-everything way: after each launch the whole array is
 *       made host-writable (all blocks copied home, device copy stale), so the next launch copies it all back.</li>
 *   <li>{@code rawCopyAll}: no heap: the backend's raw device memory through the SPI, and the naive explicit-copy
 *       program: copy the whole array to the device, launch, copy the whole array back, every step.</li>
 *   <li>{@code rawCopyRange}: the best explicit-copy program a user would write by hand: the array stays on the
 *       device, each step copies back only the 4 KiB it reads and uploads that 4 KiB again after writing it.</li>
 * </ul>
 * {@code rawCopyRange} is the floor, {@code rawCopyAll} the naive baseline. The raw variants need a device that
 * is not coherent (they fail with a message on a zero-copy device).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class IterativeWorkloadBench {

    static final long BYTES = 16L << 20;
    static final long N = BYTES / Float.BYTES;
    /** The window the CPU reads each step: 1024 floats in the middle of the array. */
    static final long WINDOW_OFFSET = BYTES / 2;
    static final long WINDOW_BYTES = 4096;

    @Param("emulated")
    public String backend;

    private ManagedHeap heap;
    private FloatArray array;

    private Device device;
    private NativeCopyEngine copies;
    private Kernel scale;
    private long deviceAddress;
    private Arena arena;
    private MemorySegment host;
    private List<KernelArgument> rawArguments;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend(backend).build();
        array = heap.allocateFloats(N);
        array.segment().fill((byte) 0);
        arena = Arena.ofShared();
        host = arena.allocate(BYTES, 4096);
        host.fill((byte) 0);
        device = heap.devices().getFirst();
        if (!device.coherent()) {
            copies = device.copyEngine();
            scale = device.builtin(BuiltinKernel.SCALE);
            deviceAddress = device.memory().allocate(BYTES);
            copies.copyToDevice(deviceAddress, host);
            rawArguments = List.of(new KernelArgument.Buffer(deviceAddress, BYTES, Access.READ_WRITE, host),
                    new KernelArgument.Scalar(1.0f), new KernelArgument.Scalar(N));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (deviceAddress != 0)
            device.memory().deallocate(deviceAddress, BYTES);
        heap.close();
        arena.close();
    }

    /** Reads the window, then writes its mean into its first float (bounded, so no value drifts to infinity). */
    private static float readAndWriteWindow(MemorySegment s) {
        float sum = 0;
        for (long i = 0; i < WINDOW_BYTES; i += Float.BYTES)
            sum += s.get(ValueLayout.JAVA_FLOAT, WINDOW_OFFSET + i);
        s.set(ValueLayout.JAVA_FLOAT, WINDOW_OFFSET, sum / (WINDOW_BYTES / Float.BYTES));
        return sum;
    }

    private void requireRaw() {
        if (device.coherent())
            throw new UnsupportedOperationException(device.id() + " is coherent (zero-copy): no explicit copies to compare");
    }

    @Benchmark
    public float managed() {
        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(array), Arg.of(1.0f), Arg.of(N)).await();
        return readAndWriteWindow(array.segment());
    }

    @Benchmark
    public float managedCopyAll() {
        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(array), Arg.of(1.0f), Arg.of(N)).await();
        heap.makeHostWritable(array, 0, BYTES);
        return readAndWriteWindow(array.segment());
    }

    @Benchmark
    public float rawCopyAll() {
        requireRaw();
        copies.copyToDevice(deviceAddress, host);
        device.launch(scale, N, rawArguments);
        device.synchronize();
        copies.copyToHost(host, deviceAddress);
        return readAndWriteWindow(host);
    }

    @Benchmark
    public float rawCopyRange() {
        requireRaw();
        device.launch(scale, N, rawArguments);
        device.synchronize();
        MemorySegment window = host.asSlice(WINDOW_OFFSET, WINDOW_BYTES);
        copies.copyToHost(window, deviceAddress + WINDOW_OFFSET);
        float sum = readAndWriteWindow(host);
        copies.copyToDevice(deviceAddress + WINDOW_OFFSET, window);
        return sum;
    }
}
