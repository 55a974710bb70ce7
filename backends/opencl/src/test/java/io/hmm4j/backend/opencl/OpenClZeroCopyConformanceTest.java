package io.hmm4j.backend.opencl;

import io.hmm4j.conformance.ZeroCopyConformanceTest;
import java.util.Map;

/** Zero-copy placement on OpenCL with placement=migrate (PoCL in CI): CL_MEM_USE_HOST_PTR buffers over host memory. */
class OpenClZeroCopyConformanceTest extends ZeroCopyConformanceTest {

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
