package io.hmm4j.benchmarks;

import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
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
 *   <li>{@code guardedCopyThenRead}: {@code copyThenRead} into memory laid out as a region's (a memfd mapped twice):
 *       the copy goes through the always-writable view, the read through a view whose protection was revoked
 *       ({@code PROT_NONE}) before each invocation and is lifted ({@code PROT_READ}, one mprotect) after the copy: the
 *       least any engine that guards host memory with page protection does (a perfect read-ahead: one copy, one
 *       protection change, no trap, no state, no lock). It differs from {@code copyThenRead} by
 *       what lifting a protection costs: the first touch of every page after it. On bare metal or with nested paging
 *       that is a TLB refill; under a shadow-paging hypervisor (PVM, where this project's figures were taken) each
 *       page's first touch exits to the hypervisor, about 1.7 µs per 4 KiB page in C. handle / guardedCopyThenRead is
 *       the engine's own overhead, copyThenRead / guardedCopyThenRead the price of page protection itself.</li>
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
    private MemorySegment guarded;
    private MemorySegment guardedEngineView;

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
        int memfd = memfd();
        guarded = mapShared(memfd);
        guardedEngineView = mapShared(memfd);
        closeFd(memfd); // the mappings keep the memory
        guardedEngineView.fill((byte) 0);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        heap.close();
        arena.close();
        unmap(guarded);
        unmap(guardedEngineView);
    }

    @Setup(Level.Invocation)
    public void toDevice() {
        DeviceResident.fill(heap, array, 2.0f);
        protect(guarded, PROT_NONE);
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
    public long guardedCopyThenRead() {
        MemorySegment.copy(plain, 0, guardedEngineView, 0, BYTES);
        protect(guarded, PROT_READ);
        return read(guarded);
    }

    private static final int PROT_NONE = 0;
    private static final int PROT_READ = 1;
    private static final int PROT_WRITE = 2;
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle MMAP = LINKER.downcallHandle(LINKER.defaultLookup().find("mmap").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
    private static final MethodHandle MPROTECT = LINKER.downcallHandle(
            LINKER.defaultLookup().find("mprotect").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
    private static final MethodHandle MUNMAP = LINKER.downcallHandle(LINKER.defaultLookup().find("munmap").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));

    private static final MethodHandle MEMFD_CREATE = LINKER.downcallHandle(
            LINKER.defaultLookup().find("memfd_create").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle FTRUNCATE = LINKER.downcallHandle(
            LINKER.defaultLookup().find("ftruncate").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));

    private static final MethodHandle CLOSE = LINKER.downcallHandle(LINKER.defaultLookup().find("close").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));

    private static void closeFd(int fd) {
        try {
            int rc = (int) CLOSE.invokeExact(fd);
            if (rc != 0)
                throw new IllegalStateException("close failed");
        } catch (Throwable t) {
            throw t instanceof RuntimeException e ? e : new IllegalStateException(t);
        }
    }

    /** A memfd of BYTES, as a region's. */
    private static int memfd() {
        try (Arena scratch = Arena.ofConfined()) {
            int fd = (int) MEMFD_CREATE.invokeExact(scratch.allocateFrom("guarded"), 0);
            if (fd < 0 || (int) FTRUNCATE.invokeExact(fd, BYTES) != 0)
                throw new IllegalStateException("memfd_create/ftruncate failed");
            return fd;
        } catch (Throwable t) {
            throw t instanceof RuntimeException e ? e : new IllegalStateException(t);
        }
    }

    private static MemorySegment mapShared(int fd) {
        try {
            MemorySegment address = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, BYTES,
                    PROT_READ | PROT_WRITE, 0x01 /* MAP_SHARED */, fd, 0L);
            if (address.address() == -1L)
                throw new IllegalStateException("mmap of " + BYTES + " bytes failed");
            return address.reinterpret(BYTES);
        } catch (Throwable t) {
            throw t instanceof RuntimeException e ? e : new IllegalStateException(t);
        }
    }

    private static void protect(MemorySegment memory, int protection) {
        int rc;
        try {
            rc = (int) MPROTECT.invokeExact(memory, memory.byteSize(), protection);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (rc != 0)
            throw new IllegalStateException("mprotect failed");
    }

    private static void unmap(MemorySegment memory) {
        int rc;
        try {
            rc = (int) MUNMAP.invokeExact(memory, memory.byteSize());
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (rc != 0)
            throw new IllegalStateException("munmap failed");
    }

    @Benchmark
    public MemorySegment handleCopy() {
        MemorySegment.copy(array.segment(), 0, destination, 0, BYTES);
        return destination;
    }
}
