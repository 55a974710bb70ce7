package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Advice;
import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
import io.hmm4j.Location;
import io.hmm4j.ManagedArray;
import io.hmm4j.ManagedHeap;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every public operation on arrays at random, from several threads at once, on one heap whose devices are too small
 * for all the arrays together (evictions), with blocks of four pages (faults open one page), asynchronous launches,
 * range launches on two devices, tiled launches, advice, explicit moves, thrash control and heap-wide evacuation.
 * Each thread owns its arrays and keeps a model of their floats; every read it makes must match the model, and so
 * must every float of every array at the end. Values stay small integers, so every kernel's result is exact.
 *
 * <p>A conformance kit: each backend runs it on at least two devices where it can. {@code -Dhmm4j.stress.millis}
 * sets how long each heap runs (3 s by default, for CI); {@code -Dhmm4j.soak.seed} replays one seed.
 */
public abstract class RandomOperationsSoakTest {

    private static final long BLOCK = Long.getLong("hmm4j.soak.block", 16 * 1024);
    private static final int FLOATS_PER_BLOCK = (int) (BLOCK / Float.BYTES);
    private static final int THREADS = 3;
    private static final int ARRAYS = 3;
    private static final int MAX_BLOCKS = 48;
    private static final int MAX_PENDING = 2;
    /** However slow the machine: a run that did nothing would pass without testing anything. */
    private static final int MIN_OPERATIONS = 50;
    private static final float BOUND = 1 << 21;
    /** Two of the largest arrays and a little: a launch always fits, the arrays of three threads do not. */
    private static final long DEVICE_BUDGET = 2 * MAX_BLOCKS * BLOCK + 4 * BLOCK;
    private static final Duration RUN = Duration.ofMillis(Long.getLong("hmm4j.stress.millis", 3000));

    /** The backend with its settings (two devices or more where it has them). */
    protected abstract ManagedHeap.Builder backend();

    /** {@code null} when the backend can run here, else why not (the skip reason). */
    protected abstract String unavailabilityCause();

    /** Whether arrays may be placed zero-copy ({@link ManagedHeap#placeZeroCopy}): not where userfaultfd serves them. */
    protected boolean zeroCopyPlacement() {
        return true;
    }

    @BeforeEach
    void assumeAvailable() {
        String cause = unavailabilityCause();
        Assumptions.assumeTrue(cause == null, () -> "backend not available: " + cause);
    }

    private ManagedHeap.Builder smallDevices() {
        return backend().deviceBudget(DEVICE_BUDGET).blockSize(BLOCK).prefetchBlocks(4);
    }

    @Test
    void withThrashControl() throws Exception {
        soak(smallDevices(), seed(), 0);
    }

    @Test
    void withoutThrashControl() throws Exception {
        soak(smallDevices().thrashControl(false), seed(), 1);
    }

    @Test
    void underAHostBudget() throws Exception {
        soak(smallDevices().thrashControl(false).hostBudget(64 * BLOCK), seed(), 2);
    }

    @Test
    void releasingHostMemoryWithEagerThrashControl() throws Exception {
        soak(smallDevices().thrashControl(2, 4).releaseHostMemory(true), seed(), 3);
    }

    private static long seed() {
        return Long.getLong("hmm4j.soak.seed", System.nanoTime());
    }

    /** {@code seed} replays a run (with {@code -Dhmm4j.soak.seed}); each heap's workers mix in {@code heapSalt}. */
    private void soak(ManagedHeap.Builder builder, long seed, int heapSalt) throws Exception {
        long deadline = System.nanoTime() + RUN.toNanos();
        try (ManagedHeap heap = builder.build()) {
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                List<Future<Long>> workers = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    Worker worker = new Worker(heap, (seed * 31 + heapSalt) * 31 + t, zeroCopyPlacement());
                    workers.add(pool.submit(() -> worker.run(deadline)));
                }
                for (Future<Long> worker : workers) {
                    try {
                        assertThat(worker.get()).as("operations").isGreaterThanOrEqualTo(MIN_OPERATIONS);
                    } catch (ExecutionException e) {
                        throw new AssertionError("soak seed " + seed + " (-Dhmm4j.soak.seed=" + seed + "): "
                                + e.getCause().getMessage(), e.getCause());
                    }
                }
            } finally {
                pool.shutdownNow();
            }
            assertThat(heap.liveArrays()).isZero();
        }
    }

    /** One thread's arrays, their model, and the launches it has not awaited yet. */
    private static final class Worker {
        private final ManagedHeap heap;
        private final int devices;
        private final boolean zeroCopy;
        private final Random random;
        private final long seed;
        private final FloatArray[] arrays = new FloatArray[ARRAYS];
        private final float[][] model = new float[ARRAYS][];
        private final Deque<Pending> pending = new ArrayDeque<>();
        private final Deque<String> trace = new ArrayDeque<>();
        private long operations;

        private record Pending(Launch launch, int read, int written) {}

        Worker(ManagedHeap heap, long seed, boolean zeroCopy) {
            this.heap = heap;
            this.zeroCopy = zeroCopy;
            this.devices = heap.devices().size();
            this.seed = seed;
            this.random = new Random(seed);
        }

        long run(long deadline) {
            for (int a = 0; a < ARRAYS; a++)
                replace(a);
            try {
                while (operations < MIN_OPERATIONS || System.nanoTime() < deadline) {
                    step();
                    operations++;
                }
                awaitAll();
                for (int a = 0; a < ARRAYS; a++)
                    check(a, 0, model[a].length);
            } catch (RuntimeException | AssertionError e) {
                throw new AssertionError("worker seed " + seed + " after " + operations + " operations, last: "
                        + trace + ": " + e, e);
            } finally {
                for (FloatArray array : arrays)
                    if (array != null)
                        array.close();
            }
            return operations;
        }

        private void note(String what) {
            if (trace.size() == 12)
                trace.removeFirst();
            trace.addLast(what);
        }

        private void step() {
            int a = random.nextInt(ARRAYS);
            switch (random.nextInt(14)) {
                case 0, 1 -> hostWrite(a);
                case 2, 3 -> hostRead(a);
                case 4 -> wholeLaunch(a);
                case 5, 6 -> rangeLaunch(a);
                case 7 -> axpy(a, other(a));
                case 8 -> awaitOldest();
                case 9 -> move(a);
                case 10 -> {
                    awaitUsing(a);
                    long[] bytes = byteRange(a);
                    note("makeHostWritable " + a + " " + bytes[0] + "+" + bytes[1]);
                    heap.makeHostWritable(arrays[a], bytes[0], bytes[1]);
                }
                case 11 -> advise(a);
                case 12 -> tiled(a, other(a));
                default -> {
                    int choice = random.nextInt(9);
                    if (choice == 0 && zeroCopy) {
                        awaitUsing(a);
                        boolean place = !heap.isZeroCopy(arrays[a]);
                        note((place ? "placeZeroCopy " : "placeMigrating ") + a);
                        if (place)
                            heap.placeZeroCopy(arrays[a]);
                        else
                            heap.placeMigrating(arrays[a]);
                    } else if (choice == 2) {
                        note("reclaimHostMemory");
                        heap.reclaimHostMemory(random.nextInt(64) * BLOCK);
                    } else if (choice == 3) {
                        note("synchronize");
                        heap.synchronize();
                    } else if (choice == 4) {
                        awaitUsing(a);
                        note("copyFrom " + a);
                        for (int i = 0; i < model[a].length; i++)
                            model[a][i] = random.nextInt(100) - 50;
                        arrays[a].copyFrom(model[a]);
                    } else if (choice == 5) {
                        note("toArray " + a);
                        float[] all = arrays[a].toArray();
                        for (int i = 0; i < all.length; i++)
                            if (Float.compare(all[i], model[a][i]) != 0)
                                throw new AssertionError("array " + a + " toArray()[" + i + "]: expected " + model[a][i]
                                        + " but was " + all[i]);
                    } else if (choice == 1) {
                        int device = random.nextInt(devices);
                        note("evacuate " + device);
                        heap.evacuate(device);
                    } else {
                        note("replace " + a);
                        arrays[a].close(); // a launch still using it keeps it alive until it ends
                        replace(a);
                    }
                }
            }
        }

        private int other(int a) {
            return (a + 1 + random.nextInt(ARRAYS - 1)) % ARRAYS;
        }

        private void replace(int a) {
            // Lengths that are not whole blocks as often as whole ones: the last block's tail belongs to no array.
            int length = (1 + random.nextInt(MAX_BLOCKS)) * FLOATS_PER_BLOCK - (random.nextBoolean() ? random.nextInt(FLOATS_PER_BLOCK) : 0);
            arrays[a] = heap.allocateFloats(length);
            model[a] = new float[length];
            for (int i = 0; i < length; i++) {
                model[a][i] = random.nextInt(100);
                arrays[a].set(i, model[a][i]);
            }
        }

        /** An element range of array {@code a}: {offset, length}, usually within a few blocks. */
        private int[] range(int a) {
            int length = model[a].length;
            int count = 1 + random.nextInt(Math.min(length, random.nextBoolean() ? 64 : 3 * FLOATS_PER_BLOCK));
            int offset = random.nextInt(length - count + 1);
            return new int[] {offset, count};
        }

        private long[] byteRange(int a) {
            int[] r = range(a);
            return new long[] {(long) r[0] * Float.BYTES, (long) r[1] * Float.BYTES};
        }

        private void hostWrite(int a) {
            awaitUsing(a);
            int[] r = range(a);
            note("hostWrite " + a + " " + r[0] + "+" + r[1]);
            for (int i = r[0]; i < r[0] + r[1]; i++) {
                float value = random.nextInt(1000) - 500;
                arrays[a].set(i, value);
                model[a][i] = value;
            }
        }

        /** A read of an array a pending launch writes waits for the launch: the model already holds its result. */
        private void hostRead(int a) {
            if (random.nextInt(8) == 0) {
                note("hostRead " + a + " all");
                check(a, 0, model[a].length);
            } else {
                int[] r = range(a);
                note("hostRead " + a + " " + r[0] + "+" + r[1]);
                check(a, r[0], r[1]);
            }
        }

        private void check(int a, int offset, int count) {
            for (int i = offset; i < offset + count; i++) {
                float actual = arrays[a].get(i);
                if (Float.compare(actual, model[a][i]) != 0)
                    throw new AssertionError("array " + a + " (" + model[a].length + " floats) [" + i + "]: expected "
                            + model[a][i] + " but was " + actual + "; " + heap.residency(arrays[a]));
            }
        }

        private float magnitude(int a, int offset, int count) {
            float max = 0;
            for (int i = offset; i < offset + count; i++)
                max = Math.max(max, Math.abs(model[a][i]));
            return max;
        }

        private void wholeLaunch(int a) {
            int n = model[a].length;
            if (random.nextBoolean()) {
                float value = random.nextInt(200) - 100;
                note("FILL " + a + " = " + value);
                submit(heap.launch(BuiltinKernel.FILL, n, Arg.write(arrays[a]), Arg.of(value), Arg.of((long) n)), -1,
                        a);
                java.util.Arrays.fill(model[a], value);
            } else {
                float factor = scaleFactor(a, 0, n);
                note("SCALE " + a + " * " + factor);
                submit(heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(arrays[a]), Arg.of(factor), Arg.of((long) n)),
                        -1, a);
                for (int i = 0; i < n; i++)
                    model[a][i] *= factor;
            }
        }

        private float scaleFactor(int a, int offset, int count) {
            return magnitude(a, offset, count) < BOUND / 2 && random.nextBoolean() ? 2f : -1f;
        }

        private void rangeLaunch(int a) {
            int[] r = range(a);
            int device = random.nextInt(devices);
            if (random.nextBoolean()) {
                float value = random.nextInt(200) - 100;
                note("range FILL " + a + " " + r[0] + "+" + r[1] + " on " + device);
                submit(heap.launchOn(device, BuiltinKernel.FILL, r[0], r[1], Arg.write(arrays[a], r[0], r[1]),
                        Arg.of(value), Arg.of((long) r[1])), -1, a);
                java.util.Arrays.fill(model[a], r[0], r[0] + r[1], value);
            } else {
                float factor = scaleFactor(a, r[0], r[1]);
                note("range SCALE " + a + " " + r[0] + "+" + r[1] + " * " + factor + " on " + device);
                submit(heap.launchOn(device, BuiltinKernel.SCALE, r[0], r[1], Arg.readWrite(arrays[a], r[0], r[1]),
                        Arg.of(factor), Arg.of((long) r[1])), -1, a);
                for (int i = r[0]; i < r[0] + r[1]; i++)
                    model[a][i] *= factor;
            }
        }

        private void axpy(int x, int y) {
            int n = Math.min(model[x].length, model[y].length);
            float a = random.nextBoolean() ? 1f : -1f;
            if (magnitude(x, 0, n) + magnitude(y, 0, n) >= BOUND) {
                wholeLaunch(y);
                return;
            }
            int device = random.nextInt(devices);
            note("AXPY " + y + " += " + a + " * " + x + " (" + n + ") on " + device);
            submit(heap.launchOn(device, BuiltinKernel.AXPY, n, Arg.read(arrays[x]), Arg.readWrite(arrays[y]), Arg.of(a),
                    Arg.of((long) n)), x, y);
            for (int i = 0; i < n; i++)
                model[y][i] = a * model[x][i] + model[y][i];
        }

        private void tiled(int x, int y) {
            int n = Math.min(model[x].length, model[y].length);
            if (magnitude(x, 0, n) + magnitude(y, 0, n) >= BOUND) {
                wholeLaunch(y);
                return;
            }
            long tile = BLOCK * (1 + random.nextInt(4));
            note("tiled AXPY " + y + " += " + x + " (" + n + ") tiles of " + tile);
            Launch launch = heap.launchTiled(BuiltinKernel.AXPY, n, tile, Arg.read(arrays[x]), Arg.readWrite(arrays[y]),
                    Arg.of(1f), Arg.of((long) n));
            submit(launch, x, y);
            for (int i = 0; i < n; i++)
                model[y][i] = model[x][i] + model[y][i];
        }

        private void move(int a) {
            Location where = random.nextInt(3) == 0 ? Location.HOST : Location.device(random.nextInt(devices));
            boolean prefetch = random.nextBoolean();
            awaitUsing(a);
            if (random.nextBoolean()) {
                note((prefetch ? "prefetch " : "migrate ") + a + " to " + where);
                if (prefetch)
                    heap.prefetch(arrays[a], where);
                else
                    heap.migrate(arrays[a], where);
            } else {
                long[] bytes = byteRange(a);
                note((prefetch ? "prefetch " : "migrate ") + a + " " + bytes[0] + "+" + bytes[1] + " to " + where);
                if (prefetch)
                    heap.prefetch(arrays[a], bytes[0], bytes[1], where);
                else
                    heap.migrate(arrays[a], bytes[0], bytes[1], where);
            }
        }

        private void advise(int a) {
            long[] bytes = byteRange(a);
            Advice advice = switch (random.nextInt(4)) {
                case 0 -> Advice.readMostly();
                case 1 -> Advice.preferredLocation(random.nextBoolean() ? Location.HOST : Location.device(random.nextInt(devices)));
                case 2 -> Advice.accessedBy(random.nextInt(devices));
                default -> null;
            };
            if (advice == null) {
                note("unadvise readMostly " + a);
                heap.unadvise(arrays[a], bytes[0], bytes[1], Advice.readMostly());
            } else {
                note("advise " + advice + " " + a + " " + bytes[0] + "+" + bytes[1]);
                heap.advise(arrays[a], bytes[0], bytes[1], advice);
            }
        }

        private void submit(Launch launch, int read, int written) {
            pending.addLast(new Pending(launch, read, written));
            while (pending.size() > MAX_PENDING)
                awaitOldest();
        }

        private void awaitOldest() {
            Pending oldest = pending.pollFirst();
            if (oldest != null)
                oldest.launch().await();
        }

        private void awaitAll() {
            while (!pending.isEmpty())
                awaitOldest();
        }

        /** A host write or a move of an array a pending launch uses would race with its kernel. */
        private void awaitUsing(int a) {
            for (Pending p : pending)
                if (p.read() == a || p.written() == a) {
                    awaitAll();
                    return;
                }
        }
    }
}
