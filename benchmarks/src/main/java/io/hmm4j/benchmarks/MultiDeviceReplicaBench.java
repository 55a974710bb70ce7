package io.hmm4j.benchmarks;

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
    private FloatArray[] results;
    private long n;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend("emulated").setting("devices", "2")
                .setting("bandwidth", String.valueOf(bandwidth)).setting("latency.ns", String.valueOf(latencyNs))
                .blockSize(BLOCK).build();
        n = (long) megabytes * (1 << 20) / Float.BYTES;
        input = heap.allocateFloats(n);
        for (long i = 0; i < n; i++)
            input.set(i, 1f);
        results = new FloatArray[] {heap.allocateFloats(1), heap.allocateFloats(1)};
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
    }

    private void sumOn(int device) {
        heap.launchOn(device, BuiltinKernel.SUM, n, Arg.read(input), Arg.write(results[device]), Arg.of(n)).await();
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
}
