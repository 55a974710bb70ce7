package io.hmm4j.backend.opencl;

import java.util.Map;

/** The leak kit on OpenCL in coherent placement (CL_MEM_USE_HOST_PTR buffers over the arrays' own pages). */
class OpenClCoherentHeapLeakTest extends OpenClHeapLeakTest {

    @Override
    protected Map<String, String> settings() {
        return Map.of("placement", "coherent");
    }
}
