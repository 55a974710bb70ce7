package io.hmm4j.benchmarks.cuda;

import static io.hmm4j.benchmarks.cuda.CudaBench.check;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.JCudaDriver;
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
 * What does moving a large array between host and GPU cost through hmm4j, against the best the driver offers for
 * the same byte count in the same run: {@code cuMemcpy} from/to pinned ({@code cuMemAllocHost}) memory, and from/to
 * ordinary pageable native memory. hmm4j copies through the fault engine's C table: per run of blocks, a direct
 * {@code cuMemcpy} below 8 MiB, pinned double-buffered staging above.
 *
 * <ul>
 *   <li>{@code hmm4jPrefetchToDevice}: {@code heap.prefetch(array, device(0))} of an array the host has just
 *       rewritten (every block HOST, device copy stale; the rewrite is untimed)</li>
 *   <li>{@code hmm4jPrefetchToHost}: {@code heap.prefetch(array, HOST)} of an array that lives only on the device
 *       (after an untimed FILL launch with a WRITE argument)</li>
 *   <li>{@code hmm4jFaultToHost}: the same device-only array read on the host, one float per 4 KiB page in
 *       order: guard-page faults served in C, with adaptive sequential prefetch</li>
 *   <li>{@code rawPinned*} / {@code rawPageable*}: the baselines</li>
 * </ul>
 * Results are ms/op; GB/s = {@code mib * 1.048576 / (ms/op)}. Report hmm4j as a ratio to {@code rawPinned*}.
 * {@code releaseHost=false} separates the copy from re-allocating host pages that a device-only block gave back.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xss2m"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class MigrationBench {

    /** The managed side: one heap and one array of {@code mib} MiB. */
    @State(Scope.Benchmark)
    public static class Heap {
        @Param({"64", "256"})
        public int mib;

        /**
         * Whether device-only blocks give their host pages back (the default, DESIGN.md invariant 4). With
         * {@code true} a copy home first re-allocates (and the kernel zeroes) every host page it lands on.
         */
        @Param({"true", "false"})
        public boolean releaseHost;

        long bytes;
        ManagedHeap heap;
        FloatArray array;

        @Setup(Level.Trial)
        public void open() {
            CudaBench.requireGpu();
            bytes = (long) mib << 20;
            heap = ManagedHeap.builder().backend("cuda").releaseHostMemory(releaseHost).build();
            array = heap.allocateFloats(bytes / Float.BYTES);
            array.segment().fill((byte) 1);
        }

        @TearDown(Level.Trial)
        public void close() {
            if (heap != null)
                heap.close();
        }
    }

    /** The baselines: a device buffer, pinned host memory and ordinary native memory of the same size. */
    @State(Scope.Benchmark)
    public static class Raw {
        @Param({"64", "256"})
        public int mib;

        long bytes;
        CUdevice device = new CUdevice();
        CUcontext context = new CUcontext();
        CUdeviceptr deviceBuffer = new CUdeviceptr();
        Pointer pinned = new Pointer();
        Arena arena;
        Pointer pageable;

        @Setup(Level.Trial)
        public void open() {
            CudaBench.requireGpu();
            bytes = (long) mib << 20;
            JCudaDriver.setExceptionsEnabled(false);
            check(JCudaDriver.cuInit(0), "cuInit");
            check(JCudaDriver.cuDeviceGet(device, 0), "cuDeviceGet");
            check(JCudaDriver.cuDevicePrimaryCtxRetain(context, device), "cuDevicePrimaryCtxRetain");
            check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
            check(JCudaDriver.cuMemAlloc(deviceBuffer, bytes), "cuMemAlloc");
            check(JCudaDriver.cuMemAllocHost(pinned, bytes), "cuMemAllocHost");
            arena = Arena.ofShared();
            MemorySegment host = arena.allocate(bytes, 4096);
            host.fill((byte) 1);
            pageable = Pointer.to(host.asByteBuffer());
        }

        @TearDown(Level.Trial)
        public void close() {
            JCudaDriver.cuCtxSetCurrent(context);
            JCudaDriver.cuMemFree(deviceBuffer);
            JCudaDriver.cuMemFreeHost(pinned);
            JCudaDriver.cuDevicePrimaryCtxRelease(device);
            if (arena != null)
                arena.close();
        }

        /** JMH may call benchmarks from another thread than the setup: make the context current there. */
        void current() {
            check(JCudaDriver.cuCtxSetCurrent(context), "cuCtxSetCurrent");
        }
    }

    /** Every block rewritten on the host: HOST everywhere, the device copy stale. */
    @State(Scope.Thread)
    public static class HostDirty {
        @Setup(Level.Invocation)
        public void rewrite(Heap managed) {
            managed.array.segment().fill((byte) 2);
        }
    }

    /** Every block DEVICE: written by a kernel, nothing valid on the host. */
    @State(Scope.Thread)
    public static class DeviceOnly {
        @Setup(Level.Invocation)
        public void fillOnDevice(Heap managed) {
            long n = managed.array.length();
            managed.heap.launch(BuiltinKernel.FILL, n, Arg.write(managed.array), Arg.of(3f), Arg.of(n)).await();
        }
    }

    @Benchmark
    public void hmm4jPrefetchToDevice(Heap managed, HostDirty dirty) {
        managed.heap.prefetch(managed.array, Location.device(0));
    }

    @Benchmark
    public void hmm4jPrefetchToHost(Heap managed, DeviceOnly onDevice) {
        managed.heap.prefetch(managed.array, Location.HOST);
    }

    @Benchmark
    public float hmm4jFaultToHost(Heap managed, DeviceOnly onDevice) {
        MemorySegment segment = managed.array.segment();
        float sum = 0;
        for (long offset = 0; offset < managed.bytes; offset += 4096)
            sum += segment.get(ValueLayout.JAVA_FLOAT, offset);
        return sum;
    }

    @Benchmark
    public void rawPinnedHtoD(Raw raw) {
        raw.current();
        check(JCudaDriver.cuMemcpyHtoD(raw.deviceBuffer, raw.pinned, raw.bytes), "cuMemcpyHtoD");
    }

    @Benchmark
    public void rawPinnedDtoH(Raw raw) {
        raw.current();
        check(JCudaDriver.cuMemcpyDtoH(raw.pinned, raw.deviceBuffer, raw.bytes), "cuMemcpyDtoH");
    }

    @Benchmark
    public void rawPageableHtoD(Raw raw) {
        raw.current();
        check(JCudaDriver.cuMemcpyHtoD(raw.deviceBuffer, raw.pageable, raw.bytes), "cuMemcpyHtoD");
    }

    @Benchmark
    public void rawPageableDtoH(Raw raw) {
        raw.current();
        check(JCudaDriver.cuMemcpyDtoH(raw.pageable, raw.deviceBuffer, raw.bytes), "cuMemcpyDtoH");
    }
}
