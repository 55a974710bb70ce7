package io.hmm4j.backend.emulated;

import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.AsyncUploadTest;

/**
 * Launch-time uploads on the emulated device's copy engine (a native worker thread), over a bus of 4 GB/s so that a
 * 64 MiB upload is still running when the test touches the pages it reads.
 */
class EmulatedAsyncUploadTest extends AsyncUploadTest {

    @Override
    protected String unavailabilityCause() {
        EmulatedBackendProvider provider = new EmulatedBackendProvider();
        return provider.isAvailable() ? null : provider.unavailabilityCause();
    }

    @Override
    protected ManagedHeap heap() {
        return ManagedHeap.builder().backend("emulated").setting("bandwidth", "4000000000").build();
    }
}
