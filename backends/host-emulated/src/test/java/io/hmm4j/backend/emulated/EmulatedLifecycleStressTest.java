package io.hmm4j.backend.emulated;

import io.hmm4j.conformance.LifecycleStressTest;

/** The lifecycle stress kit on the emulated device. */
class EmulatedLifecycleStressTest extends LifecycleStressTest {

    @Override
    protected String backend() {
        return "emulated";
    }

    @Override
    protected String unavailabilityCause() {
        return null;
    }
}
