package io.hmm4j.backend.emulated;

import io.hmm4j.conformance.BackendConformanceTest;

class EmulatedConformanceTest extends BackendConformanceTest {

    @Override
    protected String backend() {
        return "emulated";
    }

    @Override
    protected boolean migrates() {
        return true;
    }

    @Override
    protected String unavailabilityCause() {
        EmulatedBackendProvider provider = new EmulatedBackendProvider();
        return provider.isAvailable() ? null : provider.unavailabilityCause();
    }
}
