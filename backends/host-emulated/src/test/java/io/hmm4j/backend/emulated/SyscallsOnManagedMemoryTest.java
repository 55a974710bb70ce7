package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.RuntimeInfo;
import io.hmm4j.conformance.ChildJvm;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * System calls on managed memory (DESIGN.md invariant 7): on a heap with userfaultfd the kernel's own faults on
 * device-resident blocks are served like the process's; without it (the default, checked in a child JVM started
 * with -Dhmm4j.userfaultfd=off) they fail with EFAULT and makeHostWritable is the way.
 */
class SyscallsOnManagedMemoryTest {

    private static final long BLOCK = 4096;

    private static byte[] content(int length) {
        byte[] content = new byte[length];
        for (int i = 0; i < content.length; i++)
            content[i] = (byte) (i * 31);
        return content;
    }

    private static void assumeUserfaultfd() {
        String cause = RuntimeInfo.userfaultfdUnavailabilityCause();
        Assumptions.assumeTrue(cause == null, () -> "userfaultfd not used here: " + cause);
    }

    @Test
    void readIntoDeviceResidentAndSharedMemoryNeedsNoHelper(@TempDir Path dir) throws IOException {
        assumeUserfaultfd();
        byte[] content = content((int) (8 * BLOCK));
        Path file = dir.resolve("data.bin");
        Files.write(file, content);
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).userfaultfd("on").build();
                FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            FloatArray a = heap.allocateFloats(content.length / 4);
            heap.launch(BuiltinKernel.FILL, a.length(), Arg.write(a), Arg.of(1f), Arg.of(a.length())).await();
            // Half DEVICE (the kernel wrote it), half SHARED (host pages read-only).
            heap.prefetch(a, 4 * BLOCK, 4 * BLOCK, Location.HOST);
            assertThat(heap.residency(a).state(0)).isEqualTo(BlockState.DEVICE);
            assertThat(heap.residency(a).state(7)).isEqualTo(BlockState.SHARED);
            ByteBuffer view = a.segment().asByteBuffer();
            assertThat(channel.read(view, 0)).isEqualTo(content.length);
            assertThat(a.segment().toArray(ValueLayout.JAVA_BYTE)).isEqualTo(content);
            assertThat(heap.residency(a).all(BlockState.HOST)).isTrue();
        }
    }

    @Test
    void writeFromDeviceResidentMemoryNeedsNoPrefetch(@TempDir Path dir) throws IOException {
        assumeUserfaultfd();
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).userfaultfd("on").build()) {
            FloatArray a = heap.allocateFloats(4 * BLOCK / 4);
            heap.launch(BuiltinKernel.FILL, a.length(), Arg.write(a), Arg.of(2.5f), Arg.of(a.length())).await();
            Path file = dir.resolve("out.bin");
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                assertThat(channel.write(a.segment().asByteBuffer())).isEqualTo((int) a.byteSize());
            }
            ByteBuffer back = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.nativeOrder());
            assertThat(back.getFloat((int) a.byteSize() - 4)).isEqualTo(2.5f);
            assertThat(heap.residency(a).all(BlockState.SHARED)).isTrue();
        }
    }

    /** Child of {@link #withoutUserfaultfdTheKernelAnswersEfaultAndTheHelperWorks}. */
    public static void main(String[] args) throws IOException {
        Path file = Path.of(args[0]);
        byte[] content = Files.readAllBytes(file);
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build();
                FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            FloatArray a = heap.allocateFloats(content.length / 4);
            heap.launch(BuiltinKernel.FILL, a.length(), Arg.write(a), Arg.of(1f), Arg.of(a.length())).await();
            ByteBuffer view = a.segment().asByteBuffer();
            try {
                channel.read(view, 0);
                System.out.println("READ WITHOUT HELPER");
            } catch (IOException e) {
                System.out.println("REFUSED " + e.getMessage());
            }
            heap.makeHostWritable(a, 0, a.byteSize());
            view.clear();
            int read = channel.read(view, 0);
            System.out.println("HELPED " + read + " " + java.util.Arrays.equals(a.segment().toArray(ValueLayout.JAVA_BYTE), content));
        }
    }

    @Test
    void withoutUserfaultfdTheKernelAnswersEfaultAndTheHelperWorks(@TempDir Path dir) throws Exception {
        byte[] content = content((int) (4 * BLOCK));
        Path file = dir.resolve("data.bin");
        Files.write(file, content);
        ChildJvm.Result result = ChildJvm.run(SyscallsOnManagedMemoryTest.class, List.of("-Dhmm4j.userfaultfd=off"), 60,
                file.toString());
        assertThat(result.output()).as(result.output()).contains("REFUSED Bad address").contains("HELPED " + content.length + " true");
        assertThat(result.exitCode()).as(result.output()).isZero();
    }

    /**
     * With blocks of several pages a fault opens only the page it touched, the rest of the block staying stricter
     * than its state: the helpers must still open every page of their range, or the system call after them fails.
     */
    @Test
    void theHelpersOpenBlocksThatAFaultOpenedInPart(@TempDir Path dir) throws IOException {
        long block = 64 * 1024;
        byte[] content = content((int) (4 * block));
        Path file = dir.resolve("data.bin");
        Files.write(file, content);
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(block).userfaultfd("off")
                .thrashControl(false).build();
                FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            FloatArray a = heap.allocateFloats(content.length / 4);
            heap.launch(BuiltinKernel.FILL, a.length(), Arg.write(a), Arg.of(1f), Arg.of(a.length())).await();
            a.set(0, 2f); // a write fault in block 0: HOST
            assertThat(a.get(block / 4)).isEqualTo(1f); // a read fault in block 1: SHARED
            heap.makeHostWritable(a, 0, a.byteSize());
            assertThat(channel.read(a.segment().asByteBuffer(), 0)).isEqualTo(content.length);
            assertThat(a.segment().toArray(ValueLayout.JAVA_BYTE)).isEqualTo(content);

            heap.launch(BuiltinKernel.FILL, a.length(), Arg.write(a), Arg.of(3f), Arg.of(a.length())).await();
            assertThat(a.get(0)).isEqualTo(3f); // a read fault in block 0: SHARED
            heap.prefetch(a, 0, a.byteSize(), Location.HOST);
            Path out = dir.resolve("out.bin");
            try (FileChannel writer = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                assertThat(writer.write(a.segment().asByteBuffer())).isEqualTo(content.length);
            }
            ByteBuffer back = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.nativeOrder());
            assertThat(back.getFloat(content.length - 4)).isEqualTo(3f);
        }
    }
}
