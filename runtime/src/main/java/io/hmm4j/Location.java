package io.hmm4j;

/** Where to place an array: the host, or one of the heap's devices by index. */
public record Location(int deviceIndex) {

    /** Host memory. */
    public static final Location HOST = new Location(-1);

    public Location {
        if (deviceIndex < -1)
            throw new IllegalArgumentException("device index must be >= 0: " + deviceIndex);
    }

    /** Device {@code index} of the heap's backend. */
    public static Location device(int index) {
        if (index < 0)
            throw new IllegalArgumentException("device index must be >= 0: " + index);
        return new Location(index);
    }

    public boolean isHost() {
        return deviceIndex == -1;
    }

    @Override
    public String toString() {
        return isHost() ? "host" : "device " + deviceIndex;
    }
}
