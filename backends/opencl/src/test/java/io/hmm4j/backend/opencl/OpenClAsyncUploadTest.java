package io.hmm4j.backend.opencl;

import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.AsyncUploadTest;

/** Launch-time uploads on PoCL's migrating placement: non-blocking clEnqueueWriteBuffer on the launch queue (a CPU device has no copy queue by default). */
class OpenClAsyncUploadTest extends AsyncUploadTest {

    private static final OpenClBackendProvider provider = new OpenClBackendProvider();

    @Override
    protected String unavailabilityCause() {
        return provider.isAvailable() ? null : "OpenCL: " + provider.unavailabilityCause();
    }

    @Override
    protected ManagedHeap heap() {
        return ManagedHeap.builder().backend("opencl").setting("placement", "migrate").build();
    }
}
