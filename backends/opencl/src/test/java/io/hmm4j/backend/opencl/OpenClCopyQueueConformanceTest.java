package io.hmm4j.backend.opencl;

import java.util.Map;

/**
 * The conformance kit on OpenCL with placement=migrate and launch uploads on a second queue, which a CPU device such
 * as PoCL has only when asked for: the marker and barrier that order launches after the uploads stay tested here.
 */
class OpenClCopyQueueConformanceTest extends OpenClMigratingConformanceTest {

    @Override
    protected Map<String, String> settings() {
        return Map.of("placement", "migrate", "copy.queue", "true");
    }
}
