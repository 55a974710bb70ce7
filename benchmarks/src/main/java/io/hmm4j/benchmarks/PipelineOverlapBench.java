package io.hmm4j.benchmarks;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
import io.hmm4j.ManagedHeap;
import java.util.ArrayList;
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
 * Do the copies of launch k+1 overlap kernel k (issue 12, item 3)? A pipeline of {@value #LAUNCHES} DOT launches,
 * each over two fresh arrays of {@value #ARRAY_BYTES} bytes the host has just written (one write per block makes
 * every block HOST again, so each launch uploads both arrays whole), launched back to back and awaited at the end;
 * the results stay on the device.
 * The emulated bus is PCIe-like ({@code latency.ns} 10 µs, {@code bandwidth} bytes/s, 1 GB/s by default) and the kernel model
 * ({@code kernel.bandwidth}) is the same rate over the bytes DOT reads, so per launch the copies and the kernel take
 * equal time.
 * <ul>
 *   <li>{@code overlap=true}: uploads run on the device's copy engine while the previous kernel runs on its compute
 *       engine; ideally {@code (LAUNCHES + 1) x T} for a copy time T.</li>
 *   <li>{@code overlap=false} (the baseline): the same copies and kernels, serialized in the launching thread:
 *       {@code 2 x LAUNCHES x T}.</li>
 * </ul>
 * Ratio asked for: {@code overlap=false / overlap=true >= 1.6} (ideal {@code 2 x 8 / 9 = 1.78}).
 * <p>{@code -p backend=opencl} (migrating placement) and {@code -p backend=cuda} run the same pipeline on a real
 * device with {@code overlap} as the second queue / stream setting ({@code copy.queue}, {@code copy.stream}); there the
 * copy and kernel times are the device's own, so the ideal ratio depends on it.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class PipelineOverlapBench {

    static final int LAUNCHES = 8;
    static final long BLOCK_BYTES = 1L << 20;
    static final long ARRAY_BYTES = 4 * BLOCK_BYTES;
    static final long N = ARRAY_BYTES / Float.BYTES;

    @Param({"true", "false"})
    public boolean overlap;

    @Param("emulated")
    public String backend;

    /** Emulated only: the bus's and the kernel model's bytes per second. */
    @Param("1000000000")
    public long bandwidth;

    private ManagedHeap heap;
    private final List<FloatArray> xs = new ArrayList<>();
    private final List<FloatArray> ys = new ArrayList<>();
    private final List<FloatArray> outs = new ArrayList<>();
    private float round;

    @Setup(Level.Trial)
    public void setUp() {
        // Every launch is meant to upload both arrays: thrash control (on by default) would place them zero-copy after
        // a few launches, and kernels reading host memory over the bus leave no copies to overlap.
        ManagedHeap.Builder builder = ManagedHeap.builder().backend(backend).blockSize(BLOCK_BYTES).thrashControl(false);
        String on = Boolean.toString(overlap);
        heap = switch (backend) {
            case "emulated" -> builder.setting("latency.ns", "10000")
                    .setting("bandwidth", Long.toString(bandwidth))
                    .setting("kernel.bandwidth", Long.toString(bandwidth)).setting("overlap", on).build();
            case "opencl" -> builder.setting("placement", "migrate").setting("copy.queue", on).build();
            case "cuda" -> builder.setting("copy.stream", on).build();
            default -> throw new IllegalArgumentException("backend must be emulated, opencl or cuda: " + backend);
        };
        for (int k = 0; k < LAUNCHES; k++) {
            FloatArray x = heap.allocateFloats(N);
            FloatArray y = heap.allocateFloats(N);
            for (long i = 0; i < N; i++) {
                x.set(i, 1f);
                y.set(i, 1f);
            }
            xs.add(x);
            ys.add(y);
            outs.add(heap.allocateFloats(1));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
    }

    @Benchmark
    public float pipeline() {
        round++;
        List<Launch> launches = new ArrayList<>(LAUNCHES);
        for (int k = 0; k < LAUNCHES; k++) {
            FloatArray x = xs.get(k);
            FloatArray y = ys.get(k);
            for (long i = 0; i < N; i += BLOCK_BYTES / Float.BYTES) {
                x.set(i, round);
                y.set(i, 1f);
            }
            launches.add(heap.launch(BuiltinKernel.DOT, N, Arg.read(x), Arg.read(y), Arg.write(outs.get(k)),
                    Arg.of(N)));
        }
        launches.forEach(Launch::await);
        // The results stay on the device: reading them would add a copy home per launch to both sides.
        return round;
    }
}
