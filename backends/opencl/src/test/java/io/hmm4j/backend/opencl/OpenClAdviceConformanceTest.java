package io.hmm4j.backend.opencl;

import io.hmm4j.conformance.AdviceConformanceTest;
import java.util.Map;

/**
 * The advice kit on OpenCL with placement=migrate (PoCL has one device: the cases that need two skip saying so;
 * device to device goes through host memory).
 */
class OpenClAdviceConformanceTest extends AdviceConformanceTest {

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
