package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceException;
import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.FloatArray;
import io.hmm4j.HeapStats;
import io.hmm4j.IntArray;
import io.hmm4j.Launch;
import io.hmm4j.ManagedHeap;
import io.hmm4j.MigrationCause;
import io.hmm4j.UserKernel;
import io.hmm4j.spi.KernelSource;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Tiled launches (issue 12, item 4): element-wise kernels over arrays larger than the device budget stream through
 * it in double-buffered tiles, against a plain host computation, for sizes that are not multiples of the tile or
 * the block, with the launch-vs-close rules of any launch.
 */
class TiledLaunchTest {

    private static final int BLOCK = 4096;
    /** Device budget: 16 blocks. The arrays below are several times larger. */
    private static final long BUDGET = 16L * BLOCK;

    private static ManagedHeap heap() {
        return ManagedHeap.builder().backend("emulated").blockSize(BLOCK).deviceBudget(BUDGET).build();
    }

    private static FloatArray filled(ManagedHeap heap, int n, float scale, float offset) {
        FloatArray a = heap.allocateFloats(n);
        for (int i = 0; i < n; i++)
            a.set(i, i * scale + offset);
        return a;
    }

    @ParameterizedTest(name = "n = {0}, tile = {1} bytes")
    @CsvSource({
            "100003, 8192",   // n not a multiple of the tile nor of the block
            "100003, 100",    // tile smaller than a block: one block
            "65536, 4096",    // exact multiples
            "70001, 10000",   // tile not a multiple of the block: rounded up to 3 blocks
            "7, 8192"         // one tile covers everything (arrays fit: a plain launch)
    })
    void axpyOverArraysLargerThanTheDeviceMatchesTheHost(int n, long tileBytes) {
        try (ManagedHeap heap = heap()) {
            FloatArray x = filled(heap, n, 0.5f, 1f);
            FloatArray y = filled(heap, n, -0.25f, 3f);
            Launch launch = heap.launchTiled(BuiltinKernel.AXPY, n, tileBytes, Arg.read(x), Arg.readWrite(y),
                    Arg.of(2f), Arg.of((long) n));
            launch.await();
            assertThat(launch.isDone()).isTrue();
            for (int i = 0; i < n; i++) {
                float expected = 2f * (i * 0.5f + 1f) + (i * -0.25f + 3f);
                if (y.get(i) != expected)
                    assertThat(y.get(i)).as("y[%d]", i).isEqualTo(expected);
                if (x.get(i) != i * 0.5f + 1f)
                    assertThat(x.get(i)).as("x[%d] (read only)", i).isEqualTo(i * 0.5f + 1f);
            }
            assertThat(heap.deviceBytesUsed(0)).isLessThanOrEqualTo(BUDGET);
        }
    }

    @Test
    void plainLaunchRefusesWhatTheTiledLaunchRuns() {
        try (ManagedHeap heap = heap()) {
            int n = 50_000; // 200 KB per array, the budget is 64 KiB
            FloatArray x = filled(heap, n, 1f, 0f);
            FloatArray y = filled(heap, n, 0f, 1f);
            assertThatThrownBy(() -> heap.launch(BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(y), Arg.of(3f),
                    Arg.of((long) n))).isInstanceOf(DeviceOutOfMemoryException.class);
            HeapStats before = heap.stats();
            heap.launchTiled(BuiltinKernel.AXPY, n, 8192, Arg.read(x), Arg.readWrite(y), Arg.of(3f), Arg.of((long) n));
            HeapStats after = heap.stats();
            // The tiles' bytes count as launch migrations: x and y in, y out, each exactly once.
            assertThat(after.bytesToDevice(MigrationCause.LAUNCH) - before.bytesToDevice(MigrationCause.LAUNCH))
                    .isEqualTo(2L * n * Float.BYTES);
            assertThat(after.bytesToHost(MigrationCause.LAUNCH) - before.bytesToHost(MigrationCause.LAUNCH))
                    .isEqualTo((long) n * Float.BYTES);
            for (int i = 0; i < n; i += 997)
                assertThat(y.get(i)).isEqualTo(3f * i + 1f);
            // Written tiles came home: the array lives on the host, nothing of it left on the device.
            assertThat(heap.residency(y).count(BlockState.HOST)).isEqualTo(heap.residency(y).blockCount());
            assertThat(heap.deviceBytesUsed(0)).isZero();
        }
    }

    private static Set<Thread> copyThreads() {
        Set<Thread> threads = new HashSet<>();
        for (Thread thread : Thread.getAllStackTraces().keySet())
            if (thread.getName().startsWith("hmm4j-tile-copies-"))
                threads.add(thread);
        return threads;
    }

    /**
     * An emulated device's kernels are CPU work: its tiled launches copy and compute in the launching thread and start
     * no copy thread (a second thread made every tile's bytes cross between cores; TiledLaunch's class comment).
     */
    @Test
    void anEmulatedDevicesTilesStartNoCopyThread() {
        try (ManagedHeap heap = heap()) {
            int n = 50_000;
            FloatArray x = filled(heap, n, 1f, 0f);
            FloatArray y = filled(heap, n, 0f, 1f);
            // Idle ones of another test's launches (on a device with a kernel model) may be around for a while.
            Set<Thread> before = copyThreads();
            for (int launch = 1; launch <= 6; launch++) {
                heap.launchTiled(BuiltinKernel.AXPY, n, 8192, Arg.read(x), Arg.readWrite(y), Arg.of(1f),
                        Arg.of((long) n));
                assertThat(copyThreads()).as("copy threads after launch %d", launch).isSubsetOf(before);
            }
            for (int i = 0; i < n; i += 997)
                assertThat(y.get(i)).isEqualTo(6f * i + 1f);
        }
    }

    /**
     * A kernel compute model gives an emulated device's kernels a duration of their own, as a GPU's have: its tiles
     * keep a copy thread, so that the copies overlap the kernels instead of waiting for them.
     */
    @Test
    void anEmulatedDeviceWithAKernelModelStreamsItsTilesThroughACopyThread() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).deviceBudget(BUDGET)
                .setting("kernel.bandwidth", "2000000000").build()) {
            int n = 50_000;
            FloatArray x = filled(heap, n, 1f, 0f);
            FloatArray y = filled(heap, n, 0f, 1f);
            heap.launchTiled(BuiltinKernel.AXPY, n, 8192, Arg.read(x), Arg.readWrite(y), Arg.of(2f), Arg.of((long) n));
            assertThat(copyThreads()).as("copy threads").isNotEmpty();
            for (int i = 0; i < n; i += 997)
                assertThat(y.get(i)).isEqualTo(2f * i + 1f);
        }
    }

    /**
     * An interrupted launching thread does not give up on its tiles (a copy thread's launch waits for every tile's
     * upload and the end, an emulated device's does not wait at all): the launch completes on a modelled bus, and
     * the interrupt is there when it returns.
     */
    @Test
    void anInterruptedLaunchingThreadCompletesTheTilesAndKeepsItsInterrupt() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).deviceBudget(BUDGET)
                .setting("latency.ns", "20000").setting("bandwidth", "4000000000").build()) {
            int n = 50_001;
            FloatArray x = filled(heap, n, 1f, 0f);
            FloatArray y = filled(heap, n, 0f, 1f);
            Thread.currentThread().interrupt();
            try {
                heap.launchTiled(BuiltinKernel.AXPY, n, 8192, Arg.read(x), Arg.readWrite(y), Arg.of(2f),
                        Arg.of((long) n));
                assertThat(Thread.currentThread().isInterrupted()).as("interrupt given back").isTrue();
            } finally {
                Thread.interrupted();
            }
            for (int i = 0; i < n; i++)
                if (y.get(i) != 2f * i + 1f)
                    assertThat(y.get(i)).as("y[%d]", i).isEqualTo(2f * i + 1f);
        }
    }

    /**
     * On a modelled bus the copying thread waits out each copy's bus time itself (after the next copy's bytes moved
     * it runs the kernel of the tile before, inside that copy's bus time): every copy of the launch goes through the
     * unpaced path.
     */
    @Test
    void onAModelledBusTheCopyingThreadPacesEveryCopyItself() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).deviceBudget(BUDGET)
                .setting("latency.ns", "20000").setting("bandwidth", "4000000000").build()) {
            int n = 50_000;
            long tileBytes = 8192;
            FloatArray x = filled(heap, n, 1f, 0f);
            FloatArray y = filled(heap, n, 0f, 1f);
            NativeCopyEngine engine = heap.devices().getFirst().copyEngine();
            long before = engine.unpacedCopies();
            heap.launchTiled(BuiltinKernel.AXPY, n, tileBytes, Arg.read(x), Arg.readWrite(y), Arg.of(2f),
                    Arg.of((long) n));
            long tiles = Math.ceilDiv((long) n * Float.BYTES, tileBytes);
            assertThat(engine.unpacedCopies() - before).as("x in, y in, y out per tile").isEqualTo(3 * tiles);
            for (int i = 0; i < n; i++)
                if (y.get(i) != 2f * i + 1f)
                    assertThat(y.get(i)).as("y[%d]", i).isEqualTo(2f * i + 1f);
        }
    }

    @Test
    void fillAndScaleStreamWriteOnlyAndReadWriteArrays() {
        try (ManagedHeap heap = heap()) {
            int n = 123_457;
            FloatArray a = heap.allocateFloats(n);
            heap.launchTiled(BuiltinKernel.FILL, n, 16384, Arg.write(a), Arg.of(1.5f), Arg.of((long) n));
            heap.launchTiled(BuiltinKernel.SCALE, n, 12288, Arg.readWrite(a), Arg.of(4f), Arg.of(n));
            for (int i = 0; i < n; i++)
                if (a.get(i) != 6f)
                    assertThat(a.get(i)).as("a[%d]", i).isEqualTo(6f);
        }
    }

    @Test
    void aPrefixOfLargerArraysLeavesTheRestAlone() {
        try (ManagedHeap heap = heap()) {
            int length = 90_000;
            int n = 61_111;
            FloatArray a = filled(heap, length, 1f, 0f);
            heap.launchTiled(BuiltinKernel.SCALE, n, 8192, Arg.readWrite(a), Arg.of(-1f), Arg.of((long) n));
            for (int i = 0; i < length; i++) {
                float expected = i < n ? -i : i;
                if (a.get(i) != expected)
                    assertThat(a.get(i)).as("a[%d]", i).isEqualTo(expected);
            }
        }
    }

    @Test
    void arraysResidentOnTheDeviceAreBroughtHomeFirst() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).deviceBudget(48L * BLOCK)
                .build()) {
            int n = 30_000; // 120 KB: one array fits in the 192 KiB budget, two do not
            FloatArray x = filled(heap, n, 1f, 0f);
            FloatArray y = filled(heap, n, 0f, 2f);
            heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(10f), Arg.of((long) n)).await();
            assertThat(heap.residency(x).count(BlockState.DEVICE)).isPositive();
            heap.launchTiled(BuiltinKernel.AXPY, n, 16384, Arg.read(x), Arg.readWrite(y), Arg.of(1f), Arg.of((long) n));
            for (int i = 0; i < n; i++) {
                if (y.get(i) != 10f * i + 2f)
                    assertThat(y.get(i)).as("y[%d]", i).isEqualTo(10f * i + 2f);
            }
            assertThat(x.get(n - 1)).isEqualTo(10f * (n - 1));
        }
    }

    @Test
    void theSameArrayTwiceIsOneStream() {
        try (ManagedHeap heap = heap()) {
            int n = 77_777;
            FloatArray y = filled(heap, n, 1f, 1f);
            heap.launchTiled(BuiltinKernel.AXPY, n, 8192, Arg.read(y), Arg.readWrite(y), Arg.of(2f), Arg.of((long) n));
            for (int i = 0; i < n; i++)
                if (y.get(i) != 3f * (i + 1f))
                    assertThat(y.get(i)).as("y[%d]", i).isEqualTo(3f * (i + 1f));
        }
    }

    @Test
    void userKernelsDeclaredElementWiseGetTheirTileAndCount() {
        try (ManagedHeap heap = heap()) {
            int n = 50_003;
            IntArray in = heap.allocateInts(n);
            for (int i = 0; i < n; i++)
                in.set(i, i);
            FloatArray out = heap.allocateFloats(n);
            AtomicInteger tiles = new AtomicInteger();
            UserKernel half = heap.load(KernelSource.java("half", (global, args) -> {
                MemorySegment source = args.buffer(0);
                MemorySegment target = args.buffer(1);
                int count = args.intValue(2);
                if (count != global || source.byteSize() != 4L * count || target.byteSize() != 4L * count)
                    throw new AssertionError("tile of " + global + " items, count " + count);
                tiles.incrementAndGet();
                for (int i = 0; i < count; i++)
                    target.setAtIndex(ValueLayout.JAVA_FLOAT, i, source.getAtIndex(ValueLayout.JAVA_INT, i) / 2f);
            })).elementWise(2);
            heap.launchTiled(half, n, 8192, Arg.read(in), Arg.write(out), Arg.of(n));
            assertThat(tiles.get()).isEqualTo((n + 2047) / 2048);
            for (int i = 0; i < n; i++)
                if (out.get(i) != i / 2f)
                    assertThat(out.get(i)).as("out[%d]", i).isEqualTo(i / 2f);
        }
    }

    @Test
    void refusals() {
        try (ManagedHeap heap = heap(); ManagedHeap other = heap()) {
            int n = 40_000;
            FloatArray x = filled(heap, n, 1f, 0f);
            FloatArray y = filled(heap, n, 1f, 0f);
            FloatArray out = heap.allocateFloats(1);
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.SUM, n, 8192, Arg.read(x), Arg.write(x),
                    Arg.of((long) n)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("array of its own");
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.STENCIL_2D, n, 8192, Arg.read(x), Arg.write(y),
                    Arg.of(200), Arg.of(200), Arg.of(0.1f)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cannot be tiled");
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.SCALE, n, 8192, Arg.readWrite(x), Arg.of(2f),
                    Arg.of((long) n - 1)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("equal to the tiled launch's n");
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.SCALE, n + 1, 8192, Arg.readWrite(x), Arg.of(2f),
                    Arg.of((long) n + 1)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("holds");
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.SCALE, 0, 8192, Arg.readWrite(x), Arg.of(2f),
                    Arg.of(0L))).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.SCALE, -5, 8192, Arg.readWrite(x), Arg.of(2f),
                    Arg.of(-5L))).isInstanceOf(IllegalArgumentException.class);
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.SCALE, n, 0, Arg.readWrite(x), Arg.of(2f),
                    Arg.of((long) n))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("tile size");
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.SCALE, n, Long.MAX_VALUE, Arg.readWrite(x),
                    Arg.of(2f), Arg.of((long) n))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("overflows");
            // Two tiles of 40 KiB per array do not fit a 64 KiB budget.
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.SCALE, n, 40_000, Arg.readWrite(x), Arg.of(2f),
                    Arg.of((long) n))).isInstanceOf(DeviceOutOfMemoryException.class).hasMessageContaining("smaller tiles");
            UserKernel undeclared = heap.load(KernelSource.java("noop", (global, args) -> {}));
            assertThatThrownBy(() -> heap.launchTiled(undeclared, n, 8192, Arg.readWrite(x)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not declared element-wise");
            assertThatThrownBy(() -> heap.launchTiled(undeclared.elementWise(1), n, 8192, Arg.readWrite(x)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("argument 1");
            assertThatThrownBy(() -> heap.launchTiled(undeclared.elementWise(1), n, 8192, Arg.readWrite(x),
                    Arg.of(1f))).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("int or a long");
            assertThatThrownBy(() -> undeclared.elementWise(-2)).isInstanceOf(IllegalArgumentException.class);
            FloatArray foreign = other.allocateFloats(n);
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.AXPY, n, 8192, Arg.read(foreign),
                    Arg.readWrite(y), Arg.of(2f), Arg.of((long) n)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("another heap");
            // Nothing refused moved or changed anything.
            for (int i = 0; i < n; i += 101)
                assertThat(x.get(i)).isEqualTo(i);
            y.close();
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.AXPY, n, 8192, Arg.read(x), Arg.readWrite(y),
                    Arg.of(2f), Arg.of((long) n))).isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void aClosedHeapRefuses() {
        ManagedHeap heap = heap();
        FloatArray x = heap.allocateFloats(40_000);
        heap.close();
        assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.SCALE, 40_000, 8192, Arg.readWrite(x), Arg.of(2f),
                Arg.of(40_000L))).isInstanceOf(IllegalStateException.class);
    }

    /** A kernel that parks in its first tile until released, so a close can be tried while the tiles stream. */
    private static UserKernel parkingScale(ManagedHeap heap, CountDownLatch started, CountDownLatch release) {
        return heap.load(KernelSource.java("parking_scale", (global, args) -> {
            started.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            MemorySegment tile = args.buffer(0);
            for (long i = 0; i < global; i++)
                tile.setAtIndex(ValueLayout.JAVA_FLOAT, i, tile.getAtIndex(ValueLayout.JAVA_FLOAT, i) * 2f);
        })).elementWise(UserKernel.NO_COUNT);
    }

    @Test
    void closingAnArrayWaitsForTheTiledLaunchThatStreamsIt() throws Exception {
        try (ManagedHeap heap = heap()) {
            int n = 60_000;
            FloatArray a = filled(heap, n, 1f, 0f);
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            UserKernel scale = parkingScale(heap, started, release);
            AtomicReference<Throwable> launchFailure = new AtomicReference<>();
            AtomicReference<Float> lastAfterLaunch = new AtomicReference<>();
            Thread launcher = Thread.ofPlatform().start(() -> {
                try {
                    heap.launchTiled(scale, n, 8192, Arg.readWrite(a));
                    lastAfterLaunch.set(a.get(n - 1));
                } catch (Throwable t) {
                    launchFailure.set(t);
                }
            });
            assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
            Thread closer = Thread.ofPlatform().start(a::close);
            closer.join(300);
            assertThat(closer.isAlive()).as("close() returned while tiles still streamed").isTrue();
            release.countDown();
            launcher.join(10_000);
            closer.join(10_000);
            assertThat(closer.isAlive()).isFalse();
            // The launch finished; reading afterwards races with the close, which may already have won.
            if (launchFailure.get() != null)
                assertThat(launchFailure.get()).isInstanceOf(IllegalStateException.class);
            else if (lastAfterLaunch.get() != null)
                assertThat(lastAfterLaunch.get()).isEqualTo(2f * (n - 1));
            assertThat(heap.liveArrays()).isZero();
            assertThat(heap.deviceBytesUsed(0)).isZero();
        }
    }

    @Test
    void closingTheHeapWaitsForATiledLaunch() throws Exception {
        ManagedHeap heap = heap();
        int n = 60_000;
        FloatArray a = filled(heap, n, 1f, 0f);
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        UserKernel scale = parkingScale(heap, started, release);
        AtomicReference<Throwable> launchFailure = new AtomicReference<>();
        Thread launcher = Thread.ofPlatform().start(() -> {
            try {
                heap.launchTiled(scale, n, 8192, Arg.readWrite(a));
            } catch (Throwable t) {
                launchFailure.set(t);
            }
        });
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        Thread closer = Thread.ofPlatform().start(heap::close);
        closer.join(300);
        assertThat(closer.isAlive()).as("heap.close() returned while tiles still streamed").isTrue();
        release.countDown();
        launcher.join(10_000);
        closer.join(10_000);
        assertThat(closer.isAlive()).isFalse();
        assertThat(launchFailure.get()).isNull();
        assertThatThrownBy(() -> a.get(0)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void closingFromInsideATileThrowsInsteadOfWaitingForItself() {
        try (ManagedHeap heap = heap()) {
            int n = 60_000;
            FloatArray a = filled(heap, n, 1f, 0f);
            AtomicReference<Throwable> seen = new AtomicReference<>();
            UserKernel closing = heap.load(KernelSource.java("closing", (global, args) -> {
                try {
                    a.close();
                } catch (Throwable t) {
                    seen.compareAndSet(null, t);
                }
            })).elementWise(UserKernel.NO_COUNT);
            heap.launchTiled(closing, n, 8192, Arg.readWrite(a));
            assertThat(seen.get()).isInstanceOf(IllegalStateException.class).hasMessageContaining("wait for itself");
            assertThat(a.isAlive()).isTrue();
        }
    }

    @Test
    void anotherLaunchNeedingTheDeviceWaitsForTheTiles() throws Exception {
        try (ManagedHeap heap = heap()) {
            int n = 60_000;
            FloatArray big = filled(heap, n, 1f, 0f);
            FloatArray small = filled(heap, 12 * BLOCK / 4, 0f, 1f); // 48 KiB: cannot share the budget with the tiles
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            UserKernel scale = parkingScale(heap, started, release);
            Thread launcher = Thread.ofPlatform().start(() -> heap.launchTiled(scale, n, 8192, Arg.readWrite(big)));
            assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
            AtomicReference<Throwable> otherFailure = new AtomicReference<>();
            Thread other = Thread.ofPlatform().start(() -> {
                try {
                    heap.launch(BuiltinKernel.SCALE, small.length(), Arg.readWrite(small), Arg.of(5f),
                            Arg.of(small.length())).await();
                } catch (Throwable t) {
                    otherFailure.set(t);
                }
            });
            other.join(300);
            release.countDown();
            launcher.join(10_000);
            other.join(10_000);
            assertThat(otherFailure.get()).isNull();
            assertThat(small.get(0)).isEqualTo(5f);
            assertThat(big.get(n - 1)).isEqualTo(2f * (n - 1));
        }
    }

    @Test
    void aFailedCopyIsThrownAndLeavesTheArrayAsItWas() {
        try (ManagedHeap heap = heap()) {
            int n = 60_000;
            FloatArray a = filled(heap, n, 1f, 0f);
            NativeCopyEngine engine = heap.devices().getFirst().copyEngine();
            engine.inject(NativeCopyEngine.Injection.COPY_TO_DEVICE, 100);
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.SCALE, n, 8192, Arg.readWrite(a), Arg.of(3f),
                    Arg.of((long) n))).isInstanceOf(DeviceException.class);
            assertThat(heap.deviceBytesUsed(0)).isZero();
            for (int i = 0; i < n; i += 101)
                assertThat(a.get(i)).isEqualTo(i);
            // The heap and the array stay usable.
            heap.launchTiled(BuiltinKernel.SCALE, n, 8192, Arg.readWrite(a), Arg.of(3f), Arg.of((long) n));
            assertThat(a.get(n - 1)).isEqualTo(3f * (n - 1));
        }
    }

    @Test
    void aKernelFailureMidwayKeepsTheTilesBeforeItAndNoLaterOnes() {
        try (ManagedHeap heap = heap()) {
            int n = 60_000;
            int tile = 8192 / Float.BYTES;
            FloatArray a = filled(heap, n, 1f, 0f);
            AtomicInteger tiles = new AtomicInteger();
            UserKernel failing = heap.load(KernelSource.java("fails_third", (global, args) -> {
                if (tiles.getAndIncrement() == 2)
                    throw new IllegalStateException("third tile fails");
                MemorySegment t = args.buffer(0);
                for (long i = 0; i < global; i++)
                    t.setAtIndex(ValueLayout.JAVA_FLOAT, i, -t.getAtIndex(ValueLayout.JAVA_FLOAT, i));
            })).elementWise(UserKernel.NO_COUNT);
            assertThatThrownBy(() -> heap.launchTiled(failing, n, 8192, Arg.readWrite(a)))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("third tile");
            assertThat(heap.deviceBytesUsed(0)).isZero();
            for (int i = 0; i < n; i++) {
                float expected = i < 2 * tile ? -i : i;
                if (a.get(i) != expected)
                    assertThat(a.get(i)).as("a[%d]", i).isEqualTo(expected);
            }
        }
    }

    @Test
    void tiledAndPlainLaunchesFromSeveralThreadsTakeTurnsAndAllComplete() throws Exception {
        try (ManagedHeap heap = heap()) {
            int n = 50_000;
            int rounds = 6;
            // Each tiled launch takes 3 x 2 x 8 KiB = 48 KiB of the 64 KiB budget: two cannot stream at once.
            FloatArray[] xs = new FloatArray[2];
            FloatArray[] ys = new FloatArray[2];
            for (int t = 0; t < 2; t++) {
                xs[t] = filled(heap, n, 1f, t);
                ys[t] = heap.allocateFloats(n);
            }
            FloatArray small = filled(heap, 8 * BLOCK / 4, 0f, 1f); // 32 KiB: does not fit beside a tiled launch
            AtomicReference<Throwable> failure = new AtomicReference<>();
            Thread[] workers = new Thread[3];
            for (int t = 0; t < 2; t++) {
                int me = t;
                workers[t] = Thread.ofPlatform().start(() -> {
                    try {
                        for (int r = 0; r < rounds; r++)
                            heap.launchTiled(BuiltinKernel.AXPY, n, 8192, Arg.read(xs[me]), Arg.readWrite(ys[me]),
                                    Arg.of(1f), Arg.of((long) n));
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                });
            }
            workers[2] = Thread.ofPlatform().start(() -> {
                try {
                    for (int r = 0; r < rounds; r++)
                        heap.launch(BuiltinKernel.SCALE, small.length(), Arg.readWrite(small), Arg.of(2f),
                                Arg.of(small.length())).await();
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            });
            for (Thread worker : workers) {
                worker.join(60_000);
                assertThat(worker.isAlive()).as("a launch still waits after a minute").isFalse();
            }
            assertThat(failure.get()).isNull();
            for (int t = 0; t < 2; t++)
                for (int i = 0; i < n; i += 313)
                    assertThat(ys[t].get(i)).isEqualTo(rounds * (i + (float) t));
            assertThat(small.get(5)).isEqualTo((float) Math.pow(2, rounds));
        }
    }

    @Test
    void closingTheHeapWhileThreadsStreamEndsEveryLaunchCleanly() throws Exception {
        for (int attempt = 0; attempt < 3; attempt++) {
            ManagedHeap heap = heap();
            int n = 50_000;
            FloatArray x = filled(heap, n, 1f, 0f);
            FloatArray y = heap.allocateFloats(n);
            AtomicReference<Throwable> unexpected = new AtomicReference<>();
            CountDownLatch running = new CountDownLatch(2);
            Thread[] workers = new Thread[2];
            for (int t = 0; t < 2; t++) {
                workers[t] = Thread.ofPlatform().start(() -> {
                    running.countDown();
                    try {
                        while (true)
                            heap.launchTiled(BuiltinKernel.AXPY, n, 4096, Arg.read(x), Arg.readWrite(y), Arg.of(1f),
                                    Arg.of((long) n));
                    } catch (IllegalStateException closed) {
                        // The heap or an array closed under the loop: the clean outcome.
                    } catch (Throwable e) {
                        unexpected.compareAndSet(null, e);
                    }
                });
            }
            assertThat(running.await(10, TimeUnit.SECONDS)).isTrue();
            Thread.sleep(20 + 30 * attempt);
            heap.close();
            for (Thread worker : workers) {
                worker.join(30_000);
                assertThat(worker.isAlive()).isFalse();
            }
            assertThat(unexpected.get()).isNull();
            assertThat(heap.isOpen()).isFalse();
        }
    }

    @ParameterizedTest(name = "n = {0}, tile = {1} bytes")
    @CsvSource({"100003, 8192", "70001, 100", "40000, 12000"})
    void dotAndSumAddTheirTilesPartialResults(int n, long tileBytes) {
        try (ManagedHeap heap = heap()) {
            FloatArray x = filled(heap, n, 0f, 0f);
            FloatArray y = filled(heap, n, 0f, 0f);
            double dot = 0;
            double sum = 0;
            for (int i = 0; i < n; i++) {
                float xi = (i % 17) * 0.25f - 2f;
                float yi = (i % 5) + 0.5f;
                x.set(i, xi);
                y.set(i, yi);
                dot += (double) xi * yi;
                sum += xi;
            }
            FloatArray out = heap.allocateFloats(2);
            out.set(1, 42f);
            HeapStats before = heap.stats();
            heap.launchTiled(BuiltinKernel.DOT, n, tileBytes, Arg.read(x), Arg.read(y), Arg.write(out), Arg.of((long) n));
            assertThat((double) out.get(0)).isCloseTo(dot, org.assertj.core.data.Offset.offset(Math.abs(dot) * 1e-5 + 1e-3));
            assertThat(out.get(1)).as("only element 0 is the result").isEqualTo(42f);
            assertThat(heap.stats().bytesToDevice(MigrationCause.LAUNCH) - before.bytesToDevice(MigrationCause.LAUNCH))
                    .isEqualTo(2L * n * Float.BYTES);
            heap.launchTiled(BuiltinKernel.SUM, n, tileBytes, Arg.read(x), Arg.write(out), Arg.of((long) n));
            assertThat((double) out.get(0)).isCloseTo(sum, org.assertj.core.data.Offset.offset(Math.abs(sum) * 1e-5 + 1e-3));
            assertThat(heap.deviceBytesUsed(0)).isZero();
        }
    }

    @Test
    void aFailedReductionLeavesItsResultAlone() {
        try (ManagedHeap heap = heap()) {
            int n = 60_000;
            FloatArray x = filled(heap, n, 1f, 0f);
            FloatArray out = heap.allocateFloats(1);
            out.set(0, -7f);
            // The first partial result that comes home fails, after tiles have run: a partial sum is no result.
            heap.devices().getFirst().copyEngine().inject(NativeCopyEngine.Injection.COPY_TO_HOST, 2);
            assertThatThrownBy(() -> heap.launchTiled(BuiltinKernel.SUM, n, 8192, Arg.read(x), Arg.write(out),
                    Arg.of((long) n))).isInstanceOf(DeviceException.class);
            assertThat(out.get(0)).isEqualTo(-7f);
            assertThat(heap.deviceBytesUsed(0)).isZero();
            heap.launchTiled(BuiltinKernel.SUM, n, 8192, Arg.read(x), Arg.write(out), Arg.of((long) n));
            assertThat((double) out.get(0)).isCloseTo((double) n * (n - 1) / 2, org.assertj.core.data.Offset.offset(1e3));
        }
    }
}
