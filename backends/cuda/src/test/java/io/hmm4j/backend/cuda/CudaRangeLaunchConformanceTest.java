package io.hmm4j.backend.cuda;

import io.hmm4j.conformance.RangeLaunchConformanceTest;
import java.util.Map;

/** Range launches on CUDA GPUs (built-ins at an offset); skipped without a GPU with the provider's cause. */
class CudaRangeLaunchConformanceTest extends RangeLaunchConformanceTest {

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
