package io.hmm4j.backend.opencl;

import io.hmm4j.conformance.BackendConformanceTest;
import java.util.Map;

/** The conformance kit on OpenCL with placement=migrate (PoCL in CI). */
class OpenClMigratingConformanceTest extends BackendConformanceTest {

    @Override
    protected String backend() {
        return "opencl";
    }

    @Override
    protected Map<String, String> settings() {
        return Map.of("placement", "migrate");
    }

    @Override
    protected boolean migrates() {
        return true;
    }

    @Override
    protected String unavailabilityCause() {
        return new OpenClBackendProvider().unavailabilityCause();
    }
}
