package io.hmm4j.benchmarks;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
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
 * How close does a tiled launch come to the bus? SAXPY ({@code y = a * x + y}) over two arrays of
 * {@value #ARRAY_BYTES} bytes each, every one 4x the emulated device's capacity of {@value #CAPACITY} bytes (so
 * {@code launch} throws DeviceOutOfMemoryException), on a PCIe-like modelled bus ({@code latency.ns} 10 µs per copy,
 * {@code bandwidth} bytes/s as the parameter; 12 GB/s is PCIe 3 x16, the slower one keeps the bus dominant on a
 * small shared machine where the Java kernel competes with the copies for the cores).
 * <ul>
 *   <li>{@code managed}: {@code heap.launchTiled(AXPY, n, TILE_BYTES, ...)}: x and y tiles of {@value #TILE_BYTES}
 *       bytes stream through device 0, double buffered, y tiles come home.</li>
 *   <li>{@code busBound} (the baseline): exactly the bytes the tiled launch moves, over an identical bus (device 1 of
 *       the same backend, same settings), with no kernel and no runtime: per tile, copy x in, copy y in, copy y out,
 *       through that device's copy engine from plain host memory, by the calls the tiled launch's copy thread makes
 *       (each copy's bytes, then its bus time: {@code copyTo*Unpaced}, {@code pace}), one after another. Its time is
 *       what the bus alone costs.</li>
 * </ul>
 * Ratio asked for by issue 12 (item 4): {@code busBound / managed >= 0.8}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class StreamingSaxpyBench {

    static final long CAPACITY = 16L << 20;
    static final long ARRAY_BYTES = 4 * CAPACITY;
    static final long N = ARRAY_BYTES / Float.BYTES;
    static final long TILE_BYTES = 1L << 20;

    @Param({"12000000000", "3000000000"})
    public long bandwidth;

    private ManagedHeap heap;
    private FloatArray x;
    private FloatArray y;
    private Arena plain;
    private MemorySegment hostX;
    private MemorySegment hostY;
    private NativeCopyEngine busEngine;
    private Device busDevice;
    private long deviceX;
    private long deviceY;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend("emulated").setting("devices", "2")
                .setting("capacity", Long.toString(CAPACITY)).setting("latency.ns", "10000")
                .setting("bandwidth", Long.toString(bandwidth)).build();
        x = heap.allocateFloats(N);
        y = heap.allocateFloats(N);
        plain = Arena.ofShared();
        hostX = plain.allocate(ARRAY_BYTES, 4096);
        hostY = plain.allocate(ARRAY_BYTES, 4096);
        for (long i = 0; i < N; i++) {
            x.set(i, i % 1024);
            hostX.setAtIndex(ValueLayout.JAVA_FLOAT, i, i % 1024);
        }
        busDevice = heap.devices().get(1);
        busEngine = busDevice.copyEngine();
        deviceX = busDevice.memory().allocate(TILE_BYTES);
        deviceY = busDevice.memory().allocate(TILE_BYTES);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        busDevice.memory().deallocate(deviceX, TILE_BYTES);
        busDevice.memory().deallocate(deviceY, TILE_BYTES);
        heap.close();
        plain.close();
    }

    @Benchmark
    public float managed() {
        heap.launchTiled(BuiltinKernel.AXPY, N, TILE_BYTES, Arg.read(x), Arg.readWrite(y), Arg.of(1e-3f), Arg.of(N))
                .await();
        return y.get(N - 1);
    }

    @Benchmark
    public float busBound() {
        for (long offset = 0; offset < ARRAY_BYTES; offset += TILE_BYTES) {
            long bytes = Math.min(TILE_BYTES, ARRAY_BYTES - offset);
            NativeCopyEngine.pace(busEngine.copyToDeviceUnpaced(deviceX, hostX.asSlice(offset, bytes)));
            NativeCopyEngine.pace(busEngine.copyToDeviceUnpaced(deviceY, hostY.asSlice(offset, bytes)));
            NativeCopyEngine.pace(busEngine.copyToHostUnpaced(hostY.asSlice(offset, bytes), deviceY));
        }
        return hostY.getAtIndex(ValueLayout.JAVA_FLOAT, N - 1);
    }
}
