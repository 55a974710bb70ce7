package io.hmm4j.conformance;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs a class's {@code main} in a child JVM on this test's class path, for tests whose failure would be a crash
 * (or would leave the test JVM changed, as a leak does): a regression then shows up as a failed test.
 */
public final class ChildJvm {

    /** What the child printed (stdout and stderr together) and how it ended. */
    public record Result(int exitCode, String output) {}

    private ChildJvm() {}

    /**
     * @param jvmOptions options before the class name, e.g. {@code -Xmx64m}
     * @throws AssertionError if the child has not ended after {@code timeoutSeconds} (it is killed)
     */
    public static Result run(Class<?> main, List<String> jvmOptions, long timeoutSeconds, String... args)
            throws IOException, InterruptedException {
        List<String> command = command(main, jvmOptions, args);
        Path output = Files.createTempFile("hmm4j-child", ".log");
        try {
            // To a file, not a pipe: a child that prints a lot must not block on a full pipe while we wait for it.
            Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start();
            if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor();
                throw new AssertionError("child JVM " + main.getName() + " still running after " + timeoutSeconds
                        + " s:\n" + Files.readString(output, StandardCharsets.UTF_8));
            }
            return new Result(process.exitValue(), Files.readString(output, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(output);
        }
    }

    /**
     * Starts a child JVM that runs beside the test (two processes working together): its stdin and stdout are
     * pipes for the caller, its stderr goes to the test's. The caller ends it (a finally with
     * {@code destroyForcibly()}), so that a failed test leaves no process behind.
     */
    public static Process start(Class<?> main, List<String> jvmOptions, String... args) throws IOException {
        return new ProcessBuilder(command(main, jvmOptions, args)).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    private static List<String> command(Class<?> main, List<String> jvmOptions, String... args) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.add("--enable-native-access=ALL-UNNAMED");
        command.addAll(jvmOptions);
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(main.getName());
        command.addAll(List.of(args));
        return command;
    }
}
