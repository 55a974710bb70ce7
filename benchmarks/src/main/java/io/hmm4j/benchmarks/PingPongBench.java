package io.hmm4j.benchmarks;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.internal.engine.Fence;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.KernelArgument;
import io.hmm4j.Access;
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
 * Issue 11 target (a): a ping-pong workload. Per step the host writes 4 KiB of an array (at the next 4 KiB of it,
 * round robin) and a kernel (SUM) reads all of it. On an emulated device with a PCIe-like bus ({@code latency.ns}
 * 10 µs per copy, 12 GB/s). Every variant synchronises the same way: with {@code overlap=false} the kernel runs in
 * the launching thread, with {@code overlap=true} it is queued on the device's compute engine and waited for by its
 * event.
 * <ul>
 *   <li>{@code alwaysMigrate}: thrash control off: every step the host write faults the block back (SHARED to HOST)
 *       and the launch copies it to the device again.</li>
 *   <li>{@code thrashControl}: the default: after a few such steps the array is placed zero-copy and the kernel reads
 *       host memory over the bus (its bytes at 12 GB/s), nothing moves, the host write faults no more.</li>
 *   <li>{@code handWrittenZeroCopy} (the baseline): the same bytes written into plain Arena memory that the same
 *       device maps for kernels ({@link Device#mapHost}, the same bus cost per byte read), and the same SUM run
 *       directly on its copy engine in the calling thread: no heap, no faults, no protection changes.</li>
 * </ul>
 * Ratios asked for: {@code alwaysMigrate / thrashControl >= 2} and {@code thrashControl / handWrittenZeroCopy <= 1.2}.
 * The array size is a parameter because it decides the first: zero-copy reads the whole array over the bus every
 * step, migration moves one block; thrash control only switches arrays of at most 4 times the bytes that moved per
 * launch (one 64 KiB block here: 256 KiB).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class PingPongBench {

    static final int WRITE_BYTES = 4096;

    @Param({"65536", "262144"})
    public long arrayBytes;

    /**
     * Emulated {@code overlap}: false, kernels run in the launching thread (a zero-copy launch needs no protection:
     * it is over when launch returns); true, on the device's compute engine, awaited by its event (the pages holding
     * each zero-copy array's bytes are protected while the kernel runs: two protection changes per array and step,
     * most of the step on a guest where mprotect pays TLB-shootdown IPIs).
     */
    @Param({"false", "true"})
    public boolean overlap;

    private ManagedHeap migrating;
    private ManagedHeap controlled;
    private FloatArray migratingX;
    private FloatArray migratingOut;
    private FloatArray controlledX;
    private FloatArray controlledOut;
    private Arena plain;
    private MemorySegment hostX;
    private MemorySegment hostOut;
    private NativeCopyEngine engine;
    private Device device;
    private List<KernelArgument> baselineArgs;
    private MemorySegment source;
    private long step;

    private ManagedHeap heap(boolean thrashControl) {
        return ManagedHeap.builder().backend("emulated").setting("latency.ns", "10000")
                .setting("bandwidth", "12000000000").setting("overlap", Boolean.toString(overlap))
                .thrashControl(thrashControl).build();
    }

    @Setup(Level.Trial)
    public void setUp() {
        long n = arrayBytes / Float.BYTES;
        migrating = heap(false);
        controlled = heap(true);
        migratingX = migrating.allocateFloats(n);
        migratingOut = migrating.allocateFloats(1);
        controlledX = controlled.allocateFloats(n);
        controlledOut = controlled.allocateFloats(1);
        plain = Arena.ofShared();
        hostX = plain.allocate(arrayBytes, 4096);
        hostOut = plain.allocate(4096, 4096);
        source = plain.allocate(WRITE_BYTES);
        source.fill((byte) 1);
        device = controlled.devices().getFirst();
        engine = device.copyEngine();
        long x = device.mapHost(hostX);
        long out = device.mapHost(hostOut);
        // The steps before thrash control switches are the same as alwaysMigrate's; the measured ones come after.
        for (int i = 0; i < 2 * ManagedHeap.DEFAULT_THRASH_WINDOW && !controlled.isZeroCopy(controlledX); i++)
            thrashControl();
        if (!controlled.isZeroCopy(controlledX))
            throw new IllegalStateException("thrash control did not place the " + arrayBytes + "-byte array zero-copy");
        baselineArgs = List.of(new KernelArgument.Buffer(x, arrayBytes, Access.READ, hostX),
                new KernelArgument.Buffer(out, 4, Access.WRITE, hostOut), new KernelArgument.Scalar(n));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        device.unmapHost(hostX, 0);
        device.unmapHost(hostOut, 0);
        migrating.close();
        controlled.close();
        plain.close();
    }

    private long nextOffset() {
        return (step++ * WRITE_BYTES) % arrayBytes;
    }

    @Benchmark
    public float alwaysMigrate() {
        MemorySegment.copy(source, 0, migratingX.segment(), nextOffset(), WRITE_BYTES);
        migrating.launch(BuiltinKernel.SUM, migratingX.length(), Arg.read(migratingX), Arg.write(migratingOut),
                Arg.of(migratingX.length())).await();
        return migratingOut.get(0);
    }

    @Benchmark
    public float thrashControl() {
        MemorySegment.copy(source, 0, controlledX.segment(), nextOffset(), WRITE_BYTES);
        controlled.launch(BuiltinKernel.SUM, controlledX.length(), Arg.read(controlledX), Arg.write(controlledOut),
                Arg.of(controlledX.length())).await();
        return controlledOut.get(0);
    }

    @Benchmark
    public float handWrittenZeroCopy() {
        MemorySegment.copy(source, 0, hostX, nextOffset(), WRITE_BYTES);
        if (overlap) {
            // Queued on the compute engine and awaited by its event, as a launch's await() does.
            Fence fence = Fence.create(engine, engine.launchEmulated(BuiltinKernel.SUM, baselineArgs, true));
            fence.await();
            fence.release();
        } else {
            engine.launchEmulated(BuiltinKernel.SUM, baselineArgs, false);
        }
        return hostOut.get(ValueLayout.JAVA_FLOAT, 0);
    }
}
