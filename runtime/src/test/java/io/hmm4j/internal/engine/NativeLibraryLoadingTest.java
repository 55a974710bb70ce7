package io.hmm4j.internal.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A missing or wrong library gives a clear error naming the fix, in a fresh JVM each time. */
class NativeLibraryLoadingTest {

    /** Runs in the child JVM: prints the loader's verdict. */
    public static void main(String[] args) {
        System.out.println(NativeLibrary.isAvailable() ? "AVAILABLE" : "UNAVAILABLE: " + NativeLibrary.unavailabilityCause().getMessage());
    }

    private static String runChild(String property) throws IOException, InterruptedException {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", property, "-cp",
                System.getProperty("java.class.path"), NativeLibraryLoadingTest.class.getName()))
                .redirectErrorStream(true).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }

    @Test
    void missingExplicitPathIsReported() throws Exception {
        String out = runChild("-Dhmm4j.native.path=/nonexistent/libhmm4j.so");
        assertThat(out).contains("UNAVAILABLE").contains("/nonexistent/libhmm4j.so");
    }

    @Test
    void aLibraryThatIsNotTheEngineIsReported(@TempDir Path dir) throws Exception {
        Path fake = dir.resolve("libfake.so");
        Files.copy(Path.of("/lib/x86_64-linux-gnu/libm.so.6"), fake);
        String out = runChild("-Dhmm4j.native.path=" + fake);
        assertThat(out).contains("UNAVAILABLE").contains("not an hmm4j engine");
    }

    /** A library built from other sources (older bindings) would be called through changed signatures. */
    @Test
    void aLibraryOfAnotherAbiVersionIsRefused(@TempDir Path dir) throws Exception {
        Path source = dir.resolve("old.c");
        Files.writeString(source, "int hmm4j_abi_version(void) { return " + (NativeLibrary.EXPECTED_ABI_VERSION - 1)
                + "; }\n");
        Path old = dir.resolve("libhmm4j-old.so");
        Process gcc = new ProcessBuilder("gcc", "-shared", "-fPIC", "-o", old.toString(), source.toString())
                .redirectErrorStream(true).start();
        assertThat(gcc.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(gcc.exitValue()).as(new String(gcc.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isZero();
        String out = runChild("-Dhmm4j.native.path=" + old);
        assertThat(out).contains("UNAVAILABLE").contains("ABI version " + (NativeLibrary.EXPECTED_ABI_VERSION - 1));
    }

    @Test
    void aFileOfTheWrongFormatIsReported(@TempDir Path dir) throws Exception {
        Path junk = dir.resolve("libjunk.so");
        Files.writeString(junk, "not an ELF file");
        String out = runChild("-Dhmm4j.native.path=" + junk);
        assertThat(out).contains("UNAVAILABLE").contains(junk.toString());
    }

    @Test
    void theBundledLibraryLoads() throws Exception {
        assertThat(runChild("-Dhmm4j.unused=1")).contains("AVAILABLE").doesNotContain("UNAVAILABLE");
    }
}
