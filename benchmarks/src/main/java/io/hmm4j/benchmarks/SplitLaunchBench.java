package io.hmm4j.benchmarks;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
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
 * What range launches gain when two devices split one array (issue 11, item 6, target (b): two devices at least 1.8x
 * the throughput of one). Two emulated devices, each with its own PCIe-like bus ({@code bandwidth} bytes/s,
 * {@code latencyNs} per copy) and a kernel cost modelled at {@code kernelBandwidth} bytes/s of memory the kernel
 * touches (so the emulated kernel's time is the model's, not this machine's cores'); built-ins and copies run on each
 * device's own native engines (overlap on), so one thread launches both halves.
 *
 * <p>One operation: {@code y = x + y} (AXPY) over all of {@code x} and {@code y}, then {@code migrate(x, HOST)},
 * which drops the device copies of x without a copy (the host's is valid) and leaves x's host pages read-only (no
 * host write follows), so neither it nor the next launch's copy of x changes a protection: every operation copies all
 * of x over the bus again (thrash control off: it would place x zero-copy), and y stays where the kernels wrote it.
 * {@code oneDevice} (the baseline): one launch on device 0.
 * {@code twoDevices}: the first half on device 0 and the second on device 1, each a range launch of its half (its
 * half of x copied over its own bus), the second launched before the first is awaited.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class SplitLaunchBench {

    private static final long BLOCK = 64 * 1024;

    @Param("16")
    public int megabytes;

    /** PCIe 4.0 x16-like. */
    @Param("12000000000")
    public long bandwidth;

    @Param("10000")
    public long latencyNs;

    /**
     * Bytes a kernel reads and writes per second on one device: AXPY touches 12 bytes per element. Each operation also
     * pays what does not split, the launches' placement and migrate(x, HOST) in the one launching thread (bookkeeping
     * of 256 blocks: no protection changes, which cost about 4 ms each way for 16 MiB on a guest with slow mprotect),
     * so the ratio nears 2 as the kernel grows against them.
     */
    @Param({"2000000000", "1000000000", "500000000"})
    public long kernelBandwidth;

    private ManagedHeap heap;
    private FloatArray x;
    /** One y per variant, so that neither finds the other's on the wrong device. */
    private FloatArray yOne;
    private FloatArray yTwo;
    private long n;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend("emulated").setting("devices", "2").setting("overlap", "true")
                .setting("bandwidth", String.valueOf(bandwidth)).setting("latency.ns", String.valueOf(latencyNs))
                .setting("kernel.bandwidth", String.valueOf(kernelBandwidth)).blockSize(BLOCK)
                // x is meant to cross the bus every operation (new input each time): thrash control would place it
                // zero-copy after a few, and a zero-copy array is used by one launch at a time.
                .thrashControl(false).build();
        n = (long) megabytes * (1 << 20) / Float.BYTES;
        if (n % 2 != 0 || (n / 2 * Float.BYTES) % BLOCK != 0)
            throw new IllegalArgumentException("megabytes must split into two halves of whole blocks: " + megabytes);
        x = heap.allocateFloats(n);
        yOne = heap.allocateFloats(n);
        yTwo = heap.allocateFloats(n);
        for (long i = 0; i < n; i++) {
            x.set(i, 1f);
            yOne.set(i, 0f);
            yTwo.set(i, 0f);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
    }

    private Launch axpy(int device, FloatArray y, long first, long count) {
        return heap.launchOn(device, BuiltinKernel.AXPY, first, count, Arg.read(x, first, count),
                Arg.readWrite(y, first, count), Arg.of(1f), Arg.of(count));
    }

    @Benchmark
    public void oneDevice() {
        axpy(0, yOne, 0, n).await();
        heap.migrate(x, Location.HOST);
    }

    @Benchmark
    public void twoDevices() {
        long half = n / 2;
        Launch first = axpy(0, yTwo, 0, half);
        Launch second = axpy(1, yTwo, half, half);
        first.await();
        second.await();
        heap.migrate(x, Location.HOST);
    }
}
