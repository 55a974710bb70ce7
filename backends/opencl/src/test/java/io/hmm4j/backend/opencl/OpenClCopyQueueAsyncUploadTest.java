package io.hmm4j.backend.opencl;

import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.AsyncUploadTest;

/** Launch-time uploads on a second queue (asked for: PoCL, a CPU device, has none by default). */
class OpenClCopyQueueAsyncUploadTest extends AsyncUploadTest {

    private static final OpenClBackendProvider provider = new OpenClBackendProvider();

    @Override
    protected String unavailabilityCause() {
        return provider.isAvailable() ? null : "OpenCL: " + provider.unavailabilityCause();
    }

    @Override
    protected ManagedHeap heap() {
        return ManagedHeap.builder().backend("opencl").setting("placement", "migrate").setting("copy.queue", "true")
                .build();
    }
}
