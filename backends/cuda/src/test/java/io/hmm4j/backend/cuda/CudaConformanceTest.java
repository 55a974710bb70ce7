package io.hmm4j.backend.cuda;

import io.hmm4j.conformance.BackendConformanceTest;

/** The runtime's conformance kit on a real CUDA GPU; every test is skipped with the provider's cause without one. */
class CudaConformanceTest extends BackendConformanceTest {

    @Override
    protected String backend() {
        return "cuda";
    }

    /** A discrete GPU: blocks migrate and host access to device blocks faults. */
    @Override
    protected boolean migrates() {
        return true;
    }

    @Override
    protected String unavailabilityCause() {
        CudaBackendProvider provider = new CudaBackendProvider();
        return provider.isAvailable() ? null : provider.unavailabilityCause();
    }
}
