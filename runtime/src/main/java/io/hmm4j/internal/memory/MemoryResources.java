package io.hmm4j.internal.memory;

/** Checks shared by every memory resource layer. */
final class MemoryResources {

    private MemoryResources() {}

    static void checkSize(long bytes) {
        if (bytes <= 0)
            throw new IllegalArgumentException("allocation size must be > 0: " + bytes);
    }

    static long alignUp(long value, long alignment) {
        long aligned = (value + alignment - 1) & -alignment;
        if (aligned < value)
            throw new IllegalArgumentException("size overflows when aligned: " + value);
        return aligned;
    }
}
