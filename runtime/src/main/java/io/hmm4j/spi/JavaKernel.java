package io.hmm4j.spi;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A kernel written in Java, run by the emulated backend over device memory. Buffers arrive as segments of
 * (emulated) device memory, scalars as boxed numbers, in launch order.
 */
@FunctionalInterface
public interface JavaKernel {

    void run(long globalSize, Arguments arguments);

    /**
     * The launch's arguments, read by position. A scalar is read with the accessor of its own type
     * ({@code intValue} for an {@code Integer}, ...), as OpenCL and CUDA pass it with that C type; another accessor
     * throws an {@link IllegalArgumentException} rather than convert it.
     */
    interface Arguments {
        /** The device memory of buffer argument {@code index}. */
        MemorySegment buffer(int index);

        int intValue(int index);

        long longValue(int index);

        float floatValue(int index);

        double doubleValue(int index);

        /** All arguments, for kernels that inspect them generically. */
        List<KernelArgument> all();
    }
}
