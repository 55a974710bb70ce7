package io.hmm4j.backend.opencl;

import io.hmm4j.conformance.MultiDeviceConformanceTest;
import java.util.Map;

/**
 * The multi-device kit on OpenCL with placement=migrate: device to device goes through host memory. PoCL has one
 * device, so every case skips saying so; a host with several OpenCL devices runs them.
 */
class OpenClMultiDeviceConformanceTest extends MultiDeviceConformanceTest {

    @Override
    protected String backend() {
        return "opencl";
    }

    @Override
    protected Map<String, String> settings(int devices) {
        return Map.of("placement", "migrate");
    }

    @Override
    protected String unavailabilityCause() {
        return new OpenClBackendProvider().unavailabilityCause();
    }
}
