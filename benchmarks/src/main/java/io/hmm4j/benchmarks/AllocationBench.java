package io.hmm4j.benchmarks;

import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.DeviceMemoryResource;
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
 * Allocation and free. {@code rawDevice} (the baseline) allocates and frees device memory straight from the
 * backend's raw {@link DeviceMemoryResource} ({@code heap.devices().get(0).memory()}: malloc on the emulated
 * backend, cuMemAlloc/cuMemFree on CUDA). {@code handle} allocates a managed array and closes it (host side
 * only: memfd region, mappings, arena; no device memory is taken until first use). {@code handleOnDevice}
 * also places it on device 0 ({@code prefetch}: a pool sub-allocation plus the copy of its bytes) before the
 * close returns that memory to the pool (zeroed first, invariant 6).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class AllocationBench {

    @Param("emulated")
    public String backend;

    @Param({"65536", "4194304"})
    public long bytes;

    private ManagedHeap heap;
    private DeviceMemoryResource raw;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend(backend).build();
        raw = heap.devices().getFirst().memory();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
    }

    @Benchmark
    public long rawDevice() {
        long address = raw.allocate(bytes);
        raw.deallocate(address, bytes);
        return address;
    }

    @Benchmark
    public long handle() {
        try (FloatArray array = heap.allocateFloats(bytes / Float.BYTES)) {
            return array.byteSize();
        }
    }

    @Benchmark
    public long handleOnDevice() {
        try (FloatArray array = heap.allocateFloats(bytes / Float.BYTES)) {
            heap.prefetch(array, Location.device(0));
            return array.byteSize();
        }
    }
}
