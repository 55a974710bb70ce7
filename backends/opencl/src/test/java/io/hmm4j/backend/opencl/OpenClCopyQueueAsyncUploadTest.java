package io.hmm4j.backend.opencl;

import io.hmm4j.ManagedHeap;

/** Launch-time uploads on a second queue (asked for: PoCL, a CPU device, has none by default). */
class OpenClCopyQueueAsyncUploadTest extends OpenClAsyncUploadTest {

    @Override
    protected ManagedHeap heap() {
        return ManagedHeap.builder().backend("opencl").setting("placement", "migrate").setting("copy.queue", "true")
                .build();
    }
}
