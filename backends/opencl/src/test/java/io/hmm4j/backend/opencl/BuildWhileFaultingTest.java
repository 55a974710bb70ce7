package io.hmm4j.backend.opencl;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.IntArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.UserKernel;
import io.hmm4j.spi.KernelSource;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PoCL's LLVM installs a SIGSEGV handler of its own while it builds a program (non-chaining, SA_RESETHAND).
 * Left in front, a thread faulting an hmm4j array meanwhile kills the process, and the handler deletes the
 * compiler's temp files so overlapping builds fail. Threads fault arrays while other threads build distinct
 * kernels; in a child JVM, because the symptom is the process dying.
 */
class BuildWhileFaultingTest {

    private static final int FAULTING_THREADS = 3;
    private static final int BUILDING_THREADS = 2;
    private static final int KERNELS_PER_BUILDER = 12;
    private static final int ELEMENTS = 16 * 1024; // 16 blocks of 4 KiB

    /** Runs in the child JVM: prints one line per failure and a summary. */
    public static void main(String[] args) throws Exception {
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        AtomicBoolean building = new AtomicBoolean(true);
        AtomicLong faultRounds = new AtomicLong();
        try (ManagedHeap heap = ManagedHeap.builder().backend("opencl").setting("placement", "migrate")
                .blockSize(4096).build()) {
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < FAULTING_THREADS; t++) {
                FloatArray values = heap.allocateFloats(ELEMENTS);
                threads.add(Thread.ofPlatform().start(() -> {
                    for (int round = 0; building.get() && failures.isEmpty(); round++) {
                        // FILL is write-only: every block ends DEVICE, so each read below faults.
                        heap.launch(BuiltinKernel.FILL, ELEMENTS, Arg.write(values), Arg.of((float) round),
                                Arg.of((long) ELEMENTS)).await();
                        for (int i = 0; i < ELEMENTS; i += 512) {
                            if (values.get(i) != round)
                                failures.add("read " + values.get(i) + " at " + i + ", wrote " + round);
                        }
                        faultRounds.incrementAndGet();
                    }
                }));
            }
            List<Thread> builders = new ArrayList<>();
            for (int t = 0; t < BUILDING_THREADS; t++) {
                int builder = t;
                IntArray target = heap.allocateInts(1024);
                builders.add(Thread.ofPlatform().start(() -> {
                    for (int k = 0; k < KERNELS_PER_BUILDER; k++) {
                        int amount = builder * 1000 + k;
                        String name = "add_" + builder + "_" + k;
                        UserKernel kernel = heap.load(KernelSource.openCl(name, "__kernel void " + name
                                + "(__global int *x) { x[get_global_id(0)] = " + amount + "; }"));
                        try {
                            heap.launch(kernel, target.length(), Arg.write(target)).await();
                            if (target.get(7) != amount)
                                failures.add(name + " wrote " + target.get(7) + ", expected " + amount);
                        } catch (RuntimeException e) {
                            failures.add(name + ": " + e);
                        }
                    }
                }));
            }
            for (Thread b : builders)
                b.join();
            building.set(false);
            for (Thread t : threads)
                t.join();
        }
        failures.forEach(f -> System.out.println("FAILURE " + f));
        System.out.println("FAULT ROUNDS " + faultRounds.get());
        System.out.println("DONE " + failures.size());
    }

    @Test
    void buildsAndFaultsOverlapWithoutCrashOrFailedBuild(@TempDir Path dir) throws Exception {
        OpenClBackendProvider provider = new OpenClBackendProvider();
        Assumptions.assumeTrue(provider.isAvailable(), () -> "OpenCL not available: " + provider.unavailabilityCause());
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        ProcessBuilder child = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), BuildWhileFaultingTest.class.getName()))
                .redirectErrorStream(true).redirectOutput(dir.resolve("out.txt").toFile());
        // PoCL's kernel cache would answer repeated runs without compiling: every build must run LLVM.
        child.environment().put("POCL_KERNEL_CACHE", "0");
        Process p = child.start();
        boolean exited = p.waitFor(120, TimeUnit.SECONDS);
        if (!exited)
            p.destroyForcibly().waitFor();
        String out = Files.readString(dir.resolve("out.txt"), StandardCharsets.UTF_8);
        assertThat(exited).as(out).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).as(out).contains("DONE 0").doesNotContain("FAILURE");
    }
}
