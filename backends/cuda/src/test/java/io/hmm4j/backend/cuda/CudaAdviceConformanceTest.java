package io.hmm4j.backend.cuda;

import io.hmm4j.conformance.AdviceConformanceTest;
import java.util.Map;

/** The advice kit on CUDA GPUs; skipped without a GPU with the provider's cause, case by case with too few GPUs. */
class CudaAdviceConformanceTest extends AdviceConformanceTest {

    @Override
    protected String backend() {
        return "cuda";
    }

    @Override
    protected Map<String, String> settings(int devices) {
        return Map.of();
    }

    @Override
    protected String unavailabilityCause() {
        CudaBackendProvider provider = new CudaBackendProvider();
        return provider.isAvailable() ? null : provider.unavailabilityCause();
    }
}
