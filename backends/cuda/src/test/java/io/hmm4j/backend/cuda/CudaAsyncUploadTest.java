package io.hmm4j.backend.cuda;

import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.AsyncUploadTest;

/**
 * Launch-time uploads on CUDA: page-locked kept pages (the default) go to the device with cuMemcpyHtoDAsync on
 * the launch stream. Runs where a GPU is present.
 */
class CudaAsyncUploadTest extends AsyncUploadTest {

    private static final CudaBackendProvider provider = new CudaBackendProvider();

    @Override
    protected String unavailabilityCause() {
        return provider.isAvailable() ? null : "CUDA: " + provider.unavailabilityCause();
    }

    @Override
    protected ManagedHeap heap() {
        return ManagedHeap.builder().backend("cuda").build();
    }
}
