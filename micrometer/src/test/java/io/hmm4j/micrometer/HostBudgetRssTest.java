package io.hmm4j.micrometer;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.ChildJvm;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.io.IOException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;

/**
 * Issue 10, done when: a heap whose working set is three times its host budget keeps its host memory within the
 * budget plus one block per thread, measured by the kernel (/proc/PID/smaps_rollup, Pss_Shmem: the heap's memfd
 * pages, each counted once although the engine and the user view both map it), while several threads run launches,
 * read every element back (faults) and write some (write faults); the data agrees with a model; the reclaim shows
 * in hmm4j.reclaimed and as io.hmm4j.Reclaim events. The heap runs in a child JVM (nothing else in it maps shmem, and
 * no other test's heap counts); this test samples its /proc the whole time with the child stopped (SIGSTOP, every
 * thread seen stopped, read, SIGCONT). A walk of smaps_rollup in a running process is not a snapshot: it reads the
 * mappings one after the other while faults free pages in a region already read and take pages in one not read yet,
 * so the same bytes can be counted twice (that walk saw the budget plus 12 blocks where the heap never held more than
 * the budget plus 2). A stopped process holds still, mid-fault included (a thread stops only outside the kernel,
 * so a fault stops between its system calls, with the pages it has taken so far).
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
    /** Blocks per thread the heap may hold beyond its budget: the one a fault is bringing home. */
    private static final int BLOCKS_IN_FLIGHT = 1;

    /** A /proc/PID/smaps_rollup (or status) field, in bytes. */
    static long procField(long pid, String file, String field) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + pid, file)))
                if (line.startsWith(field + ":"))
                    return Long.parseLong(line.replaceAll("\\D", "")) * KIB;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        throw new IllegalStateException("no " + field + " in /proc/" + pid + "/" + file);
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
        if (SET_UP.incrementAndGet() == THREADS)
            System.out.println("ROUNDS"); // the sampler tells set-up and rounds apart
        for (int round = 0; round < ROUNDS; round++) {
            float factor = round % 2 == 0 ? 2f : 0.5f;
            for (int i = 0; i < ARRAYS_PER_THREAD; i++) {
                FloatArray array = arrays.get(i);
                float[] values = model.get(i);
                heap.launch(BuiltinKernel.SCALE, FLOATS, Arg.readWrite(array), Arg.of(factor), Arg.of((long) FLOATS))
                        .await();
                for (int j = 0; j < FLOATS; j++)
                    values[j] *= factor;
                // A sequential read of the DEVICE-resident array: faults whose read-ahead brings runs of blocks home.
                double sum = 0;
                double expected = 0;
                for (int j = 0; j < FLOATS; j++) {
                    sum += array.get(j);
                    expected += values[j];
                }
                if (sum != expected)
                    throw new AssertionError("worker " + worker + " array " + i + " round " + round + ": sum " + sum
                            + ", the model's " + expected);
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

    /**
     * A single array three times the budget, read by one thread from start to end (faults and their read-ahead) between
     * launches: the only pages the heap can give back for the blocks coming home are the array's own.
     */
    private static void readOneArrayLargerThanTheBudget(ManagedHeap heap) {
        long length = 3 * BUDGET / Float.BYTES;
        FloatArray array = heap.allocateFloats(length);
        // Written on the device: the host's first writes would take the whole array's pages without a fault.
        heap.launch(BuiltinKernel.FILL, length, Arg.write(array), Arg.of(1f), Arg.of(length)).await();
        System.out.println("ROUNDS");
        float value = 1;
        for (int round = 0; round < ROUNDS; round++) {
            double sum = 0;
            for (long j = 0; j < length; j++)
                sum += array.get(j);
            if (sum != (double) value * length)
                throw new AssertionError("round " + round + ": sum " + sum + ", expected " + (double) value * length);
            heap.launch(BuiltinKernel.SCALE, length, Arg.readWrite(array), Arg.of(2f), Arg.of(length)).await();
            value *= 2;
        }
        array.close();
    }

    /**
     * The child JVM: says READY, waits for a line on stdin (the sampler's baseline is taken), then works: {@code arrays}
     * (every thread its own arrays) or {@code one} (one array larger than the budget).
     */
    public static void main(String[] args) throws Exception {
        boolean one = args.length > 0 && args[0].equals("one");
        System.out.println("READY");
        System.out.flush();
        new java.io.BufferedReader(new java.io.InputStreamReader(System.in)).readLine();
        Path jfr = Files.createTempFile("hmm4j-reclaim", ".jfr");
        try (Recording recording = new Recording();
                ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).hostBudget(BUDGET).build()) {
            recording.enable("io.hmm4j.Reclaim");
            recording.start();
            SimpleMeterRegistry registry = new SimpleMeterRegistry();
            new HeapMetrics(heap).bindTo(registry);
            List<Thread> workers = new ArrayList<>();
            List<Throwable> failures = new java.util.concurrent.CopyOnWriteArrayList<>();
            for (int w = 0; w < (one ? 1 : THREADS); w++) {
                int worker = w;
                workers.add(Thread.ofPlatform().start(() -> {
                    try {
                        if (one)
                            readOneArrayLargerThanTheBudget(heap);
                        else
                            work(heap, worker);
                    } catch (Throwable t) {
                        failures.add(t);
                    }
                }));
            }
            for (Thread t : workers)
                t.join();
            for (Throwable t : failures)
                t.printStackTrace(System.out);
            System.out.println("MODEL " + (failures.isEmpty() ? "OK" : "FAILED"));
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

    private static final MethodHandle KILL = Linker.nativeLinker().downcallHandle(
            Linker.nativeLinker().defaultLookup().find("kill").orElseThrow(),
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
    private static final int SIGCONT = 18;
    private static final int SIGSTOP = 19;

    /**
     * Sends {@code signal} to the child; a child that has just ended is no failure (the JDK's reaper may have collected
     * it and not yet said so: isAlive() is still true for a moment).
     */
    private static void signal(Process child, int signal) throws InterruptedException {
        int rc;
        try {
            rc = (int) KILL.invokeExact((int) child.pid(), signal);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (rc != 0 && !child.waitFor(5, java.util.concurrent.TimeUnit.SECONDS))
            throw new IllegalStateException("kill(" + child.pid() + ", " + signal + ") failed");
    }

    /** Whether every thread of {@code pid} is stopped (or gone): a stop reaches each thread on its own. */
    private static boolean allStopped(long pid) {
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                String stat;
                try {
                    stat = Files.readString(task.resolve("stat"));
                } catch (IOException gone) {
                    continue;
                }
                char state = stat.charAt(stat.lastIndexOf(')') + 2);
                if (state != 'T' && state != 't' && state != 'Z' && state != 'X')
                    return false;
            }
            return true;
        } catch (IOException e) {
            return true; // the process has ended
        }
    }

    /** Pss_Shmem of {@code pid} with the process stopped, or -1 once it has ended. */
    private static long stoppedShmemPss(Process child) throws InterruptedException {
        long pid = child.pid();
        if (!child.isAlive())
            return -1;
        signal(child, SIGSTOP);
        try {
            while (child.isAlive() && !allStopped(pid))
                Thread.onSpinWait();
            return child.isAlive() ? procField(pid, "smaps_rollup", "Pss_Shmem") : -1;
        } catch (IllegalStateException ended) {
            return -1;
        } finally {
            signal(child, SIGCONT);
        }
    }

    private static long value(String output, String key) {
        Matcher m = Pattern.compile(key + " (\\d+)").matcher(output);
        assertThat(m.find()).as(key + " in:\n" + output).isTrue();
        return Long.parseLong(m.group(1));
    }

    /** What a child run showed: its output, and the worst Pss_Shmem growth over its baseline with it stopped. */
    private record Run(String output, long worst, long samples) {}

    private static Run runChild(String mode) throws Exception {
        Process child = ChildJvm.start(HostBudgetRssTest.class, List.of("-Xmx256m"), mode);
        try {
            var lines = new java.io.BufferedReader(new java.io.InputStreamReader(child.getInputStream()));
            StringBuilder out = new StringBuilder();
            String first = lines.readLine();
            assertThat(first).as("the child's first line").isEqualTo("READY");
            long baseline = stoppedShmemPss(child);
            Thread reader = Thread.ofPlatform().daemon().start(() -> {
                try {
                    for (String line; (line = lines.readLine()) != null; )
                        synchronized (out) {
                            out.append(line).append('\n');
                        }
                } catch (IOException ignored) {
                    // the child ended; what it printed is in `out`
                }
            });
            child.getOutputStream().write('\n');
            child.getOutputStream().flush();
            long worst = 0;
            long worstSetUp = 0;
            long samples = 0;
            long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(180);
            for (long pss; (pss = stoppedShmemPss(child)) >= 0; samples++) {
                boolean rounds;
                synchronized (out) {
                    rounds = out.indexOf("ROUNDS") >= 0;
                }
                if (rounds)
                    worst = Math.max(worst, pss - baseline);
                else
                    worstSetUp = Math.max(worstSetUp, pss - baseline);
                assertThat(System.nanoTime()).as("child still running after 180 s").isLessThan(deadline);
                Thread.sleep(0, 500_000);
            }
            assertThat(child.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
            reader.join();
            String output;
            synchronized (out) {
                output = out.toString();
            }
            System.out.println(output);
            System.out.println(mode + ": WORST_SHMEM " + worst + " (budget + " + (worst - BUDGET) / (double) BLOCK
                    + " blocks), setting up " + worstSetUp + " (budget + " + (worstSetUp - BUDGET) / (double) BLOCK
                    + " blocks), over " + samples + " samples");
            assertThat(child.exitValue()).as(output).isZero();
            assertThat(output).contains("MODEL OK");
            assertThat(samples).as("samples taken while the child worked").isGreaterThan(20);
            return new Run(output, Math.max(worst, worstSetUp), samples);
        } finally {
            child.destroyForcibly().waitFor();
        }
    }

    @Test
    void aWorkingSetThreeTimesTheHostBudgetStaysWithinABlockPerThreadOfIt() throws Exception {
        Run run = runChild("arrays");
        // The engine gives pages back before it reserves new ones, at every fault: beyond the budget the heap holds at
        // most the block each thread's fault is bringing home.
        assertThat(run.worst()).as(run.output()).isLessThanOrEqualTo(BUDGET + BLOCKS_IN_FLIGHT * THREADS * BLOCK);
        long workingSet = (long) THREADS * ARRAYS_PER_THREAD * MIB;
        assertThat(value(run.output(), "RECLAIMED_METER")).as(run.output()).isGreaterThanOrEqualTo(workingSet - BUDGET)
                .isEqualTo(value(run.output(), "RECLAIMED_STATS"));
        assertThat(run.output()).containsPattern("JFR_RECLAIM \\{.*budget=\\d+");
    }

    @Test
    void oneArrayThreeTimesTheHostBudgetReadByFaultsStaysWithinABlockOfIt() throws Exception {
        Run run = runChild("one");
        // Only the array's own pages can make room: those it read before, behind the faults.
        assertThat(run.worst()).as(run.output()).isLessThanOrEqualTo(BUDGET + BLOCKS_IN_FLIGHT * BLOCK);
    }
}
