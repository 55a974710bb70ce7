package io.hmm4j.backend.emulated;

import io.hmm4j.conformance.RangeLaunchConformanceTest;
import java.util.Map;

/**
 * Range launches on emulated devices, built-ins queued on each device's own compute engine (overlap, the default),
 * kernels at a modelled 200 MB/s so that one queued behind another is still waiting when the host looks.
 */
class EmulatedRangeLaunchConformanceTest extends RangeLaunchConformanceTest {

    @Override
    protected String backend() {
        return "emulated";
    }

    @Override
    protected Map<String, String> settings(int devices) {
        return Map.of("devices", String.valueOf(devices), "kernel.bandwidth", "200000000");
    }

    @Override
    protected String unavailabilityCause() {
        EmulatedBackendProvider provider = new EmulatedBackendProvider();
        return provider.isAvailable() ? null : provider.unavailabilityCause();
    }
}
