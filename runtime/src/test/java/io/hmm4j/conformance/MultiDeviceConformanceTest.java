package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.Residency;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Blocks on several devices at once, the behaviour every backend with more than one device must show: each block's
 * valid copies form a set (the host and any devices), a launch copies only blocks not valid on its device (from the
 * host, or device to device), a write leaves one copy, {@link ManagedHeap#migrate} leaves only its target, and
 * evicting one device copies home only what nothing else holds. A backend subclasses it and says how to ask for
 * {@code n} devices; a case needing more devices than the backend has is skipped with that as the reason.
 */
public abstract class MultiDeviceConformanceTest extends MultiDeviceKit {

    static Stream<Arguments> runs() {
        List<Arguments> runs = new ArrayList<>();
        for (int devices = 2; devices <= 4; devices++)
            for (long seed = 1; seed <= 4; seed++)
                runs.add(Arguments.of(devices, seed * 7919 + devices));
        return runs.stream();
    }

    @ParameterizedTest(name = "{0} devices, seed {1}")
    @MethodSource("runs")
    void blocksMatchTheModelOfBytesAndPlaces(int devices, long seed) {
        heap(devices);
        int length = 3 * BLOCK_FLOATS + 100;
        MultiDeviceModel.run(heap, MultiDeviceModel.randomOps(seed, 80, 3, length, devices), 3, length, true);
    }

    @Test
    void aReadOnAnotherDeviceReplicatesAndAWriteInvalidatesEveryOtherCopy() {
        heap(2);
        int n = 2 * BLOCK_FLOATS;
        FloatArray x = filled(n, 2);
        FloatArray y0 = filled(n, 1);
        FloatArray y1 = filled(n, 1);
        heap.launchOn(0, BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(y0), Arg.of(1f), Arg.of((long) n)).await();
        heap.launchOn(1, BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(y1), Arg.of(1f), Arg.of((long) n)).await();
        // x read on both devices: three valid copies; the host's copy went once per device, not per launch.
        assertThat(heap.residency(x).devicePicture()).isEqualTo("S01 S01");
        assertThat(heap.residency(x).locations(0))
                .isEqualTo(Set.of(Location.HOST, Location.device(0), Location.device(1)));
        long toDevice = heap.stats().bytesToDevice();
        heap.launchOn(1, BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(y1), Arg.of(1f), Arg.of((long) n)).await();
        heap.launchOn(0, BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(y0), Arg.of(1f), Arg.of((long) n)).await();
        assertThat(heap.stats().bytesToDevice()).isEqualTo(toDevice);
        // A host write invalidates both devices' copies of its block, and only of its block.
        x.set(BLOCK_FLOATS, 3);
        assertThat(heap.residency(x).devicePicture()).isEqualTo("S01 H");
        heap.launchOn(0, BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(y0), Arg.of(1f), Arg.of((long) n)).await();
        assertThat(heap.stats().bytesToDevice() - toDevice).isEqualTo(BLOCK);
        assertThat(heap.residency(x).devicePicture()).isEqualTo("S01 S0");
        // A kernel write on device 1 leaves device 1 the only holder.
        heap.launchOn(1, BuiltinKernel.SCALE, n, Arg.readWrite(x), Arg.of(2f), Arg.of((long) n)).await();
        assertThat(heap.residency(x).devicePicture()).isEqualTo("D1 D1");
        assertThat(x.get(0)).isEqualTo(4f);
        assertThat(x.get(BLOCK_FLOATS)).isEqualTo(6f);
        assertThat(y0.get(0)).isEqualTo(1 + 2 + 2 + 2f);
        assertThat(y1.get(n - 1)).isEqualTo(1 + 2 + 2f);
    }

    @Test
    void aLaunchCopiesBlocksOnlyAnotherDeviceHoldsDeviceToDevice() {
        heap(2);
        int n = 4 * BLOCK_FLOATS;
        FloatArray a = heap.allocateFloats(n);
        heap.launchOn(0, BuiltinKernel.FILL, n, Arg.write(a), Arg.of(5f), Arg.of((long) n)).await();
        // One block read home: valid on the host and device 0; three only on device 0.
        assertThat(a.get(0)).isEqualTo(5f);
        long toDevice = heap.stats().bytesToDevice();
        long toHost = heap.stats().bytesToHost();
        heap.launchOn(1, BuiltinKernel.SCALE, n, Arg.readWrite(a), Arg.of(3f), Arg.of((long) n)).await();
        // The block the host holds came from the host, the other three device to device; nothing went home.
        assertThat(heap.stats().bytesToDevice() - toDevice).isEqualTo(BLOCK);
        assertThat(heap.stats().bytesPeer()).isEqualTo(3 * BLOCK);
        assertThat(heap.stats().blocksPeer()).isEqualTo(3);
        assertThat(heap.stats().bytesToHost()).isEqualTo(toHost);
        assertThat(heap.residency(a).devicePicture()).isEqualTo("D1 D1 D1 D1");
        for (int i = 0; i < n; i += BLOCK_FLOATS / 2)
            assertThat(a.get(i)).isEqualTo(15f);
    }

    @Test
    void migrateLeavesOnlyTheTargetHoldingTheRange() {
        heap(2);
        int n = 4 * BLOCK_FLOATS;
        FloatArray a = filled(n, 7);
        heap.prefetch(a, Location.device(0));
        assertThat(heap.residency(a).devicePicture()).isEqualTo("S0 S0 S0 S0");
        // Bytes [BLOCK - 4, 2 * BLOCK + 4): blocks 0..2, exclusively on device 1, copied from the host (valid there).
        long toDevice = heap.stats().bytesToDevice();
        heap.migrate(a, BLOCK - 4, BLOCK + 8, Location.device(1));
        assertThat(heap.residency(a).devicePicture()).isEqualTo("D1 D1 D1 S0");
        assertThat(heap.stats().bytesToDevice() - toDevice).isEqualTo(3 * BLOCK);
        assertThat(heap.stats().bytesPeer()).isZero();
        assertThat(heap.residency(a).isValidOn(0, Location.HOST)).isFalse();
        assertThat(heap.residency(a).isValidOn(0, Location.device(0))).isFalse();
        assertThat(heap.residency(a).locations(1)).containsExactly(Location.device(1));
        // Block 3 from the host to device 1, then, only devices holding it, device to device each way.
        heap.migrate(a, 3 * BLOCK, BLOCK, Location.device(1));
        assertThat(heap.stats().bytesPeer()).isZero();
        heap.migrate(a, 3 * BLOCK, BLOCK, Location.device(0));
        assertThat(heap.stats().bytesPeer()).isEqualTo(BLOCK);
        assertThat(heap.residency(a).devicePicture()).isEqualTo("D1 D1 D1 D0");
        heap.migrate(a, 3 * BLOCK, BLOCK, Location.device(1));
        assertThat(heap.stats().bytesPeer()).isEqualTo(2 * BLOCK);
        assertThat(heap.residency(a).devicePicture()).isEqualTo("D1 D1 D1 D1");
        // To the host: the device copies are invalid, the next launch copies again.
        heap.migrate(a, 0, 2 * BLOCK, Location.HOST);
        assertThat(heap.residency(a).devicePicture()).isEqualTo("H H D1 D1");
        toDevice = heap.stats().bytesToDevice();
        heap.prefetch(a, Location.device(1));
        assertThat(heap.stats().bytesToDevice() - toDevice).isEqualTo(2 * BLOCK);
        assertThat(heap.residency(a).devicePicture()).isEqualTo("S1 S1 D1 D1");
        for (int i = 0; i < n; i += BLOCK_FLOATS / 2)
            assertThat(a.get(i)).isEqualTo(7f);
    }

    @Test
    void evictingOneDeviceCopiesHomeOnlyWhatNothingElseHolds() {
        heap(3);
        int n = 3 * BLOCK_FLOATS;
        FloatArray a = heap.allocateFloats(n);
        heap.launchOn(0, BuiltinKernel.FILL, n, Arg.write(a), Arg.of(2f), Arg.of((long) n)).await();
        heap.prefetch(a, 0, BLOCK, Location.device(1));
        heap.prefetch(a, BLOCK, BLOCK, Location.device(2));
        assertThat(heap.residency(a).devicePicture()).isEqualTo("D01 D02 D0");
        assertThat(heap.residency(a).devices()).containsExactly(0, 1, 2);
        heap.evacuate(0);
        // Blocks 0 and 1 stay where their other copies are; block 2 had no other copy and came home.
        assertThat(heap.stats().bytesToHost()).isEqualTo(BLOCK);
        assertThat(heap.residency(a).devicePicture()).isEqualTo("D1 D2 H");
        assertThat(heap.residency(a).devices()).containsExactly(1, 2);
        assertThat(heap.deviceBytesUsed(0)).isZero();
        heap.evacuate(1);
        heap.evacuate(2);
        assertThat(heap.residency(a).all(BlockState.HOST)).isTrue();
        assertThat(heap.residency(a).devices()).isEmpty();
        for (int i = 0; i < n; i += BLOCK_FLOATS / 2)
            assertThat(a.get(i)).isEqualTo(2f);
    }

    @Test
    void migrateRefusesBadInputClearly() {
        heap(2);
        FloatArray a = heap.allocateFloats(BLOCK_FLOATS);
        long size = a.byteSize();
        assertThatThrownBy(() -> heap.migrate(a, -1, 4, Location.device(0)))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.migrate(a, 0, -4, Location.device(0)))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.migrate(a, 8, Long.MAX_VALUE, Location.device(0)))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.migrate(a, size - 4, 8, Location.HOST))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> heap.migrate(a, 0, 4, Location.device(heap.devices().size())))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("device");
        assertThatThrownBy(() -> Location.device(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> heap.migrate(a, 0, 4, null)).isInstanceOf(NullPointerException.class);
        assertThat(heap.residency(a).devices()).isEmpty();
        try (ManagedHeap other = ManagedHeap.builder().backend(backend()).build()) {
            assertThatThrownBy(() -> other.migrate(a, 0, 4, Location.HOST))
                    .isInstanceOf(IllegalArgumentException.class);
        }
        a.close();
        assertThatThrownBy(() -> heap.migrate(a, 0, 4, Location.device(1))).isInstanceOf(IllegalStateException.class);
        FloatArray b = heap.allocateFloats(BLOCK_FLOATS);
        heap.close();
        assertThatThrownBy(() -> heap.migrate(b, 0, 4, Location.device(1))).isInstanceOf(IllegalStateException.class);
    }

    /**
     * Threads each own an array and read a common one while launches on random devices replicate it, write their own,
     * prefetch and migrate it between devices, and others evacuate devices: under a budget that holds a fraction of
     * the arrays, so placements evict on every device. Every thread's bytes and the common array must stay right.
     */
    @Test
    void concurrentLaunchesOnEveryDeviceKeepEveryArraysBytes() throws Exception {
        int devices = 3;
        int threads = 4;
        int n = 2 * BLOCK_FLOATS;
        heap(devices, ManagedHeap.builder().blockSize(BLOCK).deviceBudget(3 * n * 4L).poolChunkBytes(n * 4L));
        FloatArray x = filled(n, 1);
        ExecutorService pool = Executors.newFixedThreadPool(threads + 1);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                long seed = 31L * t + 5;
                futures.add(pool.submit(() -> {
                    Random r = new Random(seed);
                    FloatArray own = filled(n, 0);
                    float value = 0;
                    for (int step = 0; step < 60; step++) {
                        int d = r.nextInt(devices);
                        switch (r.nextInt(6)) {
                            case 0 -> {
                                heap.launchOn(d, BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(own), Arg.of(1f),
                                        Arg.of((long) n)).await();
                                value += 1;
                            }
                            case 1 -> {
                                int i = r.nextInt(n);
                                assertThat(own.get(i)).as("own[%d] at step %d", i, step).isEqualTo(value);
                                assertThat(x.get(i)).isEqualTo(1f);
                            }
                            case 2 -> heap.prefetch(own, Location.device(d));
                            case 3 -> heap.migrate(own, r.nextInt(2) * BLOCK, BLOCK,
                                    r.nextBoolean() ? Location.HOST : Location.device(d));
                            case 4 -> {
                                value = r.nextInt(50);
                                for (int i = 0; i < n; i++)
                                    own.set(i, value);
                            }
                            default -> heap.launchOn(d, BuiltinKernel.SCALE, n, Arg.readWrite(own), Arg.of(1f),
                                    Arg.of((long) n)).await();
                        }
                    }
                    for (int i = 0; i < n; i++)
                        assertThat(own.get(i)).isEqualTo(value);
                    own.close();
                    return null;
                }));
            }
            futures.add(pool.submit(() -> {
                Random r = new Random(99);
                for (int i = 0; i < 30; i++) {
                    heap.evacuate(r.nextInt(devices));
                    Thread.sleep(2);
                }
                return null;
            }));
            for (Future<?> f : futures)
                f.get(120, TimeUnit.SECONDS);
        } finally {
            pool.shutdownNow();
        }
        Residency rx = heap.residency(x);
        for (int b = 0; b < rx.blockCount(); b++)
            assertThat(rx.isValidOn(b, Location.HOST)).isTrue();
        for (int i = 0; i < n; i++)
            assertThat(x.get(i)).isEqualTo(1f);
    }
}
