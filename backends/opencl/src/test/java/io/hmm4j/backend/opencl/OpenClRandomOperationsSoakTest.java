package io.hmm4j.backend.opencl;

import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.RandomOperationsSoakTest;

/**
 * The random-operations soak on OpenCL with placement=migrate (PoCL in CI, four devices in the multi-device
 * execution), where launches and uploads really are asynchronous.
 */
class OpenClRandomOperationsSoakTest extends RandomOperationsSoakTest {

    @Override
    protected ManagedHeap.Builder backend() {
        return ManagedHeap.builder().backend("opencl").setting("placement", "migrate");
    }

    @Override
    protected String unavailabilityCause() {
        return new OpenClBackendProvider().unavailabilityCause();
    }
}
