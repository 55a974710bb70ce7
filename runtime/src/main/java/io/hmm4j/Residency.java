package io.hmm4j;

import java.util.Arrays;

/**
 * A snapshot of where each block of one array is valid.
 *
 * @param blockSize bytes per block
 * @param deviceId the device the array is bound to, or {@code null} when it has no device memory
 */
public record Residency(long blockSize, String deviceId, BlockState[] states) {

    public Residency {
        states = states.clone();
    }

    public int blockCount() {
        return states.length;
    }

    public BlockState state(int block) {
        return states[block];
    }

    @Override
    public BlockState[] states() {
        return states.clone();
    }

    public long count(BlockState state) {
        return Arrays.stream(states).filter(s -> s == state).count();
    }

    public boolean all(BlockState state) {
        return count(state) == states.length;
    }

    /** One letter per block: H (host), S (shared), D (device). */
    public String picture() {
        StringBuilder b = new StringBuilder(states.length);
        for (BlockState s : states)
            b.append(s.name().charAt(0));
        return b.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Residency r && blockSize == r.blockSize && java.util.Objects.equals(deviceId, r.deviceId)
                && Arrays.equals(states, r.states);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(states) * 31 + Long.hashCode(blockSize);
    }

    @Override
    public String toString() {
        return "Residency[" + (deviceId == null ? "unbound" : deviceId) + " " + picture() + "]";
    }
}
