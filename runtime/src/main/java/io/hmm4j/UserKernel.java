package io.hmm4j;

import io.hmm4j.spi.Device;
import io.hmm4j.spi.Kernel;
import io.hmm4j.spi.KernelSource;
import java.util.concurrent.ConcurrentHashMap;

/** A user kernel loaded into a heap; built for each device on first launch there. */
public final class UserKernel {

    private final KernelSource source;
    private final ConcurrentHashMap<Integer, Kernel> perDevice = new ConcurrentHashMap<>();

    UserKernel(KernelSource source) {
        this.source = source;
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
