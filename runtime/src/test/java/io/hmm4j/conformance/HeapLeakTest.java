package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.UserKernel;
import io.hmm4j.spi.KernelSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Every native object a heap creates is released when it closes. A child JVM opens and closes many heaps, each
 * loading and launching a user kernel and a built-in, and reports how much its resident memory (VmRSS) and its
 * open file descriptors grew between a warm-up and the end; a backend's test module subclasses this kit.
 *
 * <p>The child runs with a fixed, pre-touched Java heap, so Java heap growth does not count as RSS growth, and
 * with C1 only, whose code settles during the warm-up (with C2, late compilations added up to 10 MB on PoCL);
 * what remains is native memory (driver objects, mappings). Measured here on PoCL: under 1 MB after the fix,
 * 64 MB before it (OpenCL user kernels never released). The bound is
 * {@link #RSS_BOUND_KB} for {@link #HEAPS} heaps: a leak of a few hundred KiB per heap fails it, JIT noise does not.
 */
public abstract class HeapLeakTest {

    /** Heaps opened and closed after the warm-up. */
    protected static final int HEAPS = 60;
    private static final int WARM_UP_HEAPS = 30;
    protected static final long RSS_BOUND_KB = 16 * 1024;
    private static final int FD_BOUND = 3;
    private static final int FLOATS = 4096;

    protected abstract String backend();

    protected Map<String, String> settings() {
        return Map.of();
    }

    /** {@code null} when the backend can run here, else why not (the skip reason). */
    protected abstract String unavailabilityCause();

    /** A user kernel for this backend that writes every one of its array's floats. */
    protected abstract KernelSource userKernel();

    /** The arguments of {@link #userKernel()} over {@code array} of {@code n} floats. */
    protected abstract Arg[] userKernelArguments(FloatArray array, int n);

    @Test
    void closingHeapsReleasesTheirNativeObjects() throws Exception {
        String cause = unavailabilityCause();
        Assumptions.assumeTrue(cause == null, () -> backend() + " not available: " + cause);
        ChildJvm.Result result = ChildJvm.run(HeapLeakTest.class,
                List.of("-Xms96m", "-Xmx96m", "-XX:+AlwaysPreTouch", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"), 300, getClass().getName());
        assertThat(result.exitCode()).as(result.output()).isZero();
        Matcher growth = Pattern.compile("GROWTH rss_kb=(-?\\d+) fds=(-?\\d+)").matcher(result.output());
        assertThat(growth.find()).as(result.output()).isTrue();
        System.out.println(getClass().getSimpleName() + ", " + HEAPS + " heaps after " + WARM_UP_HEAPS + " to warm up: "
                + result.output().strip().replace('\n', ';'));
        long rssKb = Long.parseLong(growth.group(1));
        int fds = Integer.parseInt(growth.group(2));
        assertThat(rssKb).as("RSS growth over %d heaps: %s", HEAPS, result.output()).isLessThan(RSS_BOUND_KB);
        assertThat(fds).as("fd growth over %d heaps: %s", HEAPS, result.output()).isLessThanOrEqualTo(FD_BOUND);
    }

    /** The child: {@code args[0]} names the subclass whose backend to churn. */
    public static void main(String[] args) throws Exception {
        var constructor = Class.forName(args[0]).asSubclass(HeapLeakTest.class).getDeclaredConstructor();
        constructor.setAccessible(true);
        HeapLeakTest kit = constructor.newInstance();
        for (int i = 0; i < WARM_UP_HEAPS; i++)
            kit.openUseAndClose();
        System.gc();
        long rssBefore = residentKb();
        long fdsBefore = openFds();
        for (int i = 0; i < HEAPS; i++)
            kit.openUseAndClose();
        System.gc();
        long rssAfter = residentKb();
        long fdsAfter = openFds();
        System.out.println("rss_kb " + rssBefore + " -> " + rssAfter + ", fds " + fdsBefore + " -> " + fdsAfter);
        System.out.println("GROWTH rss_kb=" + (rssAfter - rssBefore) + " fds=" + (fdsAfter - fdsBefore));
    }

    private void openUseAndClose() {
        ManagedHeap.Builder builder = ManagedHeap.builder().backend(backend()).blockSize(64 * 1024);
        settings().forEach(builder::setting);
        try (ManagedHeap heap = builder.build()) {
            FloatArray a = heap.allocateFloats(FLOATS);
            UserKernel kernel = heap.load(userKernel());
            heap.launch(kernel, FLOATS, userKernelArguments(a, FLOATS)).await();
            FloatArray out = heap.allocateFloats(1);
            heap.launch(BuiltinKernel.SUM, FLOATS, Arg.read(a), Arg.write(out), Arg.of((long) FLOATS)).await();
            if (out.get(0) == 0)
                throw new AssertionError("the user kernel wrote nothing on " + heap.devices().getFirst());
        }
    }

    private static long residentKb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status")))
            if (line.startsWith("VmRSS:"))
                return Long.parseLong(line.replaceAll("\\D+", ""));
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }

    private static long openFds() throws IOException {
        try (var fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.count();
        }
    }
}
