package io.hmm4j.backend.emulated;

import io.hmm4j.conformance.MultiDeviceConformanceTest;
import java.util.Map;

class EmulatedMultiDeviceConformanceTest extends MultiDeviceConformanceTest {

    @Override
    protected String backend() {
        return "emulated";
    }

    @Override
    protected Map<String, String> settings(int devices) {
        return Map.of("devices", String.valueOf(devices));
    }

    @Override
    protected String unavailabilityCause() {
        EmulatedBackendProvider provider = new EmulatedBackendProvider();
        return provider.isAvailable() ? null : provider.unavailabilityCause();
    }
}
