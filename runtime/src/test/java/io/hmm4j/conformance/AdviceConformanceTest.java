package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Advice;
import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.MigrationCause;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Memory advice ({@link ManagedHeap#advise}), the behaviour every backend whose blocks migrate must show, observed
 * through {@code Residency} and the heap's byte counters: read-mostly blocks are replicated by an exclusive migrate,
 * written blocks preferring the host are home after the launch without a fault, a preferred or accessed-by device
 * keeps an array that eviction takes from an unadvised twin, an accessed-by device gets its copy back after host
 * writes; the byte and placement model holds with advice mixed into random sequences; bad input is refused clearly;
 * zero-copy arrays keep advice without moving. A backend subclasses it; cases needing more devices than it has skip.
 */
public abstract class AdviceConformanceTest extends MultiDeviceKit {

    private long copiedIn() {
        return heap.stats().bytesToDevice() + heap.stats().bytesPeer();
    }

    private Launch sum(int device, FloatArray input, FloatArray out) {
        long n = input.length();
        return heap.launchOn(device, BuiltinKernel.SUM, n, Arg.read(input), Arg.write(out), Arg.of(n));
    }

    /**
     * As CUDA's prefetch of read-mostly memory: migrating a read-mostly input to each device before its launch
     * (exclusive for an unadvised twin, which moves it every time) replicates it, so after one round neither the
     * migrates nor the launches copy anything; writes still leave one copy.
     */
    @Test
    void readMostlyInputIsCopiedOncePerDeviceNotPerLaunch() {
        heap(2);
        int n = 2 * BLOCK_FLOATS;
        FloatArray advised = filled(n, 1);
        FloatArray twin = filled(n, 1);
        FloatArray out = heap.allocateFloats(1);
        heap.advise(advised, 0, advised.byteSize(), Advice.readMostly());
        assertThat(heap.adviceAt(advised, 0)).containsExactly(Advice.readMostly());
        for (FloatArray input : List.of(advised, twin)) {
            long before = copiedIn();
            for (int round = 0; round < 3; round++) {
                for (int d = 0; d < 2; d++) {
                    heap.migrate(input, Location.device(d));
                    sum(d, input, out).await();
                    assertThat(out.get(0)).isEqualTo(n);
                }
                if (round == 0)
                    before = copiedIn();
            }
            long later = copiedIn() - before;
            if (input == advised) {
                assertThat(later).as("bytes copied in after the first round, read-mostly").isZero();
                assertThat(heap.residency(input).devicePicture()).isEqualTo("S01 S01");
            } else {
                // Each exclusive migrate moves both blocks device to device: 2 rounds x 2 devices.
                assertThat(later).as("bytes copied in after the first round, unadvised").isEqualTo(2 * 2 * 2 * BLOCK);
                assertThat(heap.residency(input).devicePicture()).isEqualTo("D1 D1");
            }
        }
        // A host write invalidates the replicas of its block, a kernel write every copy but the writer's.
        advised.set(0, 2);
        assertThat(heap.residency(advised).devicePicture()).isEqualTo("H S01");
        heap.launchOn(1, BuiltinKernel.SCALE, n, Arg.readWrite(advised), Arg.of(2f), Arg.of((long) n)).await();
        assertThat(heap.residency(advised).devicePicture()).isEqualTo("D1 D1");
        assertThat(advised.get(0)).isEqualTo(4f);
        assertThat(advised.get(n - 1)).isEqualTo(2f);
        // Taken back, a migrate moves exclusively again.
        heap.unadvise(advised, 0, advised.byteSize(), Advice.readMostly());
        assertThat(heap.adviceAt(advised, 0)).isEmpty();
        heap.migrate(advised, Location.device(0));
        assertThat(heap.residency(advised).devicePicture()).isEqualTo("D0 D0");
    }

    /** Written blocks preferring the host are copied home when the launch completes: host reads then do not fault. */
    @Test
    void preferredHostWrittenBlocksAreHomeAfterAwaitWithoutAFault() {
        heap(1);
        int n = 4 * BLOCK_FLOATS;
        FloatArray advised = heap.allocateFloats(n);
        FloatArray twin = heap.allocateFloats(n);
        heap.advise(advised, 0, 2 * BLOCK, Advice.preferredLocation(Location.HOST));
        long home = heap.stats().bytesToHost();
        heap.launchOn(0, BuiltinKernel.FILL, n, Arg.write(advised), Arg.of(3f), Arg.of((long) n)).await();
        heap.launchOn(0, BuiltinKernel.FILL, n, Arg.write(twin), Arg.of(3f), Arg.of((long) n)).await();
        assertThat(heap.residency(advised).devicePicture()).isEqualTo("S0 S0 D0 D0");
        assertThat(heap.residency(twin).devicePicture()).isEqualTo("D0 D0 D0 D0");
        assertThat(heap.stats().bytesToHost(MigrationCause.PREFETCH)).isEqualTo(2 * BLOCK);
        assertThat(heap.stats().bytesToHost() - home).isEqualTo(2 * BLOCK);
        long faults = heap.stats().faults();
        assertThat(advised.get(0)).isEqualTo(3f);
        assertThat(advised.get(2 * BLOCK_FLOATS - 1)).isEqualTo(3f);
        assertThat(heap.stats().faults()).as("faults reading blocks that prefer the host").isEqualTo(faults);
        assertThat(twin.get(0)).isEqualTo(3f);
        assertThat(heap.stats().faults()).as("a fault reading the unadvised twin").isEqualTo(faults + 1);
        // The device copy stays valid: reading the array again on the device copies nothing.
        long in = copiedIn();
        heap.launchOn(0, BuiltinKernel.SUM, n, Arg.read(advised), Arg.write(twin), Arg.of((long) n)).await();
        assertThat(copiedIn()).isEqualTo(in);
    }

    /**
     * On a device that runs launches asynchronously the blocks come home without an await: the heap's waiting thread
     * completes the launch when its kernel is done. Polls the residency (no timing is asserted).
     */
    @Test
    void preferredHostBlocksComeHomeWithoutAnAwait() throws InterruptedException {
        heap(1);
        Assumptions.assumeFalse(heap.devices().getFirst().launchesAreSynchronous(),
                () -> backend() + ": launches are synchronous, completed by the launch itself");
        int n = 2 * BLOCK_FLOATS;
        FloatArray advised = heap.allocateFloats(n);
        heap.advise(advised, 0, advised.byteSize(), Advice.preferredLocation(Location.HOST));
        Launch launch = heap.launchOn(0, BuiltinKernel.FILL, n, Arg.write(advised), Arg.of(5f), Arg.of((long) n));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!heap.residency(advised).all(BlockState.SHARED) && System.nanoTime() < deadline)
            Thread.sleep(5);
        assertThat(heap.residency(advised).devicePicture()).isEqualTo("S0 S0");
        assertThat(launch.isDone()).isTrue();
        long faults = heap.stats().faults();
        assertThat(advised.get(n - 1)).isEqualTo(5f);
        assertThat(heap.stats().faults()).isEqualTo(faults);
        launch.await();
    }

    static Stream<Arguments> keepingAdvice() {
        return Stream.of(Arguments.of(Advice.preferredLocation(Location.device(0))), Arguments.of(Advice.accessedBy(0)));
    }

    /**
     * A budget of two arrays holds an advised array and its twin; a third array's launch evicts one. Least recently
     * used, that would be the advised one: advice keeping it on the device makes eviction take the twin.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("keepingAdvice")
    void adviceKeepingAnArrayOnADeviceMakesEvictionTakeAnUnadvisedTwin(Advice advice) {
        int n = 2 * BLOCK_FLOATS;
        long bytes = n * 4L;
        heap(1, ManagedHeap.builder().blockSize(BLOCK).prefetchBlocks(0)
                .deviceBudget(2 * bytes).poolChunkBytes(bytes));
        FloatArray advised = filled(n, 1);
        FloatArray twin = filled(n, 1);
        FloatArray third = filled(n, 1);
        heap.advise(advised, 0, BLOCK, advice);
        heap.launchOn(0, BuiltinKernel.SCALE, n, Arg.readWrite(advised), Arg.of(2f), Arg.of((long) n)).await();
        heap.launchOn(0, BuiltinKernel.SCALE, n, Arg.readWrite(twin), Arg.of(3f), Arg.of((long) n)).await();
        long evictions = heap.stats().evictions();
        heap.launchOn(0, BuiltinKernel.SCALE, n, Arg.readWrite(third), Arg.of(4f), Arg.of((long) n)).await();
        assertThat(heap.stats().evictions()).isEqualTo(evictions + 1);
        assertThat(heap.residency(advised).devices()).as("the advised array, used first").containsExactly(0);
        assertThat(heap.residency(advised).devicePicture()).isEqualTo("D0 D0");
        assertThat(heap.residency(twin).devices()).as("the unadvised twin").isEmpty();
        // With nothing else to evict, the advised array goes too: advice orders eviction, it does not forbid it.
        FloatArray fourth = filled(2 * n, 1);
        heap.launchOn(0, BuiltinKernel.SCALE, 2 * n, Arg.readWrite(fourth), Arg.of(5f), Arg.of(2L * n)).await();
        assertThat(heap.residency(advised).devices()).isEmpty();
        assertThat(advised.get(n - 1)).isEqualTo(2f);
        assertThat(twin.get(0)).isEqualTo(3f);
        assertThat(third.get(0)).isEqualTo(4f);
        assertThat(fourth.get(2 * n - 1)).isEqualTo(5f);
    }

    /**
     * An accessed-by device gets a copy when advised, and back after every launch that used the array (on any device),
     * so its own launches copy nothing: after a host write invalidated it and after another device wrote the array.
     */
    @Test
    void anAccessedByDeviceKeepsAValidCopy() {
        heap(2);
        int n = 2 * BLOCK_FLOATS;
        FloatArray a = filled(n, 1);
        FloatArray y = filled(n, 0);
        FloatArray out = heap.allocateFloats(1);
        heap.advise(a, 0, a.byteSize(), Advice.accessedBy(1));
        assertThat(heap.residency(a).devicePicture()).isEqualTo("S1 S1");
        assertThat(heap.stats().bytesToDevice()).isEqualTo(2 * BLOCK);
        a.set(0, 2);
        assertThat(heap.residency(a).devicePicture()).isEqualTo("H S1");
        // A launch on device 0 reads it; when it completes device 1 has block 0 again.
        heap.launchOn(0, BuiltinKernel.AXPY, n, Arg.read(a), Arg.readWrite(y), Arg.of(1f), Arg.of((long) n)).await();
        assertThat(heap.residency(a).devicePicture()).isEqualTo("S01 S01");
        long in = copiedIn();
        sum(1, a, out).await();
        assertThat(copiedIn()).as("bytes copied in for a launch on the accessed-by device").isEqualTo(in);
        assertThat(out.get(0)).isEqualTo(n + 1);
        // A kernel write on device 0 leaves it the only holder; completion copies it to device 1, device to device.
        long peer = heap.stats().bytesPeer();
        heap.launchOn(0, BuiltinKernel.SCALE, n, Arg.readWrite(a), Arg.of(2f), Arg.of((long) n)).await();
        assertThat(heap.residency(a).devicePicture()).isEqualTo("D01 D01");
        assertThat(heap.stats().bytesPeer() - peer).isEqualTo(2 * BLOCK);
        in = copiedIn();
        sum(1, a, out).await();
        assertThat(copiedIn()).isEqualTo(in);
        assertThat(out.get(0)).isEqualTo(2 * (n + 1));
        // Taken back: a host write's invalidation stays until a launch on device 1 copies again.
        heap.unadvise(a, 0, a.byteSize(), Advice.accessedBy(1));
        a.set(0, 1);
        heap.launchOn(0, BuiltinKernel.AXPY, n, Arg.read(a), Arg.readWrite(y), Arg.of(1f), Arg.of((long) n)).await();
        assertThat(heap.residency(a).devicePicture()).isEqualTo("S0 D01");
    }

    @Test
    void adviceAccumulatesAPreferredLocationReplacesTheLastAndNoneClears() {
        heap(2);
        FloatArray a = heap.allocateFloats(4 * BLOCK_FLOATS);
        heap.advise(a, 0, 3 * BLOCK, Advice.readMostly());
        heap.advise(a, BLOCK, 2 * BLOCK, Advice.preferredLocation(Location.device(1)));
        heap.advise(a, BLOCK, 1, Advice.preferredLocation(Location.HOST));
        heap.advise(a, 3 * BLOCK, BLOCK, Advice.accessedBy(1));
        heap.advise(a, 3 * BLOCK, BLOCK, Advice.accessedBy(0));
        assertThat(heap.adviceAt(a, 0)).containsExactly(Advice.readMostly());
        assertThat(heap.adviceAt(a, BLOCK + 5))
                .containsExactly(Advice.readMostly(), Advice.preferredLocation(Location.HOST));
        assertThat(heap.adviceAt(a, 2 * BLOCK))
                .containsExactly(Advice.readMostly(), Advice.preferredLocation(Location.device(1)));
        assertThat(heap.adviceAt(a, 4 * BLOCK - 1)).containsExactly(Advice.accessedBy(0), Advice.accessedBy(1));
        heap.unadvise(a, 3 * BLOCK, BLOCK, Advice.accessedBy(0));
        assertThat(heap.adviceAt(a, 3 * BLOCK)).containsExactly(Advice.accessedBy(1));
        // Unsetting a preferred location clears whichever it is.
        heap.unadvise(a, 2 * BLOCK, BLOCK, Advice.preferredLocation(Location.HOST));
        assertThat(heap.adviceAt(a, 2 * BLOCK)).containsExactly(Advice.readMostly());
        // A range inside a run splits it.
        heap.advise(a, BLOCK, BLOCK, Advice.none());
        assertThat(heap.adviceAt(a, 0)).containsExactly(Advice.readMostly());
        assertThat(heap.adviceAt(a, BLOCK)).isEmpty();
        assertThat(heap.adviceAt(a, 2 * BLOCK)).containsExactly(Advice.readMostly());
        heap.advise(a, 0, a.byteSize(), Advice.none());
        for (long b = 0; b < 4; b++)
            assertThat(heap.adviceAt(a, b * BLOCK)).isEmpty();
        // Advice of a freed array goes with it.
        a.close();
        FloatArray b = heap.allocateFloats(4 * BLOCK_FLOATS);
        assertThat(heap.adviceAt(b, 0)).isEmpty();
    }

    static Stream<Arguments> runs() {
        List<Arguments> runs = new ArrayList<>();
        for (int devices = 1; devices <= 3; devices++)
            for (long seed = 1; seed <= 4; seed++)
                runs.add(Arguments.of(devices, seed * 104729 + devices));
        return runs.stream();
    }

    @ParameterizedTest(name = "{0} devices, seed {1}")
    @MethodSource("runs")
    void blocksMatchTheModelWithAdviceMixedIn(int devices, long seed) {
        heap(devices);
        int length = 3 * BLOCK_FLOATS + 100;
        MultiDeviceModel.run(heap, MultiDeviceModel.randomOpsWithAdvice(seed, 120, 3, length, devices), 3, length, true);
    }

    @Test
    void adviseRefusesBadInputClearly() {
        heap(1);
        FloatArray a = heap.allocateFloats(BLOCK_FLOATS);
        long size = a.byteSize();
        int devices = heap.devices().size();
        Advice rm = Advice.readMostly();
        assertThatThrownBy(() -> heap.advise(a, -1, 4, rm)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.advise(a, 0, -4, rm)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.advise(a, 8, Long.MAX_VALUE, rm)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.advise(a, size - 4, 8, rm)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.unadvise(a, size, 1, rm)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.adviceAt(a, size)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.adviceAt(a, -1)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.advise(a, 0, 4, Advice.preferredLocation(Location.device(devices))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("device");
        assertThatThrownBy(() -> heap.advise(a, 0, 4, Advice.accessedBy(devices)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("device");
        assertThatThrownBy(() -> heap.unadvise(a, 0, 4, Advice.accessedBy(devices)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Advice.accessedBy(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Advice.preferredLocation(null)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> heap.advise(a, 0, 4, null)).isInstanceOf(NullPointerException.class);
        assertThatThrownBy(() -> heap.advise(null, 0, 4, rm)).isInstanceOf(NullPointerException.class);
        // Nothing was recorded by the refused calls.
        assertThat(heap.adviceAt(a, 0)).isEmpty();
        try (ManagedHeap other = ManagedHeap.builder().backend(backend()).build()) {
            assertThatThrownBy(() -> other.advise(a, 0, 4, rm)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("another heap");
        }
        a.close();
        assertThatThrownBy(() -> heap.advise(a, 0, 4, rm)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> heap.advise(a, 0, 0, rm)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> heap.adviceAt(a, 0)).isInstanceOf(IllegalStateException.class);
        FloatArray b = heap.allocateFloats(BLOCK_FLOATS);
        heap.close();
        assertThatThrownBy(() -> heap.advise(b, 0, 4, rm)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> heap.unadvise(b, 0, 4, rm)).isInstanceOf(IllegalStateException.class);
    }

    /**
     * A zero-copy array keeps its advice but nothing of it moves for it (its bytes stay in host memory the devices
     * address); once it migrates again the advice applies.
     */
    @Test
    void adviceOnAZeroCopyArrayIsKeptAndMovesNothingUntilItMigrates() {
        heap(1);
        Assumptions.assumeTrue(heap.devices().getFirst().zeroCopyUnavailabilityCause() == null,
                () -> backend() + ": " + heap.devices().getFirst().zeroCopyUnavailabilityCause());
        int n = 2 * BLOCK_FLOATS;
        FloatArray a = filled(n, 1);
        heap.placeZeroCopy(a);
        heap.advise(a, 0, a.byteSize(), Advice.preferredLocation(Location.HOST));
        heap.advise(a, 0, a.byteSize(), Advice.accessedBy(0));
        heap.launchOn(0, BuiltinKernel.SCALE, n, Arg.readWrite(a), Arg.of(2f), Arg.of((long) n)).await();
        assertThat(heap.stats().bytesToDevice() + heap.stats().bytesToHost() + heap.stats().bytesPeer()).isZero();
        assertThat(heap.residency(a).devicePicture()).isEqualTo("H H");
        assertThat(heap.isZeroCopy(a)).isTrue();
        assertThat(heap.adviceAt(a, 0))
                .containsExactly(Advice.preferredLocation(Location.HOST), Advice.accessedBy(0));
        heap.placeMigrating(a);
        heap.launchOn(0, BuiltinKernel.SCALE, n, Arg.readWrite(a), Arg.of(2f), Arg.of((long) n)).await();
        assertThat(heap.residency(a).devicePicture()).isEqualTo("S0 S0");
        assertThat(a.get(n - 1)).isEqualTo(4f);
    }

    /**
     * Threads advise, unadvise, launch and read arrays preferring the host and accessed by devices while others close
     * arrays and finally the heap: every call ends with its result or a clean IllegalStateException.
     */
    @Test
    void adviceRacesWithLaunchesAndCloseEndCleanly() throws Exception {
        int devices = 2;
        heap(devices);
        int n = 2 * BLOCK_FLOATS;
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < 3; t++) {
                int seed = t;
                futures.add(pool.submit(() -> {
                    java.util.Random r = new java.util.Random(seed);
                    try {
                        for (int step = 0; step < 200; step++) {
                            FloatArray a = filled(n, 1);
                            heap.advise(a, 0, a.byteSize(), Advice.preferredLocation(Location.HOST));
                            heap.advise(a, BLOCK, BLOCK, Advice.accessedBy(r.nextInt(devices)));
                            Launch l = heap.launchOn(r.nextInt(devices), BuiltinKernel.SCALE, n, Arg.readWrite(a),
                                    Arg.of(2f), Arg.of((long) n));
                            if (r.nextBoolean())
                                l.await();
                            if (r.nextBoolean())
                                assertThat(a.get(r.nextInt(n))).isEqualTo(2f);
                            if (r.nextBoolean())
                                heap.unadvise(a, 0, BLOCK, Advice.none());
                            a.close();
                        }
                    } catch (IllegalStateException closed) {
                        assertThat(heap.isOpen()).as("only a closed heap ends a thread: %s", closed).isFalse();
                    }
                    return null;
                }));
            }
            Thread.sleep(200);
            heap.close();
            for (Future<?> f : futures)
                f.get(60, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        assertThat(heap.isOpen()).isFalse();
    }

    /** Every advice kind is a value: equal advice compares equal and names itself as cudaMemAdvise does. */
    @Test
    void adviceValuesNameThemselves() {
        assertThat(Set.of(Advice.readMostly(), Advice.preferredLocation(Location.device(1)), Advice.accessedBy(2),
                Advice.none()).stream().map(Object::toString))
                .containsExactlyInAnyOrder("READ_MOSTLY", "PREFERRED_LOCATION(device 1)", "ACCESSED_BY(device 2)",
                        "NONE");
        assertThat(Advice.preferredLocation(Location.HOST)).isEqualTo(Advice.preferredLocation(Location.HOST));
    }
}
