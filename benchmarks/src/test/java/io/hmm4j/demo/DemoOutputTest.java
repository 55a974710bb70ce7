package io.hmm4j.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The demo as a user meets it in a log or a CI job: a child JVM whose stdout is a pipe, not a terminal. Its output
 * must be a few plain lines (no carriage-return animation) and must lead with the answer: faster or slower than
 * copy-everything, and how many bytes did not move. The grids are small so that each child runs in seconds.
 */
class DemoOutputTest {

    @TempDir
    Path dir;

    /**
     * Runs {@code mainClass} in a child JVM on this test's class path; stdout and stderr together.
     *
     * @param jvmOptions e.g. {@code -Dkey=value}, before the class name
     */
    static String runChild(Map<String, String> environment, List<String> jvmOptions, Class<?> mainClass,
                           String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path")));
        command.addAll(jvmOptions);
        command.add(mainClass.getName());
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        // The child picks its backend as a user's run would: only what the test names, not the parent's choice.
        builder.environment().remove("HMM4J_BACKEND");
        builder.environment().putAll(environment);
        Process process = builder.start();
        // Read before waiting: a child blocked on a full pipe would never exit.
        String out = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).as(out).isTrue();
        assertThat(process.exitValue()).as(out).isZero();
        return out;
    }

    private String demo(Map<String, String> environment) throws IOException, InterruptedException {
        return runChild(environment, List.of("-Dhmm4j.demo.out=" + dir.resolve("residency.svg")), Demo.class,
                "256", "200");
    }

    private static void assertPlainLinesWithTheAnswer(String out) {
        assertThat(out).as(out).doesNotContain("\r");
        assertThat(out.lines().filter(line -> line.contains("step ")).count()).as(out).isLessThan(20);
        assertThat(out).as(out).containsPattern("\\d+\\.\\dx (faster|slower) than copy-everything")
                .contains("did not move")
                .containsPattern("host (read|write) faults +[1-9]");
    }

    @Test
    void demoOnTheAutomaticBackendMovesBytesByFaultsAndLeadsWithTheAnswer() throws Exception {
        String out = demo(Map.of());

        assertPlainLinesWithTheAnswer(out);
        // On a device that shares host memory (PoCL) nothing would move: the demo says so and shows that run beside.
        if (out.contains("shares host memory"))
            assertThat(out).as(out).contains("zero-copy");
    }

    @Test
    void demoOnTheEmulatedBackendMovesBytesByFaultsAndLeadsWithTheAnswer() throws Exception {
        String out = demo(Map.of("HMM4J_BACKEND", "emulated"));

        assertPlainLinesWithTheAnswer(out);
        assertThat(out).as(out).contains("emulated:0").doesNotContain("zero-copy");
    }
}
