package io.hmm4j.backend.emulated;

import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.RandomOperationsSoakTest;

/** The random-operations soak on two emulated devices, copies and kernels asynchronous. */
class EmulatedRandomOperationsSoakTest extends RandomOperationsSoakTest {

    @Override
    protected ManagedHeap.Builder backend() {
        return ManagedHeap.builder().backend("emulated").setting("devices", "2")
                .setting("bandwidth", "8000000000").setting("latency.ns", "2000");
    }

    @Override
    protected String unavailabilityCause() {
        return null;
    }
}
