package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code migrate(array, HOST)} of blocks whose host copy is valid drops the device copies and leaves the host pages
 * read-only (HMM4J_INTENT_LAZY): on this guest an mprotect costs about 1 µs per page, so making 16 MiB writable and
 * read-only again for the next launch that reads it cost milliseconds per operation (SplitLaunchBench). The first host
 * write to such a block faults and makes it writable without a copy; makeHostWritable makes the pages writable for a
 * system call (DESIGN.md invariant 7). The protections are read from /proc/self/maps.
 */
class LazyHostWriteTest {

    private static final long BLOCK = 64 * 1024;
    private static final int BLOCK_FLOATS = (int) (BLOCK / Float.BYTES);
    private static final int BLOCKS = 4;

    /** One permission string per block, space separated. */
    private static String protections(FloatArray array) throws IOException {
        StringBuilder picture = new StringBuilder();
        for (long b = 0; b * BLOCK < array.byteSize(); b++)
            picture.append(b == 0 ? "" : " ").append(UserViewProtection.at(array.segment().address() + b * BLOCK));
        return picture.toString();
    }

    private static ManagedHeap heap() {
        // The SIGSEGV path explicitly: userfaultfd regions keep HOST blocks writable.
        return ManagedHeap.builder().backend("emulated").blockSize(BLOCK).userfaultfd("off").thrashControl(false)
                .build();
    }

    /** An array read by a launch: SHARED, valid on the host and device 0, host pages read-only. */
    private static FloatArray readOnDevice(ManagedHeap heap) {
        return readOnDevice(heap, BLOCKS);
    }

    private static FloatArray readOnDevice(ManagedHeap heap, int blocks) {
        int n = blocks * BLOCK_FLOATS;
        FloatArray x = heap.allocateFloats(n);
        for (int i = 0; i < n; i++)
            x.set(i, i % 97);
        FloatArray sum = heap.allocateFloats(1);
        heap.launch(BuiltinKernel.SUM, n, Arg.read(x), Arg.write(sum), Arg.of((long) n)).await();
        assertThat(heap.residency(x).all(BlockState.SHARED)).isTrue();
        return x;
    }

    @Test
    void aMoveHomeOfValidHostBytesKeepsThePagesReadOnlyUntilTheFirstWrite() throws IOException {
        try (ManagedHeap heap = heap()) {
            FloatArray x = readOnDevice(heap);
            long toHost = heap.stats().bytesToHost();
            long writeFaults = heap.stats().writeFaults();
            heap.migrate(x, Location.HOST);
            // Only the host holds the blocks, and nothing was copied or made writable for that.
            assertThat(heap.residency(x).devicePicture()).isEqualTo("H H H H");
            assertThat(heap.stats().bytesToHost()).isEqualTo(toHost);
            assertThat(protections(x)).isEqualTo("r--s r--s r--s r--s");
            // Reads need nothing; the first write of block 1 faults, copies nothing and makes only block 1 writable.
            assertThat(x.get(BLOCK_FLOATS + 5)).isEqualTo((BLOCK_FLOATS + 5) % 97);
            assertThat(heap.stats().writeFaults()).isEqualTo(writeFaults);
            x.set(BLOCK_FLOATS + 5, -1f);
            assertThat(heap.stats().writeFaults()).isEqualTo(writeFaults + 1);
            assertThat(heap.stats().bytesToHost()).isEqualTo(toHost);
            assertThat(protections(x)).isEqualTo("r--s rw-s r--s r--s");
            x.set(BLOCK_FLOATS + 6, -2f);
            assertThat(heap.stats().writeFaults()).isEqualTo(writeFaults + 1);
            assertThat(heap.residency(x).devicePicture()).isEqualTo("H H H H");
            // The next launch copies every block again and sees the write.
            FloatArray out = heap.allocateFloats(BLOCKS * BLOCK_FLOATS);
            heap.prefetch(out, Location.device(0));
            long toDevice = heap.stats().bytesToDevice();
            heap.launch(BuiltinKernel.AXPY, x.length(), Arg.read(x), Arg.readWrite(out), Arg.of(2f), Arg.of(x.length()))
                    .await();
            assertThat(heap.stats().bytesToDevice() - toDevice).isEqualTo(BLOCKS * BLOCK);
            assertThat(heap.residency(x).all(BlockState.SHARED)).isTrue();
            assertThat(out.get(BLOCK_FLOATS + 5)).isEqualTo(-2f);
            assertThat(out.get(BLOCK_FLOATS + 6)).isEqualTo(-4f);
            assertThat(out.get(3 * BLOCK_FLOATS)).isEqualTo(2f * ((3 * BLOCK_FLOATS) % 97));
        }
    }

    @Test
    void aWriterWalkingTheArrayFaultsLessThanOncePerBlock() throws IOException {
        int blocks = 16;
        try (ManagedHeap heap = heap()) {
            FloatArray x = readOnDevice(heap, blocks);
            heap.migrate(x, Location.HOST);
            long writeFaults = heap.stats().writeFaults();
            for (int i = 0; i < x.length(); i++)
                x.set(i, 3f);
            // The blocks made writable grow as the faults walk in order (as read-ahead does): 0, 1, 2-3, 4-7, ...
            assertThat(heap.stats().writeFaults() - writeFaults).isBetween(1L, (long) blocks / 2);
            assertThat(protections(x)).doesNotContain("r--s");
            for (int i = 0; i < x.length(); i += BLOCK_FLOATS / 4)
                assertThat(x.get(i)).isEqualTo(3f);
        }
    }

    @Test
    void threadsWritingBlocksLeftReadOnlyAtOnceAllLandAndCopyNothing() throws Exception {
        int threads = 4;
        try (ManagedHeap heap = heap()) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                for (int round = 0; round < 20; round++) {
                    FloatArray x = readOnDevice(heap);
                    heap.migrate(x, Location.HOST);
                    long toHost = heap.stats().bytesToHost();
                    CountDownLatch start = new CountDownLatch(1);
                    List<Future<?>> done = new ArrayList<>();
                    // Thread t writes every threads-th float of every block: all of them fault on the same blocks.
                    for (int t = 0; t < threads; t++) {
                        int first = t;
                        done.add(pool.submit(() -> {
                            start.await();
                            for (int i = first; i < x.length(); i += threads)
                                x.set(i, -i);
                            return null;
                        }));
                    }
                    start.countDown();
                    for (Future<?> f : done)
                        f.get();
                    for (int i = 0; i < x.length(); i++)
                        assertThat(x.get(i)).isEqualTo((float) -i);
                    assertThat(heap.stats().bytesToHost()).isEqualTo(toHost);
                    assertThat(protections(x)).isEqualTo("rw-s rw-s rw-s rw-s");
                    assertThat(heap.residency(x).devicePicture()).isEqualTo("H H H H");
                    x.close();
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void makeHostWritableLetsASystemCallWriteIntoBlocksLeftReadOnly(@TempDir Path dir) throws IOException {
        try (ManagedHeap heap = heap()) {
            FloatArray x = readOnDevice(heap);
            heap.migrate(x, Location.HOST);
            byte[] content = new byte[(int) x.byteSize()];
            for (int i = 0; i < content.length; i++)
                content[i] = (byte) (i * 31);
            Path file = dir.resolve("data.bin");
            Files.write(file, content);
            heap.makeHostWritable(x, 0, x.byteSize());
            assertThat(protections(x)).isEqualTo("rw-s rw-s rw-s rw-s");
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                ByteBuffer view = x.segment().asByteBuffer();
                assertThat(channel.read(view, 0)).isEqualTo(content.length);
            }
            assertThat(x.segment().toArray(ValueLayout.JAVA_BYTE)).isEqualTo(content);
            assertThat(heap.residency(x).all(BlockState.HOST)).isTrue();
        }
    }
}
