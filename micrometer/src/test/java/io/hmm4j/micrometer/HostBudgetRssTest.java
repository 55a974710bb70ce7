package io.hmm4j.micrometer;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.ChildJvm;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;

/**
 * Issue 10, done when: a heap whose working set is three times its host budget keeps its host memory within the
 * budget plus a few blocks per thread (see the assertion for what the few are), measured by the kernel (/proc/self/smaps_rollup, Pss_Shmem: the heap's memfd
 * pages, each counted once although the engine and the user view both map it), while several threads run launches,
 * read every element back (faults) and write some (write faults); the data agrees with a model; the reclaim shows
 * in hmm4j.reclaimed and as io.hmm4j.Reclaim events. The process's shmem before the heap allocates is the baseline
 * (none here: the JVM itself maps no shmem). A sampler thread reads /proc the whole time, so the bound is checked
 * between launches too, not only at the moments the host tier looks. Runs in a child JVM: nothing else in it maps
 * shmem, and no other test's heap counts.
 */
class HostBudgetRssTest {

    private static final long KIB = 1024;
    private static final long MIB = KIB * KIB;
    private static final long BLOCK = 64 * KIB;
    private static final long BUDGET = 4 * MIB;
    private static final int THREADS = 2;
    private static final int ARRAYS_PER_THREAD = 6;
    private static final int FLOATS = (int) (MIB / Float.BYTES);
    private static final int ROUNDS = 3;
    /** Blocks per thread the sampled bound may exceed the budget by: see the assertion. */
    private static final int MEASUREMENT_BLOCKS = 8;

    /** /proc/self/smaps_rollup (or /proc/self/status) field, in bytes. */
    static long procField(String file, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self", file)))
                if (line.startsWith(field + ":"))
                    return Long.parseLong(line.replaceAll("\\D", "")) * KIB;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        throw new IllegalStateException("no " + field + " in /proc/self/" + file);
    }

    static long shmemPss() {
        return procField("smaps_rollup", "Pss_Shmem");
    }

    /** One worker: its own arrays and model; launches, whole reads and scattered writes, checked every round. */
    private static final java.util.concurrent.atomic.AtomicInteger SET_UP = new java.util.concurrent.atomic.AtomicInteger();

    private static void work(ManagedHeap heap, int worker) {
        Random random = new Random(worker);
        List<FloatArray> arrays = new ArrayList<>();
        List<float[]> model = new ArrayList<>();
        for (int i = 0; i < ARRAYS_PER_THREAD; i++) {
            float[] values = new float[FLOATS];
            for (int j = 0; j < FLOATS; j++)
                values[j] = (worker * 31 + i * 7 + j) % 97;
            FloatArray array = heap.allocateFloats(FLOATS);
            array.copyFrom(values);
            // On to the device (pages kept): the next array's allocation finds them reclaimable.
            heap.launch(BuiltinKernel.SCALE, FLOATS, Arg.readWrite(array), Arg.of(1f), Arg.of((long) FLOATS)).await();
            arrays.add(array);
            model.add(values);
        }
        SET_UP.incrementAndGet();
        for (int round = 0; round < ROUNDS; round++) {
            float factor = round % 2 == 0 ? 2f : 0.5f;
            for (int i = 0; i < ARRAYS_PER_THREAD; i++) {
                FloatArray array = arrays.get(i);
                float[] values = model.get(i);
                heap.launch(BuiltinKernel.SCALE, FLOATS, Arg.readWrite(array), Arg.of(factor), Arg.of((long) FLOATS))
                        .await();
                for (int j = 0; j < FLOATS; j++)
                    values[j] *= factor;
                for (int w = 0; w < 64; w++) {
                    int j = random.nextInt(FLOATS);
                    values[j] = w;
                    array.set(j, w);
                }
                float[] read = array.toArray();
                if (!java.util.Arrays.equals(read, values))
                    throw new AssertionError("worker " + worker + " array " + i + " round " + round
                            + " disagrees with the model");
            }
        }
        for (FloatArray array : arrays)
            array.close();
    }

    /** The child JVM. */
    public static void main(String[] args) throws Exception {
        long baseline = shmemPss();
        AtomicLong worst = new AtomicLong();
        AtomicLong worstSetUp = new AtomicLong();
        AtomicLong worstRss = new AtomicLong();
        long rssBaseline = procField("status", "VmRSS");
        Path jfr = Files.createTempFile("hmm4j-reclaim", ".jfr");
        try (Recording recording = new Recording();
                ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).hostBudget(BUDGET).build()) {
            recording.enable("io.hmm4j.Reclaim");
            recording.start();
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            new HeapMetrics(heap).bindTo(registry);
            Thread sampler = Thread.ofPlatform().daemon().start(() -> {
                while (!Thread.currentThread().isInterrupted()) {
                    boolean rounds = SET_UP.get() == THREADS;
                    (rounds ? worst : worstSetUp).accumulateAndGet(shmemPss() - baseline, Math::max);
                    worstRss.accumulateAndGet(procField("status", "VmRSS") - rssBaseline, Math::max);
                }
            });
            List<Thread> workers = new ArrayList<>();
            List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
            for (int w = 0; w < THREADS; w++) {
                int worker = w;
                workers.add(Thread.ofPlatform().start(() -> {
                    try {
                        work(heap, worker);
                    } catch (Throwable t) {
                        failures.add(t);
                    }
                }));
            }
            for (Thread t : workers)
                t.join();
            sampler.interrupt();
            sampler.join();
            for (Throwable t : failures)
                t.printStackTrace(System.out);
            System.out.println("MODEL " + (failures.isEmpty() ? "OK" : "FAILED"));
            System.out.println("WORST_SHMEM " + worst.get());
            System.out.println("WORST_SHMEM_SETUP " + worstSetUp.get());
            System.out.println("WORST_RSS_GROWTH " + worstRss.get());
            System.out.println("RECLAIMED_METER " + (long) registry.get("hmm4j.reclaimed").functionCounter().count());
            System.out.println("RECLAIMED_STATS " + heap.stats().reclaimedBytes());
            recording.stop();
            recording.dump(jfr);
        }
        Map<String, Long> causes = RecordingFile.readAllEvents(jfr).stream()
                .filter(e -> e.getEventType().getName().equals("io.hmm4j.Reclaim"))
                .collect(Collectors.groupingBy(e -> e.getString("cause"), Collectors.summingLong(e -> e.getLong("bytes"))));
        System.out.println("JFR_RECLAIM " + causes);
        Files.deleteIfExists(jfr);
    }

    private static long value(String output, String key) {
        Matcher m = Pattern.compile(key + " (\\d+)").matcher(output);
        assertThat(m.find()).as(key + " in:\n" + output).isTrue();
        return Long.parseLong(m.group(1));
    }

    @Test
    void aWorkingSetThreeTimesTheHostBudgetStaysWithinAFewBlocksOfIt() throws Exception {
        ChildJvm.Result result = ChildJvm.run(HostBudgetRssTest.class, List.of("-Xmx256m"), 180);
        String out = result.output();
        System.out.println(out);
        assertThat(result.exitCode()).as(out).isZero();
        assertThat(out).contains("MODEL OK");
        // The engine keeps the heap within its budget at every fault (it gives pages back before it reserves new
        // ones), so what the sampler sees beyond it is the walk itself: smaps_rollup reads the mappings one after the
        // other while faults free pages in one region and take them in another, and a page can be counted in both.
        // Measured: within the budget plus 1 to 12 blocks (2 threads) in the rounds over 15 runs on a loaded 2-core
        // machine, exactly within it while setting up; asserted: 8 blocks per thread (1 MiB in all). Reclaim after
        // launches only, the code before, reached the budget plus 2.2 MiB.
        assertThat(value(out, "WORST_SHMEM")).as(out).isLessThanOrEqualTo(BUDGET + MEASUREMENT_BLOCKS * THREADS * BLOCK);
        assertThat(value(out, "WORST_SHMEM_SETUP")).as(out)
                .isLessThanOrEqualTo(BUDGET + MEASUREMENT_BLOCKS * THREADS * BLOCK);
        long workingSet = (long) THREADS * ARRAYS_PER_THREAD * MIB;
        assertThat(value(out, "RECLAIMED_METER")).as(out).isGreaterThanOrEqualTo(workingSet - BUDGET)
                .isEqualTo(value(out, "RECLAIMED_STATS"));
        assertThat(out).containsPattern("JFR_RECLAIM \\{.*budget=\\d+");
    }
}
