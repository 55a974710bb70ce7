package io.hmm4j.backend.cuda;

import io.hmm4j.conformance.MultiDeviceConformanceTest;
import java.util.Map;

/**
 * The multi-device kit on CUDA GPUs (device to device through host memory); skipped without a GPU with the provider's
 * cause, and case by case on a host with fewer GPUs than a case needs.
 */
class CudaMultiDeviceConformanceTest extends MultiDeviceConformanceTest {

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
