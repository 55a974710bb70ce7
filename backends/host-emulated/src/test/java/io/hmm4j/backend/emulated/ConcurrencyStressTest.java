package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Many threads fault the same blocks while kernels migrate them back and forth. The kernels multiply by one, so
 * every value a reader sees must be the one it was given; writers own disjoint slots inside shared blocks and
 * must find their last write after everything settles (no torn copy, no lost host write).
 */
class ConcurrencyStressTest {

    private static final long BLOCK = 4096;
    private static final int N = (int) (16 * BLOCK / 4);
    private static final Duration RUN = Duration.ofMillis(Long.getLong("hmm4j.stress.millis", 3000));

    private ManagedHeap heap;

    /** The heap under stress; a subclass may serve its faults another way. */
    protected ManagedHeap.Builder configure(ManagedHeap.Builder builder) {
        return builder;
    }

    @BeforeEach
    void open() {
        heap = configure(ManagedHeap.builder().backend("emulated").blockSize(BLOCK).prefetchBlocks(2)).build();
    }

    @AfterEach
    void close() {
        heap.close();
    }

    @Test
    void readersWritersAndKernelsOnTheSameBlocks() throws Exception {
        FloatArray shared = heap.allocateFloats(N);
        int writers = 3;
        for (int i = 0; i < N; i++)
            shared.set(i, i % writers == 0 ? 0 : i);
        AtomicBoolean stop = new AtomicBoolean();
        ExecutorService pool = Executors.newFixedThreadPool(6);
        List<Future<Long>> work = new ArrayList<>();
        // kernels: identity updates that move every block to the device and leave it DEVICE
        work.add(pool.submit(() -> {
            long launches = 0;
            while (!stop.get()) {
                heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(shared), Arg.of(1f), Arg.of((long) N)).await();
                if (++launches % 7 == 0)
                    heap.prefetch(shared, Location.HOST);
                launches++;
            }
            return launches;
        }));
        // readers: every slot not owned by a writer keeps its value
        for (int r = 0; r < 2; r++) {
            int seed = r;
            work.add(pool.submit(() -> {
                long checks = 0;
                java.util.Random random = new java.util.Random(seed);
                while (!stop.get()) {
                    int i = random.nextInt(N);
                    if (i % writers != 0) {
                        float v = shared.get(i);
                        if (v != i)
                            throw new AssertionError("slot " + i + " read " + v);
                        checks++;
                    }
                }
                return checks;
            }));
        }
        // writers: slot i with i % writers == 0 belongs to writer (i / writers) % ... ; each writes increasing values
        int[] owned = {0, 1, 2};
        float[][] last = new float[writers][N];
        for (int w = 0; w < writers; w++) {
            int writer = owned[w];
            work.add(pool.submit(() -> {
                long writes = 0;
                java.util.Random random = new java.util.Random(100 + writer);
                while (!stop.get()) {
                    int slot = random.nextInt(N / writers / writers) * writers * writers + writer * writers;
                    float value = ++writes;
                    shared.set(slot, value);
                    last[writer][slot] = value;
                    float back = shared.get(slot);
                    if (back != value)
                        throw new AssertionError("writer " + writer + " slot " + slot + " wrote " + value + " read " + back);
                }
                return writes;
            }));
        }
        Thread.sleep(RUN.toMillis());
        stop.set(true);
        pool.shutdown();
        assertThat(pool.awaitTermination(60, TimeUnit.SECONDS)).isTrue();
        long total = 0;
        for (Future<Long> f : work)
            total += f.get();
        assertThat(total).isPositive();
        for (int w = 0; w < writers; w++)
            for (int i = 0; i < N; i++)
                if (last[w][i] != 0)
                    assertThat(shared.get(i)).as("slot %d of writer %d", i, w).isEqualTo(last[w][i]);
        assertThat(heap.stats().faults()).isPositive();
    }

    @Test
    void manyThreadsFaultingTheSameDeviceBlock() throws Exception {
        FloatArray a = heap.allocateFloats(N);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            for (int round = 0; round < 200; round++) {
                float value = round;
                heap.launch(BuiltinKernel.FILL, N, Arg.write(a), Arg.of(value), Arg.of((long) N)).await();
                List<Future<Float>> reads = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    int index = (t * 131) % N;
                    reads.add(pool.submit(() -> a.get(index)));
                }
                for (Future<Float> f : reads)
                    assertThat(f.get()).isEqualTo(value);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(heap.stats().readFaults()).isGreaterThanOrEqualTo(200);
    }
}
