package io.hmm4j;

/** Where the valid bytes of one block are (MSI-like). */
public enum BlockState {
    /** Host copy valid and writable; the device copy is absent or stale. */
    HOST,
    /** Both copies valid; host pages are read-only, a host write invalidates the device copy. */
    SHARED,
    /** Only the device copy is valid; any host access faults and migrates the block back. */
    DEVICE;

    private static final BlockState[] BY_CODE = values();

    /** The state for the engine's byte code ({@code enum hmm4j_block_state}). */
    public static BlockState ofCode(int code) {
        return BY_CODE[code];
    }
}
