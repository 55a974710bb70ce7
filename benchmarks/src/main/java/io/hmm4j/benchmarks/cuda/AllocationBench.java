package io.hmm4j.benchmarks.cuda;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.backend.cuda.CudaBackendProvider;
import io.hmm4j.internal.memory.PoolMemoryResource;
import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.KernelArgument;
import java.lang.foreign.MemorySegment;
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
 * What does getting device memory cost: hmm4j's pool against raw {@code cuMemAlloc}/{@code cuMemFree}, in the
 * same run, for one allocation and free of {@code bytes}.
 *
 * <ul>
 *   <li>{@code rawCuMemAllocFree}: the CUDA backend's raw resource, i.e. {@code cuMemAlloc} + {@code cuMemFree}
 *       in the primary context (the baseline)</li>
 *   <li>{@code poolAllocateFree}: the runtime's pool ({@code PoolMemoryResource}, 256 MiB chunks) over that raw
 *       resource, warm: the chunk stays allocated between operations</li>
 *   <li>{@code heapArrayOnDevice}: a whole handle's life through the public API: {@code allocateFloats}, a FILL
 *       launch that places it on the device (heap pool, nothing copied in: WRITE), {@code close}</li>
 *   <li>{@code rawArrayOnDevice}: its baseline: {@code cuMemAlloc}, the same FILL launch through the SPI,
 *       synchronize, {@code cuMemFree}</li>
 * </ul>
 * Results are µs/op.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xss2m"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@State(Scope.Benchmark)
public class AllocationBench {

    @Param({"65536", "1048576", "16777216"})
    public long bytes;

    private Backend backend;
    private Device device;
    private PoolMemoryResource pool;
    private ManagedHeap heap;
    private MemorySegment hostStandIn;

    @Setup(Level.Trial)
    public void open() {
        CudaBench.requireGpu();
        backend = new CudaBackendProvider().open(BackendConfig.empty());
        device = backend.devices().getFirst();
        pool = new PoolMemoryResource(device.memory(), 256L << 20);
        pool.deallocate(pool.allocate(bytes), bytes); // the first chunk is allocated before timing
        heap = ManagedHeap.builder().backend("cuda").build();
        hostStandIn = MemorySegment.ofArray(new byte[1]);
    }

    @TearDown(Level.Trial)
    public void close() {
        if (heap != null)
            heap.close();
        if (pool != null)
            pool.close();
        if (backend != null)
            backend.close();
    }

    @Benchmark
    public long rawCuMemAllocFree() {
        long address = device.memory().allocate(bytes);
        device.memory().deallocate(address, bytes);
        return address;
    }

    @Benchmark
    public long poolAllocateFree() {
        long address = pool.allocate(bytes);
        pool.deallocate(address, bytes);
        return address;
    }

    @Benchmark
    public void heapArrayOnDevice() {
        long n = bytes / Float.BYTES;
        FloatArray array = heap.allocateFloats(n);
        heap.launch(BuiltinKernel.FILL, n, Arg.write(array), Arg.of(1f), Arg.of(n)).await();
        array.close();
    }

    @Benchmark
    public void rawArrayOnDevice() {
        long n = bytes / Float.BYTES;
        long address = device.memory().allocate(bytes);
        device.launch(device.builtin(BuiltinKernel.FILL), n, List.of(
                new KernelArgument.Buffer(address, bytes, io.hmm4j.Access.WRITE, hostStandIn),
                new KernelArgument.Scalar(1f), new KernelArgument.Scalar(n)));
        device.synchronize();
        device.memory().deallocate(address, bytes);
    }
}
