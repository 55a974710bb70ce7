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
    private final ConcurrentHashMap<Integer, Kernel> perDevice = new ConcurrentHashMap<>();

    UserKernel(ManagedHeap heap, KernelSource source) {
        this.heap = heap;
        this.source = source;
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
