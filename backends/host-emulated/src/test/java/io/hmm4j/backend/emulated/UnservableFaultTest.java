package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.NativeCopyEngine;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A host access whose block the device cannot give back (a dead GPU) must not crash the JVM: the engine reports
 * it as the SIGBUS of a truncated mapping, which the JVM turns into an InternalError. Runs in a child JVM so that
 * a regression shows up as a failed test, not a dead test run.
 */
class UnservableFaultTest {

    public static void main(String[] args) throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").userfaultfd(args.length > 0 ? args[0] : "off")
                .build()) {
            FloatArray a = heap.allocateFloats(1 << 16);
            heap.launch(BuiltinKernel.FILL, a.length(), Arg.write(a), Arg.of(1f), Arg.of(a.length())).await();
            heap.devices().get(0).copyEngine().inject(NativeCopyEngine.Injection.DEVICE_UNREADABLE, 0);
            try {
                float v = a.get(100);
                System.out.println("READ " + v);
            } catch (InternalError e) {
                System.out.println("INTERNAL_ERROR " + e.getMessage());
            }
            // A system call into it fails the call, as for any unservable access (userfaultfd's path too).
            try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(Path.of("/proc/self/stat"))) {
                channel.read(a.segment().asSlice(4096, 64).asByteBuffer());
                System.out.println("SYSCALL READ");
            } catch (java.io.IOException e) {
                System.out.println("SYSCALL FAILED " + e.getMessage());
            }
            // The JVM keeps working after it.
            System.out.println("ALIVE " + heap.stats().copyErrors());
        }
    }

    @Test
    void unservableFaultBecomesAnInternalErrorNotACrash() throws Exception {
        assertUnservableFaultIsReported("off");
    }

    @Test
    void unservableFaultOnAUserfaultfdHeapIsReportedToo() throws Exception {
        String cause = io.hmm4j.RuntimeInfo.userfaultfdUnavailabilityCause();
        org.junit.jupiter.api.Assumptions.assumeTrue(cause == null, () -> "userfaultfd not available: " + cause);
        assertUnservableFaultIsReported("on");
    }

    private static void assertUnservableFaultIsReported(String userfaultfd) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), UnservableFaultTest.class.getName(), userfaultfd))
                .redirectErrorStream(true).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(out).as(out).contains("INTERNAL_ERROR").contains("SYSCALL FAILED Bad address").contains("ALIVE");
        assertThat(p.exitValue()).as(out).isZero();
    }
}
