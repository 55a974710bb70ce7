package io.hmm4j.spi;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A kernel written in Java, run by the emulated backend over device memory. Buffers arrive as segments of
 * (emulated) device memory, scalars as boxed numbers, in launch order. Its work items are
 * {@code [arguments.globalOffset(), arguments.globalOffset() + globalSize)}: a kernel that ignores the offset runs
 * right only in launches without one.
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

        /**
         * The first work item's global id ({@link io.hmm4j.ManagedHeap#launchOn(int, io.hmm4j.UserKernel, long, long,
         * io.hmm4j.Arg...)}); 0 unless the launch named one. Buffers are still whole arrays: only the blocks covering
         * the ranges the launch named are valid on the device.
         */
        default long globalOffset() {
            return 0;
        }

        /** All arguments, for kernels that inspect them generically. */
        List<KernelArgument> all();
    }
}
