package io.hmm4j.spi;

import io.hmm4j.Access;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/** One argument of a launch as the backend sees it: a buffer already placed for the kernel, or a scalar. */
public sealed interface KernelArgument {

    /**
     * An array argument.
     *
     * @param deviceAddress where the kernel finds it: a device address from {@link Device#memory()}, or the
     *     host address for a coherent device
     * @param byteSize the array's size in bytes
     * @param access how the kernel uses it
     * @param host the array's host view (for coherent devices, the memory the kernel uses)
     */
    record Buffer(long deviceAddress, long byteSize, Access access, MemorySegment host) implements KernelArgument {
        public Buffer {
            if (byteSize < 0)
                throw new IllegalArgumentException("byteSize must be >= 0: " + byteSize);
            Objects.requireNonNull(access, "access");
            Objects.requireNonNull(host, "host");
        }
    }

    /** A scalar: an Integer, Long, Float or Double, passed with that C type. */
    record Scalar(Number value) implements KernelArgument {
        public Scalar {
            if (!(value instanceof Integer || value instanceof Long || value instanceof Float || value instanceof Double))
                throw new IllegalArgumentException("scalar must be Integer, Long, Float or Double: "
                        + (value == null ? "null" : value.getClass().getName()));
        }
    }
}
