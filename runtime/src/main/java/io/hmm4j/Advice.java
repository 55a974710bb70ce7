package io.hmm4j;

import java.util.Objects;

/**
 * A hint about how blocks of an array will be used, given with {@link ManagedHeap#advise} and taken back with
 * {@link ManagedHeap#unadvise}; modelled on {@code cudaMemAdvise}. Advice never changes what an array holds, only
 * where its blocks are kept and when they move. What each one does here, where devices cannot fault (README, "Memory
 * advice"):
 *
 * <ul>
 *   <li>{@link #readMostly()}: the blocks are replicated on every device that reads them, and an explicit
 *       {@link ManagedHeap#migrate} of them adds a copy at its destination instead of moving them (as a
 *       {@code cudaMemPrefetchAsync} of read-mostly memory does); a write, host or device, still leaves one copy.</li>
 *   <li>{@link #preferredLocation(Location)}: on a device, eviction from that device takes the array last; on the host,
 *       blocks a kernel wrote are copied home after the kernel (they end SHARED), so host reads do not fault.</li>
 *   <li>{@link #accessedBy(int)}: a device keeps a valid copy: copied there when advised and again after every launch
 *       that used the array, and eviction from that device takes the array last.</li>
 *   <li>{@link #none()}: with {@link ManagedHeap#advise}, clears every advice of the range.</li>
 * </ul>
 */
public sealed interface Advice {

    /** Replicate on every device that reads; see {@link Advice}. */
    record ReadMostly() implements Advice {
        @Override
        public String toString() {
            return "READ_MOSTLY";
        }
    }

    /** Keep the blocks at {@code location}; see {@link Advice}. Blocks have at most one preferred location. */
    record PreferredLocation(Location location) implements Advice {
        public PreferredLocation {
            Objects.requireNonNull(location, "location");
        }

        @Override
        public String toString() {
            return "PREFERRED_LOCATION(" + location + ")";
        }
    }

    /** Keep a valid copy on device {@code deviceIndex}; see {@link Advice}. */
    record AccessedBy(int deviceIndex) implements Advice {
        public AccessedBy {
            if (deviceIndex < 0)
                throw new IllegalArgumentException("device index must be >= 0: " + deviceIndex);
        }

        @Override
        public String toString() {
            return "ACCESSED_BY(device " + deviceIndex + ")";
        }
    }

    /** No advice: {@link ManagedHeap#advise} with it clears every advice of the range. */
    record None() implements Advice {
        @Override
        public String toString() {
            return "NONE";
        }
    }

    static Advice readMostly() {
        return new ReadMostly();
    }

    /** @throws NullPointerException if {@code location} is null */
    static Advice preferredLocation(Location location) {
        return new PreferredLocation(location);
    }

    /** @throws IllegalArgumentException if {@code deviceIndex < 0} */
    static Advice accessedBy(int deviceIndex) {
        return new AccessedBy(deviceIndex);
    }

    static Advice none() {
        return new None();
    }
}
