package io.hmm4j.benchmarks;

import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
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
 * Sequential host read of DEVICE-resident data: the adaptive sequential read-ahead of the fault engine
 * ({@code hmm4j_region_set_prefetch}; the window doubles while faults walk in order, up to
 * {@code prefetchBlocks}). Before each invocation a write-only FILL launch leaves the whole 64 MiB array DEVICE.
 * <ul>
 *   <li>{@code handle}: one sequential read pass over the handle (a vectorised sum of longs); every block faults
 *       home or is read ahead. The bytes must cross from device memory to host memory once: the floor is one
 *       memcpy, and the read of a just-copied block hits the cache.</li>
 *   <li>{@code memcpy} (the baseline): {@code MemorySegment.copy} of the same 64 MiB between plain Arena
 *       segments. Throughput ratio = memcpy time / handle time; the target on the emulated backend is ≥ 0.85.</li>
 *   <li>{@code plainRead}: the same read pass over plain memory (the loop's own cost).</li>
 *   <li>{@code copyThenRead}: what an explicit-copy program does to read device data: copy all 64 MiB from
 *       plain "device" memory into a host buffer, then the same read pass over the buffer. The fair
 *       comparison for {@code handle}, which must move the same bytes.</li>
 *   <li>{@code handleCopy}: {@code MemorySegment.copy} out of the DEVICE-resident handle: by nature two passes
 *       (device to host, host to destination), so about half of memcpy throughput at best.</li>
 *   <li>{@code floorRead}: the same read pass over the engine's benchmark floor ({@code hmm4j_floor_*}, see
 *       {@link FaultFloor}), made to fault everywhere before each invocation: every block costs the trap, one memcpy
 *       from a stand-in for device memory and one mprotect, nothing else (no state, no lock, no read-ahead). What
 *       any engine that guards host memory with page protection pays on this machine: besides the copy, the first
 *       touch of each page whose protection was lifted. Under a shadow-paging hypervisor (PVM, where this project's
 *       figures were taken) that first touch exits to the hypervisor, about 1.7 µs per 4 KiB page in C, which no
 *       plain buffer of {@code copyThenRead} pays: handle / floorRead is the engine's own overhead, copyThenRead /
 *       floorRead the price of page protection itself.</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class SequentialReadBench {

    static final long BYTES = 64L << 20;

    @Param("emulated")
    public String backend;

    @Param("65536")
    public long blockSize;

    /** Largest read-ahead window, in blocks (the heap's default is 64). */
    @Param("64")
    public long prefetchBlocks;

    /**
     * Whether DEVICE blocks give their host pages back at once ({@code false}, the default: kept, reclaimable by the
     * host tier). With {@code false}
     * a block coming home needs no fresh zeroed pages and no page-table refill.
     */
    @Param("false")
    public boolean releaseHostMemory;

    private ManagedHeap heap;
    private FloatArray array;
    private Arena arena;
    private MemorySegment plain;
    private MemorySegment destination;
    private FaultFloor floor;

    @Setup(Level.Trial)
    public void setUp() {
        heap = ManagedHeap.builder().backend(backend).blockSize(blockSize).prefetchBlocks(prefetchBlocks)
                .releaseHostMemory(releaseHostMemory).build();
        array = heap.allocateFloats(BYTES / Float.BYTES);
        arena = Arena.ofShared();
        plain = arena.allocate(BYTES, 4096);
        destination = arena.allocate(BYTES, 4096);
        plain.fill((byte) 1);
        destination.fill((byte) 0);
        DeviceResident.fillAndCheck(heap, array, 2.0f);
        floor = new FaultFloor(BYTES, blockSize);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
        arena.close();
        floor.close();
    }

    @Setup(Level.Invocation)
    public void toDevice() {
        DeviceResident.fill(heap, array, 2.0f);
        floor.protect(releaseHostMemory);
    }

    @Benchmark
    public MemorySegment memcpy() {
        MemorySegment.copy(plain, 0, destination, 0, BYTES);
        return destination;
    }

    private static long read(MemorySegment s) {
        long sum = 0;
        for (long i = 0; i < BYTES; i += Long.BYTES)
            sum += s.get(ValueLayout.JAVA_LONG, i);
        return sum;
    }

    @Benchmark
    public long handle() {
        return read(array.segment());
    }

    @Benchmark
    public long copyThenRead() {
        MemorySegment.copy(plain, 0, destination, 0, BYTES);
        return read(destination);
    }

    @Benchmark
    public long plainRead() {
        return read(plain);
    }

    @Benchmark
    public long floorRead() {
        return read(floor.userView());
    }

    @Benchmark
    public MemorySegment handleCopy() {
        MemorySegment.copy(array.segment(), 0, destination, 0, BYTES);
        return destination;
    }
}
