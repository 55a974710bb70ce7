package io.hmm4j.backend.opencl;

import io.hmm4j.conformance.SharedArrayConformanceTest;
import java.util.Map;

/**
 * Arrays shared between two JVMs on OpenCL with placement=migrate (PoCL in CI), where blocks really leave the shared
 * pages for each process's buffers. (Coherent placement needs no protocol: kernels use the shared pages themselves.)
 */
class OpenClSharedArrayTest extends SharedArrayConformanceTest {

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
