package io.hmm4j.benchmarks.opencl;

import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.benchmarks.DeviceResident;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.cl_mem;
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
 * Migration throughput each way on OpenCL in migrating placement, against the driver's own copy of the same bytes
 * in the same run. hmm4j copies through the fault engine's C table: blocking clEnqueueWriteBuffer /
 * clEnqueueReadBuffer on the backend's queue and the array's cl_mem, per run of blocks.
 * <ul>
 *   <li>{@code hmm4jPrefetchToDevice}: {@code heap.prefetch(array, device(0))} of an array the host has just
 *       rewritten (every block HOST; the rewrite is untimed)</li>
 *   <li>{@code hmm4jPrefetchToHost}: {@code heap.prefetch(array, HOST)} of an array that lives only on the device
 *       (after an untimed FILL launch with a WRITE argument)</li>
 *   <li>{@code hmm4jFaultToHost}: the same device-only array read on the host, one float per 4 KiB page in order:
 *       guard-page faults served in C, with the runtime's adaptive sequential prefetch</li>
 *   <li>{@code rawWriteBuffer} / {@code rawReadBuffer}: one blocking clEnqueueWriteBuffer / clEnqueueReadBuffer of
 *       the whole array between ordinary native memory and a cl_mem (the baselines)</li>
 * </ul>
 * Results are ms/op; GB/s = {@code mib * 1.048576 / (ms/op)}. Report hmm4j as a ratio to {@code raw*}.
 * {@code releaseHost=false} separates the copy from re-allocating the host pages a device-only block gave back.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED", "-Xss2m"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class OpenClMigrationBench {

    /** The managed side: one migrating heap and one array of {@code mib} MiB. */
    @State(Scope.Benchmark)
    public static class Heap {
        @Param({"16", "64"})
        public int mib;

        @Param("65536")
        public long blockSize;

        /**
         * Whether device-only blocks give their host pages back (the default, DESIGN.md invariant 4). With
         * {@code true} a copy home lands on fresh shared-memory pages that the kernel allocates and zeroes first.
         */
        @Param({"true", "false"})
        public boolean releaseHost;

        long bytes;
        ManagedHeap heap;
        FloatArray array;

        @Setup(Level.Trial)
        public void open() {
            bytes = (long) mib << 20;
            heap = ManagedHeap.builder().backend("opencl").setting("placement", "migrate").blockSize(blockSize)
                    .releaseHostMemory(releaseHost).build();
            array = heap.allocateFloats(bytes / Float.BYTES);
            array.segment().fill((byte) 1);
        }

        @TearDown(Level.Trial)
        public void close() {
            if (heap != null)
                heap.close();
        }
    }

    /** The baseline: a cl_mem and ordinary native memory of the same size. */
    @State(Scope.Benchmark)
    public static class Raw {
        @Param({"16", "64"})
        public int mib;

        long bytes;
        RawOpenCl cl;
        cl_mem buffer;
        Arena arena;
        Pointer host;

        @Setup(Level.Trial)
        public void open() {
            bytes = (long) mib << 20;
            cl = new RawOpenCl();
            buffer = cl.buffer(bytes);
            arena = Arena.ofShared();
            MemorySegment segment = arena.allocate(bytes, 4096);
            segment.fill((byte) 1);
            host = Pointer.to(segment.asByteBuffer());
            // Touch the buffer once so the first measured copy does not pay its allocation.
            RawOpenCl.check(CL.clEnqueueWriteBuffer(cl.queue, buffer, CL.CL_TRUE, 0, bytes, host, 0, null, null), "clEnqueueWriteBuffer");
        }

        @TearDown(Level.Trial)
        public void close() {
            CL.clReleaseMemObject(buffer);
            cl.close();
            arena.close();
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
            DeviceResident.fill(managed.heap, managed.array, 3f);
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
    public void rawWriteBuffer(Raw raw) {
        RawOpenCl.check(CL.clEnqueueWriteBuffer(raw.cl.queue, raw.buffer, CL.CL_TRUE, 0, raw.bytes, raw.host, 0, null, null), "clEnqueueWriteBuffer");
    }

    @Benchmark
    public void rawReadBuffer(Raw raw) {
        RawOpenCl.check(CL.clEnqueueReadBuffer(raw.cl.queue, raw.buffer, CL.CL_TRUE, 0, raw.bytes, raw.host, 0, null, null), "clEnqueueReadBuffer");
    }
}
