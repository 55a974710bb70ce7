package io.hmm4j.backend.emulated;

import io.hmm4j.conformance.SharedArrayConformanceTest;

/** Arrays shared between two JVMs, each with its own emulated device. */
class EmulatedSharedArrayTest extends SharedArrayConformanceTest {

    @Override
    protected String backend() {
        return "emulated";
    }

    @Override
    protected String unavailabilityCause() {
        EmulatedBackendProvider provider = new EmulatedBackendProvider();
        return provider.isAvailable() ? null : provider.unavailabilityCause();
    }
}
