package io.hmm4j.spi;

/** A user kernel failed to build; the message includes the compiler's log. */
public class KernelBuildException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String buildLog;

    public KernelBuildException(String message, String buildLog) {
        super(message + (buildLog == null || buildLog.isBlank() ? "" : "\n--- build log ---\n" + buildLog));
        this.buildLog = buildLog;
    }

    public String buildLog() {
        return buildLog;
    }
}
