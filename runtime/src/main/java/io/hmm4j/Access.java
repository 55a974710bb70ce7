package io.hmm4j;

/** How a kernel uses an array argument; decides what migrates before a launch and what state follows it. */
public enum Access {
    /** The kernel only reads: stale blocks are copied to the device, the host keeps a read-only copy (SHARED). */
    READ,
    /** The kernel overwrites the whole argument: nothing is copied in, the blocks become DEVICE. */
    WRITE,
    /** The kernel reads and writes: stale blocks are copied in, the blocks become DEVICE. */
    READ_WRITE;

    public boolean reads() {
        return this != WRITE;
    }

    public boolean writes() {
        return this != READ;
    }
}
