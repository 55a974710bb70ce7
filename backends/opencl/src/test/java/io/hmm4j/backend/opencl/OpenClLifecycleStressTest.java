package io.hmm4j.backend.opencl;

import io.hmm4j.conformance.LifecycleStressTest;
import java.util.Map;

/** The lifecycle stress kit on OpenCL with placement=migrate (PoCL in CI), where launches really are asynchronous. */
class OpenClLifecycleStressTest extends LifecycleStressTest {

    @Override
    protected String backend() {
        return "opencl";
    }

    @Override
    protected Map<String, String> settings() {
        return Map.of("placement", "migrate");
    }

    @Override
    protected String unavailabilityCause() {
        return new OpenClBackendProvider().unavailabilityCause();
    }
}
