package io.hmm4j.backend.opencl;

import io.hmm4j.conformance.RangeLaunchConformanceTest;
import java.util.Map;

/**
 * Range launches on OpenCL with placement=migrate: built-ins at a global work offset. PoCL has one device, so the
 * cases on two or more skip saying so; those on one run.
 */
class OpenClRangeLaunchConformanceTest extends RangeLaunchConformanceTest {

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
