package io.hmm4j;

/** An allocation would take a memory group over its limit; nothing was allocated. */
public class MemoryLimitExceededException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String group;
    private final long limit;

    public MemoryLimitExceededException(String message, String group, long limit) {
        super(message);
        this.group = group;
        this.limit = limit;
    }

    public String group() {
        return group;
    }

    public long limit() {
        return limit;
    }
}
