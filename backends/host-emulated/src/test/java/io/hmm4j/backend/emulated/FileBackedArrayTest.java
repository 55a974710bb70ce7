package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.ByteArray;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * File-backed arrays (ManagedHeap.map): the file's pages are the host copy, force() and close() write what lives
 * only on the device, a file's pages are never released, and the edge cases of FileChannel.map.
 */
class FileBackedArrayTest {

    private static final int BLOCK = 64 * 1024;
    private static final int PAGE = 4096;

    @TempDir
    Path directory;

    private ManagedHeap heap;

    @BeforeEach
    void openHeap() {
        heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build();
    }

    @AfterEach
    void closeHeap() {
        heap.close();
    }

    private Path fileOfFloats(String name, int count, int firstValue) throws IOException {
        ByteBuffer bytes = ByteBuffer.allocate(count * 4).order(ByteOrder.nativeOrder());
        for (int i = 0; i < count; i++)
            bytes.putFloat(firstValue + i);
        Path file = directory.resolve(name);
        Files.write(file, bytes.array());
        return file;
    }

    private static float floatInFile(Path file, long index) throws IOException {
        try (FileChannel channel = FileChannel.open(file)) {
            ByteBuffer one = ByteBuffer.allocate(4).order(ByteOrder.nativeOrder());
            channel.read(one, index * 4);
            return one.flip().getFloat();
        }
    }

    private void fill(FloatArray array, float value) {
        heap.launch(BuiltinKernel.FILL, array.length(), Arg.write(array), Arg.of(value), Arg.of(array.length())).await();
    }

    @Test
    void hostCopyIsTheFileAndForceWritesWhatAKernelWrote() throws IOException {
        int n = 4 * BLOCK / 4;
        Path file = fileOfFloats("data.bin", n, 0);
        FloatArray x = heap.mapFloats(file, 0, n, FileChannel.MapMode.READ_WRITE);
        assertThat(x.isFileBacked()).isTrue();
        assertThat(x.get(n - 1)).isEqualTo(n - 1f);
        heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(2f), Arg.of((long) n)).await();
        assertThat(heap.residency(x).all(BlockState.DEVICE)).isTrue();
        // Only on the device so far: the file still has the old bytes.
        assertThat(floatInFile(file, n - 1)).isEqualTo(n - 1f);
        x.force();
        assertThat(heap.residency(x).all(BlockState.SHARED)).as("forced blocks stay valid on the device").isTrue();
        assertThat(floatInFile(file, n - 1)).isEqualTo(2f * (n - 1));
        assertThat(floatInFile(file, 7)).isEqualTo(14f);
    }

    @Test
    void deviceOnlyBlocksKeepTheFileDataOfTheLastForce() throws IOException {
        int n = 8 * BLOCK / 4;
        Path file = fileOfFloats("data.bin", n, 1);
        FloatArray x = heap.mapFloats(file, 0, n, FileChannel.MapMode.READ_WRITE);
        // A heap that releases host memory of device-only blocks: a file's pages must be exempt (invariant 4).
        fill(x, 5f);
        assertThat(heap.residency(x).all(BlockState.DEVICE)).isTrue();
        byte[] onDisk = Files.readAllBytes(file);
        assertThat(ByteBuffer.wrap(onDisk).order(ByteOrder.nativeOrder()).getFloat(4 * (n - 1))).isEqualTo((float) n);
        assertThat(x.get(n - 1)).isEqualTo(5f);
    }

    @Test
    void closingTheArrayOrTheHeapForces() throws IOException {
        int n = 2 * BLOCK / 4;
        Path first = fileOfFloats("first.bin", n, 0);
        Path second = fileOfFloats("second.bin", n, 0);
        FloatArray a = heap.mapFloats(first, 0, n, FileChannel.MapMode.READ_WRITE);
        FloatArray b = heap.mapFloats(second, 0, n, FileChannel.MapMode.READ_WRITE);
        fill(a, 3f);
        fill(b, 4f);
        a.close();
        assertThat(floatInFile(first, n - 1)).isEqualTo(3f);
        heap.close();
        assertThat(floatInFile(second, n - 1)).isEqualTo(4f);
        assertThat(heap.liveArrays()).isZero();
    }

    @Test
    void aFileSmallerThanABlockKeepsItsSize() throws IOException {
        Path file = fileOfFloats("small.bin", 25, 0);
        FloatArray x = heap.mapFloats(file, 0, 25, FileChannel.MapMode.READ_WRITE);
        fill(x, 9f);
        x.close();
        assertThat(Files.size(file)).isEqualTo(100);
        for (int i = 0; i < 25; i++)
            assertThat(floatInFile(file, i)).isEqualTo(9f);
    }

    @Test
    void aTailBeyondTheFilesLastPageIsPlainMemory() throws IOException {
        // Three pages of file, the rest of the 64 KiB block past its end: touching that rest must not SIGBUS.
        int n = 3 * PAGE / 4;
        Path file = fileOfFloats("tail.bin", n, 0);
        FloatArray x = heap.mapFloats(file, 0, n, FileChannel.MapMode.READ_WRITE);
        heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(-1f), Arg.of((long) n)).await();
        assertThat(x.get(n - 1)).isEqualTo(-(n - 1f));
        x.force();
        assertThat(Files.size(file)).isEqualTo(3L * PAGE);
        assertThat(floatInFile(file, n - 1)).isEqualTo(-(n - 1f));
    }

    @Test
    void aReadWriteMappingGrowsAShorterFileAndAnOffsetMapsThatPartOfTheFile() throws IOException {
        Path file = fileOfFloats("grow.bin", 4 * PAGE / 4, 0);
        FloatArray tail = heap.mapFloats(file, 2 * PAGE, 3 * PAGE / 4, FileChannel.MapMode.READ_WRITE);
        assertThat(Files.size(file)).isEqualTo(5L * PAGE);
        assertThat(tail.get(0)).isEqualTo(2 * PAGE / 4f);
        assertThat(tail.get(3 * PAGE / 4 - 1)).isZero();
        fill(tail, 1f);
        tail.close();
        assertThat(floatInFile(file, 2 * PAGE / 4 - 1)).isEqualTo(2 * PAGE / 4 - 1f);
        assertThat(floatInFile(file, 2 * PAGE / 4)).isEqualTo(1f);
        assertThat(floatInFile(file, 5 * PAGE / 4 - 1)).isEqualTo(1f);
    }

    @Test
    void aReadOnlyMappingRefusesWritesAndStillReadsOnTheDevice() throws IOException {
        int n = 2 * BLOCK / 4;
        Path file = fileOfFloats("ro.bin", n, 1);
        byte[] before = Files.readAllBytes(file);
        FloatArray x = heap.mapFloats(file, 0, n, FileChannel.MapMode.READ_ONLY);
        assertThat(x.segment().isReadOnly()).isTrue();
        assertThatThrownBy(() -> x.set(0, 1f)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("read-only");
        assertThatThrownBy(() -> fill(x, 1f)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("READ_ONLY");
        assertThatThrownBy(() -> heap.makeHostWritable(x, 0, 4)).isInstanceOf(IllegalArgumentException.class);
        FloatArray sum = heap.allocateFloats(1);
        heap.launch(BuiltinKernel.SUM, n, Arg.read(x), Arg.write(sum), Arg.of((long) n)).await();
        assertThat(sum.get(0)).isEqualTo((float) n * (n + 1) / 2);
        heap.prefetch(x, Location.device(0));
        assertThat(x.get(n - 1)).isEqualTo((float) n);
        x.force();
        x.close();
        assertThat(Files.readAllBytes(file)).isEqualTo(before);
    }

    @Test
    void aReadOnlyRangeBeyondTheEndOfTheFileIsRefused() throws IOException {
        Path file = fileOfFloats("short.bin", 10, 0);
        assertThatThrownBy(() -> heap.map(file, 0, 100, FileChannel.MapMode.READ_ONLY))
                .isInstanceOf(IOException.class).hasMessageContaining("beyond the end of the file (40 bytes)");
        assertThat(Files.size(file)).isEqualTo(40);
    }

    @Test
    void aSparseHugeFileStaysSparse() throws IOException, InterruptedException {
        long size = 8L << 30;
        Path file = directory.resolve("huge.bin");
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.wrap(new byte[] {42}), size - 1);
        }
        ByteArray huge = heap.map(file, 0, size, FileChannel.MapMode.READ_WRITE);
        assertThat(huge.get(size - 1)).isEqualTo((byte) 42);
        huge.set(0, (byte) 7);
        huge.set(size / 2, (byte) 8);
        huge.force();
        huge.close();
        try (FileChannel channel = FileChannel.open(file)) {
            ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, size / 2);
            assertThat(one.get(0)).isEqualTo((byte) 8);
        }
        assertThat(allocatedBytes(file)).as("disk space of the 8 GiB sparse file").isLessThan(1L << 20);
    }

    private static long allocatedBytes(Path file) throws IOException, InterruptedException {
        Process stat = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).redirectErrorStream(true).start();
        String[] out = new String(stat.getInputStream().readAllBytes()).trim().split(" ");
        assertThat(stat.waitFor(10, TimeUnit.SECONDS)).isTrue();
        return Long.parseLong(out[0]) * Long.parseLong(out[1]);
    }

    @Test
    void filesOnTmpfsMigrateAndForce() throws IOException {
        Path shm = Path.of("/dev/shm");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(shm), "no /dev/shm (tmpfs) here");
        Path file = Files.createTempFile(shm, "hmm4j-file-test", ".bin");
        try {
            Files.write(file, new byte[BLOCK]);
            FloatArray x = heap.mapFloats(file, 0, BLOCK / 4, FileChannel.MapMode.READ_WRITE);
            fill(x, 6f);
            x.force();
            assertThat(floatInFile(file, BLOCK / 4 - 1)).isEqualTo(6f);
            x.close();
        } finally {
            Files.delete(file);
        }
    }

    @Test
    void badArgumentsAreRefused() throws IOException {
        Path file = fileOfFloats("args.bin", 1024, 0);
        assertThatThrownBy(() -> heap.map(file, 100, 16, FileChannel.MapMode.READ_WRITE))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("multiple of the page size");
        assertThatThrownBy(() -> heap.map(file, -4096, 16, FileChannel.MapMode.READ_WRITE))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> heap.map(file, 0, 0, FileChannel.MapMode.READ_WRITE))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> heap.map(file, 0, 16, FileChannel.MapMode.PRIVATE))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("PRIVATE");
        assertThatThrownBy(() -> heap.map(directory.resolve("missing"), 0, 16, FileChannel.MapMode.READ_WRITE))
                .isInstanceOf(NoSuchFileException.class);
        assertThatThrownBy(() -> heap.map(directory, 0, 16, FileChannel.MapMode.READ_ONLY))
                .isInstanceOf(IOException.class);
        assertThatThrownBy(() -> heap.allocateFloats(4).force()).isInstanceOf(UnsupportedOperationException.class);
        FloatArray closed = heap.mapFloats(file, 0, 16, FileChannel.MapMode.READ_WRITE);
        closed.close();
        assertThatThrownBy(closed::force).isInstanceOf(IllegalStateException.class);
        heap.close();
        assertThatThrownBy(() -> heap.map(file, 0, 16, FileChannel.MapMode.READ_WRITE))
                .isInstanceOf(IllegalStateException.class);
    }

    /** Child of {@link #aKilledProcessLeavesTheLastForceForDeviceOnlyBlocks}: prints "ready" and waits to be killed. */
    public static void main(String[] args) throws IOException, InterruptedException {
        Path file = Path.of(args[0]);
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            int half = BLOCK / 4;
            FloatArray host = heap.mapFloats(file, 0, half, FileChannel.MapMode.READ_WRITE);
            FloatArray device = heap.mapFloats(file, BLOCK, half, FileChannel.MapMode.READ_WRITE);
            host.segment().fill((byte) 0);
            heap.launch(BuiltinKernel.FILL, half, Arg.write(host), Arg.of(1f), Arg.of((long) half)).await();
            heap.launch(BuiltinKernel.FILL, half, Arg.write(device), Arg.of(1f), Arg.of((long) half)).await();
            host.force();
            device.force();
            // After the last force: a host write (in the page cache) and a kernel write (only on the device).
            host.segment().fill((byte) 0);
            host.set(0, 2f);
            heap.launch(BuiltinKernel.FILL, half, Arg.write(device), Arg.of(3f), Arg.of((long) half)).await();
            System.out.println("ready");
            System.out.flush();
            Thread.sleep(TimeUnit.MINUTES.toMillis(1));
        }
    }

    @Test
    void aKilledProcessLeavesTheLastForceForDeviceOnlyBlocks() throws IOException, InterruptedException {
        Path file = directory.resolve("killed.bin");
        Files.write(file, new byte[2 * BLOCK]);
        Path output = directory.resolve("child.log");
        Process child = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                FileBackedArrayTest.class.getName(), file.toString())
                .redirectErrorStream(true).redirectOutput(output.toFile()).start();
        try {
            // Bounded by the child's own sleep; the test fails, not hangs, if it never gets ready.
            while (!Files.readString(output).contains("ready")) {
                assertThat(child.isAlive()).as("child ended early:%n%s", Files.readString(output)).isTrue();
                Thread.sleep(20);
            }
            child.destroyForcibly(); // SIGKILL: no close, no force
            assertThat(child.waitFor(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            child.destroyForcibly();
        }
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.nativeOrder());
        assertThat(bytes.getFloat(0)).as("host write after the force: in the page cache, which outlives the process")
                .isEqualTo(2f);
        assertThat(bytes.getFloat(4)).isZero();
        for (int i = 0; i < BLOCK / 4; i++)
            assertThat(bytes.getFloat(BLOCK + 4 * i)).as("device-only float %d holds the last force", i).isEqualTo(1f);
    }

    @Test
    void forcesAndHostAccessesOfOtherThreadsInterleaveSafely() throws Exception {
        // 4 threads x 50 rounds of host writes, kernel writes and forces on one file; seconds on 2 cores.
        int n = 4 * BLOCK / 4;
        Path file = fileOfFloats("shared.bin", n, 0);
        FloatArray x = heap.mapFloats(file, 0, n, FileChannel.MapMode.READ_WRITE);
        Thread[] threads = new Thread[4];
        Throwable[] failures = new Throwable[threads.length];
        for (int t = 0; t < threads.length; t++) {
            int id = t;
            threads[t] = new Thread(() -> {
                try {
                    for (int round = 0; round < 50; round++) {
                        switch (id) {
                            case 0 -> fill(x, round);
                            case 1 -> x.force();
                            default -> x.get((long) (id * 997 + round) % n);
                        }
                    }
                } catch (RuntimeException | Error e) {
                    failures[id] = e;
                }
            });
            threads[t].start();
        }
        for (Thread thread : threads)
            thread.join();
        for (Throwable failure : failures)
            if (failure != null)
                throw new AssertionError(failure);
        x.force();
        assertThat(floatInFile(file, n - 1)).isEqualTo(49f);
        assertThat(x.segment().toArray(ValueLayout.JAVA_FLOAT)).containsOnly(49f);
    }
}
