package io.hmm4j.backend.emulated;

import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.BackendProvider;
import io.hmm4j.spi.NativeCopyEngine;

/**
 * The emulated backend, available wherever the native engine loads. Settings ({@code hmm4j.emulated.<key>} or
 * the heap builder's {@code setting}): {@code devices} (default 1), {@code capacity} in bytes (default 1 GiB),
 * {@code latency.ns} per copy and {@code bandwidth} in bytes per second (default 0: memcpy speed) to imitate PCIe,
 * {@code kernel.bandwidth} in bytes per second (default 0: as fast as the C body runs): the least time a built-in
 * kernel takes for the bytes it reads and writes, and {@code overlap} (default true): built-in kernels and copies to
 * the device enqueued by launches run on the device's own native engines, so a launch's copies overlap the kernel
 * before it; false runs the same copies and kernels one after the other in the calling thread.
 */
public final class EmulatedBackendProvider implements BackendProvider {

    public static final String NAME = "emulated";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return 100;
    }

    @Override
    public boolean isAvailable() {
        return NativeCopyEngine.engineAvailable();
    }

    @Override
    public String unavailabilityCause() {
        return NativeCopyEngine.engineUnavailabilityCause();
    }

    @Override
    public Backend open(BackendConfig config) {
        if (!isAvailable())
            throw new IllegalStateException("emulated backend is not available: " + unavailabilityCause());
        return new EmulatedBackend(config);
    }
}
