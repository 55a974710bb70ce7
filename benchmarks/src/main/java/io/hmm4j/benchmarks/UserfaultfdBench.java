package io.hmm4j.benchmarks;

import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The two fault paths side by side: {@code userfaultfd=off} (SIGSEGV handler, mprotect states) and {@code on}
 * (userfaultfd handler thread, write-protect and zapped entries), one heap each. Before each invocation a write-only FILL leaves all {@value #BATCH} blocks DEVICE.
 *
 * <p>{@code fault}: one host read per block, each faulting one block home (read-ahead off); per fault.
 * {@code readSyscall}: {@code FileChannel.read} of the whole array from a file into its device-resident memory;
 * with userfaultfd the kernel's faults are served, without it the array is made host-writable first (the
 * documented fallback), so both end with the same bytes in the same state; per block. Baseline, same class:
 * {@code rawFloor}, memcpy of a block plus one mprotect pair on an anonymous mapping through FFM (what a C
 * fault handler cannot avoid).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class UserfaultfdBench {

    static final int BATCH = 32;

    @Param({"off", "on"})
    public String userfaultfd;

    @Param({"4096", "65536"})
    public long blockSize;

    private ManagedHeap heap;
    private FloatArray array;
    private MemorySegment handle;
    private MemorySegment hostBlocks;
    private MemorySegment deviceBlocks;
    private Path file;
    private FileChannel channel;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        // "on" fails here where the kernel refuses userfaultfd: nothing would be compared.
        heap = ManagedHeap.builder().backend("emulated").blockSize(blockSize).prefetchBlocks(0).userfaultfd(userfaultfd)
                .build();
        array = heap.allocateFloats(BATCH * blockSize / Float.BYTES);
        handle = array.segment();
        hostBlocks = LibC.mapAnonymous(BATCH * blockSize);
        deviceBlocks = LibC.mapAnonymous(BATCH * blockSize);
        file = Files.createTempFile("hmm4j-uffd-bench", ".bin");
        Files.write(file, new byte[(int) (BATCH * blockSize)]);
        channel = FileChannel.open(file, StandardOpenOption.READ);
        DeviceResident.fillAndCheck(heap, array, 1.0f);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        channel.close();
        Files.delete(file);
        heap.close();
        LibC.unmap(hostBlocks);
        LibC.unmap(deviceBlocks);
    }

    @Setup(Level.Invocation)
    public void toDevice() {
        DeviceResident.fill(heap, array, 1.0f);
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void fault(Blackhole bh) {
        for (int b = 0; b < BATCH; b++)
            bh.consume(handle.get(ValueLayout.JAVA_BYTE, b * blockSize + 8));
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public int readSyscall() {
        if (userfaultfd.equals("off"))
            heap.makeHostWritable(array, 0, array.byteSize());
        ByteBuffer into = handle.asByteBuffer();
        try {
            int read = 0;
            while (into.hasRemaining())
                read += channel.read(into, read);
            return read;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void rawFloor(Blackhole bh) {
        for (int b = 0; b < BATCH; b++) {
            MemorySegment host = hostBlocks.asSlice(b * blockSize, blockSize);
            LibC.memcpy(host, deviceBlocks.asSlice(b * blockSize, blockSize), blockSize);
            LibC.mprotect(host, LibC.PROT_NONE);
            LibC.mprotect(host, LibC.PROT_READ | LibC.PROT_WRITE);
            bh.consume(host.get(ValueLayout.JAVA_BYTE, 8));
        }
    }
}
