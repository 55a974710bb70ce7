package io.hmm4j;

import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Set;

/**
 * A snapshot of where each block of one array is valid: on the host (its {@link BlockState}, the host's view) and on
 * which of the heap's devices. A block is valid on a set of places, like a cache line shared by several cores: HOST
 * blocks only on the host, SHARED blocks on the host and at least one device, DEVICE blocks only on devices (one or
 * more: a kernel's write leaves one; reading it on another device adds a copy there).
 *
 * @param blockSize bytes per block
 * @param states the host's view of each block
 * @param deviceMasks per block, bit {@code i} set when device {@code i} of the heap ({@link Location#device(int)})
 *     holds a valid copy
 * @param devices the heap's device indexes the array has device memory on now, in ascending order (a device may hold
 *     memory for the array and no valid block)
 */
public record Residency(long blockSize, BlockState[] states, long[] deviceMasks, int[] devices) {

    public Residency {
        states = states.clone();
        deviceMasks = deviceMasks.clone();
        devices = devices.clone();
        if (deviceMasks.length != states.length)
            throw new IllegalArgumentException("one device mask per block: " + deviceMasks.length + " masks for "
                    + states.length + " blocks");
    }

    public int blockCount() {
        return states.length;
    }

    /** The host's view of {@code block}: HOST (valid and writable), SHARED (valid, read-only) or DEVICE (stale). */
    public BlockState state(int block) {
        return states[block];
    }

    @Override
    public BlockState[] states() {
        return states.clone();
    }

    @Override
    public long[] deviceMasks() {
        return deviceMasks.clone();
    }

    @Override
    public int[] devices() {
        return devices.clone();
    }

    /** Bit {@code i} set when device {@code i} holds a valid copy of {@code block}. */
    public long deviceMask(int block) {
        return deviceMasks[block];
    }

    /** Whether {@code block} is valid at {@code location}: the host unless DEVICE, a device when its bit is set. */
    public boolean isValidOn(int block, Location location) {
        Objects.requireNonNull(location, "location");
        if (location.isHost())
            return states[block] != BlockState.DEVICE;
        return location.deviceIndex() < Long.SIZE && (deviceMasks[block] & (1L << location.deviceIndex())) != 0;
    }

    /** Every place {@code block} is valid, the host first, then devices by index. */
    public Set<Location> locations(int block) {
        Set<Location> where = new LinkedHashSet<>();
        if (states[block] != BlockState.DEVICE)
            where.add(Location.HOST);
        long mask = deviceMasks[block];
        while (mask != 0) {
            where.add(Location.device(Long.numberOfTrailingZeros(mask)));
            mask &= mask - 1;
        }
        return where;
    }

    public long count(BlockState state) {
        return Arrays.stream(states).filter(s -> s == state).count();
    }

    /** Blocks valid at {@code location}. */
    public long countValidOn(Location location) {
        long n = 0;
        for (int b = 0; b < states.length; b++)
            if (isValidOn(b, location))
                n++;
        return n;
    }

    public boolean all(BlockState state) {
        return count(state) == states.length;
    }

    /** One letter per block, the host's view: H (host), S (shared), D (device). */
    public String picture() {
        StringBuilder b = new StringBuilder(states.length);
        for (BlockState s : states)
            b.append(s.name().charAt(0));
        return b.toString();
    }

    /**
     * The host's view and the devices per block, space-separated: the letter of {@link #picture()} followed by the
     * indexes of the devices holding a valid copy, e.g. {@code "H S0 D01 D1"}.
     */
    public String devicePicture() {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < states.length; i++) {
            if (i > 0)
                b.append(' ');
            b.append(states[i].name().charAt(0));
            long mask = deviceMasks[i];
            while (mask != 0) {
                int d = Long.numberOfTrailingZeros(mask);
                b.append(d < 10 ? String.valueOf(d) : "(" + d + ")");
                mask &= mask - 1;
            }
        }
        return b.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Residency r && blockSize == r.blockSize && Arrays.equals(states, r.states)
                && Arrays.equals(deviceMasks, r.deviceMasks) && Arrays.equals(devices, r.devices);
    }

    @Override
    public int hashCode() {
        return (Arrays.hashCode(states) * 31 + Arrays.hashCode(deviceMasks)) * 31 + Long.hashCode(blockSize);
    }

    @Override
    public String toString() {
        return "Residency[devices " + Arrays.toString(devices) + " " + devicePicture() + "]";
    }
}
