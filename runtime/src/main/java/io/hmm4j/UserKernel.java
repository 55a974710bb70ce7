package io.hmm4j;

import io.hmm4j.spi.Device;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelSource;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A user kernel loaded into a heap; built for each device of that heap on first launch there, and released with
 * the heap. Another heap refuses it ({@link IllegalArgumentException}): load the source there too.
 */
public final class UserKernel {

    private final ManagedHeap heap;
    private final KernelSource source;
    private final ConcurrentHashMap<Integer, Kernel> perDevice;
    /** The element-count argument of an element-wise kernel, {@link #NO_COUNT}, or {@link #NOT_ELEMENT_WISE}. */
    private final int countArgument;

    /** {@link #elementWise(int)} for a kernel that takes no count: it covers its global size. */
    public static final int NO_COUNT = -1;
    private static final int NOT_ELEMENT_WISE = -2;

    UserKernel(ManagedHeap heap, KernelSource source) {
        this(heap, source, new ConcurrentHashMap<>(), NOT_ELEMENT_WISE);
    }

    private UserKernel(ManagedHeap heap, KernelSource source, ConcurrentHashMap<Integer, Kernel> perDevice,
            int countArgument) {
        this.heap = heap;
        this.source = source;
        this.perDevice = perDevice;
        this.countArgument = countArgument;
    }

    /**
     * Declares the kernel element-wise, so that {@link ManagedHeap#launchTiled(UserKernel, long, long, Arg...)} may
     * stream it: work item {@code i} reads and writes only element {@code i} of each array argument, for
     * {@code i} below the global size (and below the count argument where it has one). A tile of elements
     * {@code [start, start + len)} then runs with every array argument starting at its element {@code start}, the
     * global size {@code len}, and the scalar argument at {@code countArgument} (an int or a long) set to
     * {@code len}. Returns a kernel with the declaration that shares this one's builds.
     *
     * @param countArgument the position of the element-count argument, or {@link #NO_COUNT}
     * @throws IllegalArgumentException if {@code countArgument < -1}
     */
    public UserKernel elementWise(int countArgument) {
        if (countArgument < NO_COUNT)
            throw new IllegalArgumentException("count argument must be a position >= 0 or NO_COUNT: " + countArgument);
        return new UserKernel(heap, source, perDevice, countArgument);
    }

    /** Whether {@link #elementWise(int)} declared it. */
    public boolean isElementWise() {
        return countArgument != NOT_ELEMENT_WISE;
    }

    /** The declared count argument's position, or {@link #NO_COUNT}; meaningful only if {@link #isElementWise()}. */
    int countArgument() {
        return countArgument;
    }

    /** The heap that loaded it, the only one it launches on. */
    ManagedHeap heap() {
        return heap;
    }

    public KernelSource source() {
        return source;
    }

    public String name() {
        return source.entryPoint();
    }

    Kernel on(Device device) {
        return perDevice.computeIfAbsent(device.index(), i -> device.load(source));
    }

    @Override
    public String toString() {
        return "UserKernel[" + source + "]";
    }
}
