package io.hmm4j;

/** Why bytes moved; the {@code cause} tag of the migration metrics. */
public enum MigrationCause {
    /** A host access faulted on a block that was not valid on the host. */
    FAULT,
    /** A kernel launch needed the block on the device. */
    LAUNCH,
    /** An explicit prefetch, or blocks pulled ahead of a sequential fault walk. */
    PREFETCH,
    /** The device budget was full and the block was evicted to the host (or evacuated). */
    EVICTION;

    /** The engine's {@code enum hmm4j_cause} code. */
    public int code() {
        return ordinal();
    }
}
