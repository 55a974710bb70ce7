package io.hmm4j.benchmarks;

import io.hmm4j.Advice;
import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
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
 * What keeping a block valid on several devices saves when two devices take turns reading one input (issue 11's
 * per-block placement; target (c)'s "copied once per device, not per launch"). Two emulated devices, each with a
 * PCIe-like bus ({@code bandwidth} bytes/s, {@code latencyNs} per copy). One operation: SUM of the input on device 0,
 * then on device 1, each into a one-float result of its own, both awaited.
 *
 * <p>{@code replicated}: the input stays valid on the host and both devices, so after the first operation no launch
 * copies anything in. {@code copiedPerLaunch} (the baseline): the same launches, each followed by
 * {@code migrate(input, HOST)}, which invalidates the device copies without copying (the host's is valid): every
 * launch copies the input over the bus again, as when an array could be on one device at a time.
 *
 * <p>Issue 11 target (c), READ_MOSTLY advice: a program written for CUDA moves its input to each device before the
 * launch there ({@code migrate}, as {@code cudaMemPrefetchAsync}). {@code migrateReadMostly}: the input is advised
 * {@link Advice#readMostly()}, so each migrate adds a copy and after the first operation nothing is copied.
 * {@code migrateExclusive} (its baseline, the same calls on an unadvised twin input): each migrate moves the input
 * exclusively, device to device, so every launch pays a 16 MiB copy.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class MultiDeviceReplicaBench {

    private static final long BLOCK = 64 * 1024;

    @Param("16")
    public int megabytes;

    /** PCIe 4.0 x16-like. */
    @Param("12000000000")
    public long bandwidth;

    @Param("10000")
    public long latencyNs;

    private ManagedHeap heap;
    private FloatArray input;
    private FloatArray readMostly;
    private FloatArray exclusive;
    private FloatArray[] results;
    private long n;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend("emulated").setting("devices", "2")
                .setting("bandwidth", String.valueOf(bandwidth)).setting("latency.ns", String.valueOf(latencyNs))
                // copiedPerLaunch is meant to copy the input every launch: thrash control would place it zero-copy.
                .blockSize(BLOCK).thrashControl(false).build();
        n = (long) megabytes * (1 << 20) / Float.BYTES;
        input = filled(n);
        results = new FloatArray[] {heap.allocateFloats(1), heap.allocateFloats(1)};
        readMostly = filled(n);
        exclusive = filled(n);
        heap.advise(readMostly, 0, readMostly.byteSize(), Advice.readMostly());
    }

    private FloatArray filled(long count) {
        FloatArray a = heap.allocateFloats(count);
        for (long i = 0; i < count; i++)
            a.set(i, 1f);
        return a;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
    }

    private void sumOn(int device) {
        sumOn(device, input);
    }

    private void sumOn(int device, FloatArray array) {
        heap.launchOn(device, BuiltinKernel.SUM, n, Arg.read(array), Arg.write(results[device]), Arg.of(n)).await();
    }

    private void migrateAndSum(FloatArray array) {
        for (int device = 0; device < 2; device++) {
            heap.migrate(array, Location.device(device));
            sumOn(device, array);
        }
    }

    @Benchmark
    public void replicated() {
        sumOn(0);
        sumOn(1);
    }

    @Benchmark
    public void copiedPerLaunch() {
        sumOn(0);
        heap.migrate(input, Location.HOST);
        sumOn(1);
        heap.migrate(input, Location.HOST);
    }

    @Benchmark
    public void migrateReadMostly() {
        migrateAndSum(readMostly);
    }

    @Benchmark
    public void migrateExclusive() {
        migrateAndSum(exclusive);
    }
}
