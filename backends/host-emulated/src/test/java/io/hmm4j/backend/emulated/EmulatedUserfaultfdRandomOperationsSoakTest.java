package io.hmm4j.backend.emulated;

import io.hmm4j.ManagedHeap;
import io.hmm4j.RuntimeInfo;

/** The random-operations soak with userfaultfd serving the faults. */
class EmulatedUserfaultfdRandomOperationsSoakTest extends EmulatedRandomOperationsSoakTest {

    @Override
    protected ManagedHeap.Builder backend() {
        return super.backend().userfaultfd("on");
    }

    @Override
    protected boolean zeroCopyPlacement() {
        return false;
    }

    @Override
    protected String unavailabilityCause() {
        String cause = RuntimeInfo.userfaultfdUnavailabilityCause();
        return cause == null ? null : "userfaultfd: " + cause;
    }
}
