package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Every lifecycle call racing every other, from platform and virtual threads: allocate, close, heap close,
 * evacuate, residency, prefetch, launch (awaited or not) and host reads and writes, on a device budget small
 * enough that launches evict each other. Every read must return a value that was written into that very array
 * (values encode the array), every failure must be a closed handle or a full device, and the run must end: a
 * watchdog fails the test with the threads' stacks if the workers do not stop. {@code -Dhmm4j.lifecycle.seconds}
 * sets the length (30 s by default).
 */
public abstract class LifecycleStressTest {

    private static final long BLOCK = 4096;
    private static final int FLOATS = (int) (16 * BLOCK / Float.BYTES);
    private static final int SLOTS = 6;
    private static final Duration RUN = Duration.ofSeconds(Long.getLong("hmm4j.lifecycle.seconds", 30));

    protected abstract String backend();

    protected Map<String, String> settings() {
        return Map.of();
    }

    /** {@code null} when the backend can run here, else why not (the skip reason). */
    protected abstract String unavailabilityCause();

    private final AtomicReference<ManagedHeap> heap = new AtomicReference<>();
    private final List<AtomicReference<FloatArray>> slots = new ArrayList<>();
    /** The values each array instance may hold: 0 and everything ever written into it. */
    private final Map<FloatArray, Set<Float>> written = Collections.synchronizedMap(new IdentityHashMap<>());
    private final AtomicInteger nextArray = new AtomicInteger(1);
    private final AtomicLong reads = new AtomicLong();
    private final AtomicLong completedOps = new AtomicLong();
    private final AtomicLong refusedOps = new AtomicLong();

    private ManagedHeap openHeap() {
        ManagedHeap.Builder builder = ManagedHeap.builder().backend(backend()).blockSize(BLOCK)
                .deviceBudget(3L * FLOATS * Float.BYTES);
        settings().forEach(builder::setting);
        return builder.build();
    }

    /** A fresh array whose values all encode its identity: float holds integers exactly up to 2^24. */
    private FloatArray allocate(ManagedHeap h) {
        FloatArray a = h.allocateFloats(FLOATS);
        Set<Float> values = ConcurrentHashMap.newKeySet();
        values.add(0f);
        written.put(a, values);
        return a;
    }

    private float valueFor(FloatArray a) {
        int id = (int) (Math.abs((long) System.identityHashCode(a)) % 2048) + 1;
        return id * 8192f + ThreadLocalRandom.current().nextInt(8192);
    }

    @Test
    void lifecycleCallsRacingEachOtherNeverCrashHangOrCorrupt() throws Exception {
        String cause = unavailabilityCause();
        Assumptions.assumeTrue(cause == null, () -> backend() + " unavailable: " + cause);
        heap.set(openHeap());
        for (int s = 0; s < SLOTS; s++)
            slots.add(new AtomicReference<>(allocate(heap.get())));
        AtomicBoolean stop = new AtomicBoolean();
        List<Future<?>> workers = new ArrayList<>();
        ExecutorService platform = Executors.newFixedThreadPool(4);
        ExecutorService virtual = Executors.newVirtualThreadPerTaskExecutor();
        for (int t = 0; t < 4; t++)
            workers.add(platform.submit(() -> work(stop)));
        for (int t = 0; t < 12; t++)
            workers.add(virtual.submit(() -> work(stop)));
        // The heap itself is closed and replaced now and then, under everyone's feet.
        workers.add(platform.submit(() -> {
            while (!stop.get()) {
                Thread.sleep(1500);
                ManagedHeap old = heap.get();
                ManagedHeap fresh = openHeap();
                heap.set(fresh);
                for (AtomicReference<FloatArray> slot : slots)
                    slot.set(allocate(fresh));
                old.close();
                assertThat(old.liveArrays()).isZero();
            }
            return null;
        }));
        long deadline = System.nanoTime() + RUN.toNanos();
        while (System.nanoTime() < deadline) {
            Thread.sleep(200);
            for (Future<?> f : workers)
                if (f.isDone())
                    f.get(); // a worker that failed ends the test now, with its failure
        }
        stop.set(true);
        platform.shutdown();
        virtual.shutdown();
        boolean ended = platform.awaitTermination(60, TimeUnit.SECONDS) & virtual.awaitTermination(60, TimeUnit.SECONDS);
        if (!ended) {
            StringBuilder dump = new StringBuilder("workers did not stop within 60 s (hang):\n");
            Thread.getAllStackTraces().forEach((thread, stack) -> {
                dump.append(thread).append('\n');
                for (StackTraceElement e : stack)
                    dump.append("    at ").append(e).append('\n');
            });
            throw new AssertionError(dump.toString());
        }
        for (Future<?> f : workers)
            f.get();
        heap.get().close();
        System.out.printf("%s lifecycle stress, %d s: %d operations completed (%d reads checked), %d refused cleanly%n",
                backend(), RUN.toSeconds(), completedOps.get(), reads.get(), refusedOps.get());
        assertThat(reads.get()).isPositive();
        assertThat(completedOps.get()).as("operations that completed (refused: %d)", refusedOps.get()).isPositive();
    }

    private Void work(AtomicBoolean stop) {
        ThreadLocalRandom random = ThreadLocalRandom.current();
        while (!stop.get()) {
            ManagedHeap h = heap.get();
            AtomicReference<FloatArray> slot = slots.get(random.nextInt(SLOTS));
            FloatArray a = slot.get();
            int op = random.nextInt(100);
            try {
                if (op < 35) {
                    int i = random.nextInt(FLOATS);
                    float v = a.get(i);
                    reads.incrementAndGet();
                    if (!written.get(a).contains(v))
                        throw new AssertionError("array read " + v + " at " + i + ", never written into it");
                } else if (op < 50) {
                    float v = valueFor(a);
                    written.get(a).add(v);
                    a.set(random.nextInt(FLOATS), v);
                } else if (op < 62) {
                    float v = valueFor(a);
                    written.get(a).add(v);
                    Launch l = h.launch(BuiltinKernel.FILL, FLOATS, Arg.write(a), Arg.of(v), Arg.of((long) FLOATS));
                    if (random.nextBoolean())
                        l.await();
                } else if (op < 70) {
                    h.launch(BuiltinKernel.SCALE, FLOATS, Arg.readWrite(a), Arg.of(1f), Arg.of((long) FLOATS)).await();
                } else if (op < 76) {
                    h.prefetch(a, random.nextBoolean() ? Location.HOST : Location.device(0));
                } else if (op < 82) {
                    h.residency(a);
                } else if (op < 86) {
                    h.evacuate(0);
                } else if (op < 90) {
                    h.synchronize();
                } else {
                    FloatArray fresh = allocate(h);
                    if (slot.compareAndSet(a, fresh))
                        a.close();
                    else
                        fresh.close();
                }
                completedOps.incrementAndGet();
            } catch (IllegalStateException | DeviceOutOfMemoryException expected) {
                // a closed array or heap, or a device too full for this moment's launches
                refusedOps.incrementAndGet();
            }
        }
        return null;
    }
}
