package io.hmm4j.backend.emulated;

import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.Device;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/** An opened emulated backend with one or more emulated devices. */
public final class EmulatedBackend implements Backend {

    public static final long DEFAULT_CAPACITY = 1L << 30;

    private final List<EmulatedDevice> devices;
    private final AtomicBoolean closed = new AtomicBoolean();

    EmulatedBackend(BackendConfig config) {
        int count = config.getInt("devices", 1);
        if (count < 1 || count > 64)
            throw new IllegalArgumentException("setting devices must be in [1, 64]: " + count);
        long capacity = config.getLong("capacity", DEFAULT_CAPACITY);
        long latency = config.getLong("latency.ns", 0);
        long bandwidth = config.getLong("bandwidth", 0);
        long kernelBandwidth = config.getLong("kernel.bandwidth", 0);
        boolean overlap = config.getBoolean("overlap", true);
        // Device to device (a block only another device holds): a bus of its own, by default the same price.
        long peerLatency = config.getLong("peer.latency.ns", latency);
        long peerBandwidth = config.getLong("peer.bandwidth", bandwidth);
        if (capacity <= 0)
            throw new IllegalArgumentException("setting capacity must be > 0: " + capacity);
        if (peerLatency < 0 || peerBandwidth < 0)
            throw new IllegalArgumentException("settings peer.latency.ns and peer.bandwidth must be >= 0: "
                    + peerLatency + ", " + peerBandwidth);
        List<EmulatedDevice> list = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            EmulatedDevice device = new EmulatedDevice(i, capacity, latency, bandwidth, kernelBandwidth, overlap);
            device.copyEngine().emulatedPeer(peerLatency, peerBandwidth);
            list.add(device);
        }
        this.devices = List.copyOf(list);
    }

    @Override
    public String name() {
        return EmulatedBackendProvider.NAME;
    }

    @Override
    public List<Device> devices() {
        return List.copyOf(devices);
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true))
            devices.forEach(EmulatedDevice::close);
    }
}
