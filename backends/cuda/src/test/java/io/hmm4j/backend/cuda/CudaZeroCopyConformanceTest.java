package io.hmm4j.backend.cuda;

import io.hmm4j.conformance.ZeroCopyConformanceTest;

/** Zero-copy placement on CUDA: page-locked host memory mapped for the GPU (skipped with the reason without one). */
class CudaZeroCopyConformanceTest extends ZeroCopyConformanceTest {

    @Override
    protected String backend() {
        return "cuda";
    }

    @Override
    protected String unavailabilityCause() {
        return new CudaBackendProvider().unavailabilityCause();
    }
}
