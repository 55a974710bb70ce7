package io.hmm4j.backend.opencl;

import io.hmm4j.conformance.BackendConformanceTest;
import java.util.Map;

/** The conformance kit on OpenCL with placement=coherent (PoCL in CI). */
class OpenClCoherentConformanceTest extends BackendConformanceTest {

    @Override
    protected String backend() {
        return "opencl";
    }

    @Override
    protected Map<String, String> settings() {
        return Map.of("placement", "coherent");
    }

    @Override
    protected boolean migrates() {
        return false;
    }

    @Override
    protected String unavailabilityCause() {
        return new OpenClBackendProvider().unavailabilityCause();
    }
}
