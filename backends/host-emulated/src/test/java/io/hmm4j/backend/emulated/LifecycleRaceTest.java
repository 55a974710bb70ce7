package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.ChildJvm;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Lifecycle calls racing each other: a close while other threads launch, prefetch, evacuate or read residency;
 * launches that cannot fit on the device; a close while the array's memory is held by a blocking I/O call.
 * Every outcome is a result or a clean exception, never a hang, a crash or a leak.
 */
// A hang fails the test instead of the run: the test body runs in its own thread.
@Timeout(value = 90, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class LifecycleRaceTest {

    private static final long BLOCK = 4096;
    private static final int N = (int) (8 * BLOCK / 4);
    /** How many times each race is run; the original hang showed in 5 of 6 runs. */
    private static final int ROUNDS = 20;

    /** Issue 9 item 1: 64 virtual threads launching while another thread closes the array. */
    @Test
    void launchesRacingArrayCloseEndCleanly() throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            for (int round = 0; round < ROUNDS; round++) {
                FloatArray a = heap.allocateFloats(N);
                List<Throwable> unexpected = java.util.Collections.synchronizedList(new ArrayList<>());
                ExecutorService threads = Executors.newVirtualThreadPerTaskExecutor();
                {
                    CountDownLatch go = new CountDownLatch(1);
                    for (int t = 0; t < 64; t++) {
                        int kind = t % 4;
                        threads.submit(() -> {
                            go.await();
                            try {
                                switch (kind) {
                                    case 0 -> heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(1f), Arg.of((long) N));
                                    case 1 -> heap.prefetch(a, Location.device(0));
                                    case 2 -> heap.evacuate(0);
                                    default -> heap.prefetch(a, Location.HOST);
                                }
                            } catch (IllegalStateException closed) {
                                // the array was closed first: the one acceptable failure
                            } catch (RuntimeException | Error e) {
                                unexpected.add(e);
                            }
                            return null;
                        });
                    }
                    threads.submit(() -> {
                        go.await();
                        a.close();
                        return null;
                    });
                    go.countDown();
                    threads.shutdown();
                    // Not try-with-resources: ExecutorService.close() would wait for a hung thread forever.
                    assertThat(threads.awaitTermination(20, TimeUnit.SECONDS)).as("round %d hung", round).isTrue();
                }
                assertThat(unexpected).as("round %d", round).isEmpty();
                // The heap stays usable: a new array (which may reuse the freed memory) launches normally.
                try (FloatArray b = heap.allocateFloats(N)) {
                    heap.launch(BuiltinKernel.FILL, N, Arg.write(b), Arg.of(2f), Arg.of((long) N)).await();
                    assertThat(b.get(N - 1)).isEqualTo(2f);
                }
                assertThat(heap.liveArrays()).isZero();
            }
        }
    }

    /** Child JVM for {@link #residencyRacingCloseNeverCrashes()}: the original symptom was a SIGSEGV. */
    public static void main(String[] args) throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            for (int round = 0; round < 2000; round++) {
                FloatArray a = heap.allocateFloats(1024 * N); // 8192 blocks: a snapshot long enough to race
                Thread reader = Thread.ofPlatform().start(() -> {
                    try {
                        while (true)
                            heap.residency(a);
                    } catch (IllegalStateException closed) {
                        // expected once the close wins
                    }
                });
                Thread.onSpinWait();
                a.close();
                reader.join();
            }
        }
        System.out.println("SURVIVED");
    }

    /** Issue 9 item 2: residency() racing close() read a freed state array. */
    @Test
    void residencyRacingCloseNeverCrashes() throws Exception {
        ChildJvm.Result child = ChildJvm.run(LifecycleRaceTest.class, List.of(), 120);
        assertThat(child.output()).as(child.output()).contains("SURVIVED");
        assertThat(child.exitCode()).as(child.output()).isZero();
    }

    /** Issue 9 item 6: a launch whose arguments together exceed the device budget waited for itself. */
    @Test
    void launchLargerThanTheBudgetFailsInsteadOfWaitingForItself() throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).deviceBudget(4 * BLOCK).build()) {
            FloatArray a = heap.allocateFloats(3 * BLOCK / 4);
            FloatArray b = heap.allocateFloats(3 * BLOCK / 4);
            a.set(5, 5f);
            b.set(6, 6f);
            Future<?> launch = Executors.newSingleThreadExecutor().submit(() ->
                    heap.launch(BuiltinKernel.AXPY, 3 * BLOCK / 4, Arg.read(a), Arg.readWrite(b), Arg.of(1f), Arg.of(3 * BLOCK / 4)));
            Throwable failure = catchFrom(launch);
            assertThat(failure).isInstanceOf(DeviceOutOfMemoryException.class);
            assertThat(a.get(5)).isEqualTo(5f);
            assertThat(b.get(6)).isEqualTo(6f);
            // Each alone fits.
            heap.launch(BuiltinKernel.SCALE, 3 * BLOCK / 4, Arg.readWrite(a), Arg.of(2f), Arg.of(3 * BLOCK / 4)).await();
            assertThat(a.get(5)).isEqualTo(10f);
        }
    }

    /** Issue 9 item 6: several threads launching without awaiting, each array filling most of the device. */
    @Test
    void concurrentUnawaitedLaunchesThatDoNotFitTogetherAllComplete() throws Exception {
        for (int round = 0; round < ROUNDS; round++) {
            try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).deviceBudget(4 * BLOCK).build()) {
                int threads = 3;
                List<FloatArray> arrays = new ArrayList<>();
                for (int t = 0; t < threads; t++)
                    arrays.add(heap.allocateFloats(3 * BLOCK / 4));
                ExecutorService pool = Executors.newFixedThreadPool(threads);
                List<Future<Launch>> launches = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    FloatArray mine = arrays.get(t);
                    float value = t + 1;
                    launches.add(pool.submit(() -> heap.launch(BuiltinKernel.FILL, mine.length(), Arg.write(mine),
                            Arg.of(value), Arg.of(mine.length()))));
                }
                pool.shutdown();
                assertThat(pool.awaitTermination(20, TimeUnit.SECONDS)).as("round %d deadlocked", round).isTrue();
                for (Future<Launch> f : launches)
                    f.get().await();
                for (int t = 0; t < threads; t++)
                    assertThat(arrays.get(t).get(17)).isEqualTo(t + 1f);
            }
        }
    }

    /** Issue 9 item 9: closing while a blocking read holds the segment must be all-or-nothing (here: it waits). */
    @Test
    void closeWhileBlockingIoHoldsTheMemoryWaitsAndThenFreesEverything() throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            var group = heap.createGroup("io", 16 * BLOCK);
            FloatArray a = group.allocateFloats(N);
            Pipe pipe = Pipe.open();
            ByteBuffer target = a.segment().asByteBuffer();
            AtomicReference<Object> readResult = new AtomicReference<>();
            Thread reader = Thread.ofPlatform().start(() -> {
                try {
                    readResult.set(pipe.source().read(target));
                } catch (IOException | RuntimeException e) {
                    readResult.set(e);
                }
            });
            Thread.sleep(200); // the reader is blocked inside read(2), holding the segment's scope
            Thread closer = Thread.ofPlatform().start(a::close);
            closer.join(300);
            assertThat(closer.isAlive()).as("close() must wait for the I/O, not half-close").isTrue();
            pipe.sink().write(ByteBuffer.wrap(new byte[] {1, 2, 3, 4}));
            reader.join(10_000);
            closer.join(10_000);
            assertThat(closer.isAlive()).isFalse();
            assertThat(readResult.get()).isEqualTo(4);
            assertThat(heap.liveArrays()).isZero();
            assertThat(group.used()).isZero();
            assertThatThrownBy(() -> a.get(0)).isInstanceOf(IllegalStateException.class);
        }
    }

    /** Issue 9 item 9 for the heap: close while a read holds an array's memory tears everything down after it. */
    @Test
    void heapCloseWhileBlockingIoHoldsAnArrayWaitsAndThenTearsDown() throws Exception {
        ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build();
        FloatArray a = heap.allocateFloats(N);
        Pipe pipe = Pipe.open();
        ByteBuffer target = a.segment().asByteBuffer();
        Thread reader = Thread.ofPlatform().start(() -> {
            try {
                pipe.source().read(target);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        Thread.sleep(200);
        Thread closer = Thread.ofPlatform().start(heap::close);
        closer.join(300);
        assertThat(closer.isAlive()).isTrue();
        pipe.sink().write(ByteBuffer.wrap(new byte[] {1, 2, 3, 4}));
        reader.join(10_000);
        closer.join(10_000);
        assertThat(closer.isAlive()).isFalse();
        assertThat(heap.isOpen()).isFalse();
        assertThat(heap.liveArrays()).isZero();
        assertThatThrownBy(() -> a.get(0)).isInstanceOf(IllegalStateException.class);
    }

    /** Residency of a closed array is a clean exception. */
    @Test
    void residencyOfAClosedArrayThrows() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            FloatArray a = heap.allocateFloats(N);
            assertThat(heap.residency(a).all(BlockState.HOST)).isTrue();
            a.close();
            assertThatThrownBy(() -> heap.residency(a)).isInstanceOf(IllegalStateException.class);
        }
    }

    /** A kernel (run by the launching thread on this backend) that closes its own array or heap must not hang. */
    @Test
    void closingFromInsideAKernelThatUsesItFailsCleanly() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            FloatArray a = heap.allocateFloats(N);
            AtomicReference<Throwable> arrayClose = new AtomicReference<>();
            AtomicReference<Throwable> heapClose = new AtomicReference<>();
            var closer = heap.load(io.hmm4j.spi.KernelSource.java("closer", (n, args) -> {
                try {
                    a.close();
                } catch (IllegalStateException e) {
                    arrayClose.set(e);
                }
                try {
                    heap.close();
                } catch (IllegalStateException e) {
                    heapClose.set(e);
                }
            }));
            heap.launch(closer, 1, Arg.readWrite(a)).await();
            assertThat(arrayClose.get()).hasMessageContaining("inside");
            assertThat(heapClose.get()).hasMessageContaining("inside");
            assertThat(heap.isOpen()).isTrue();
            a.set(1, 1f); // the refused close left the array alive
            assertThat(a.get(1)).isEqualTo(1f);
        }
    }

    private static Throwable catchFrom(Future<?> future) throws InterruptedException {
        try {
            future.get(20, TimeUnit.SECONDS);
            return null;
        } catch (java.util.concurrent.ExecutionException e) {
            return e.getCause();
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError("the launch hung", e);
        }
    }
}
