package io.hmm4j.backend.emulated;

import io.hmm4j.ManagedHeap;
import io.hmm4j.RuntimeInfo;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;

/** The same stress with userfaultfd serving the faults: one handler thread for every faulting thread. */
class UserfaultfdConcurrencyStressTest extends ConcurrencyStressTest {

    @BeforeEach
    void assumeUserfaultfd() {
        String cause = RuntimeInfo.userfaultfdUnavailabilityCause();
        Assumptions.assumeTrue(cause == null, () -> "userfaultfd not available: " + cause);
    }

    @Override
    protected ManagedHeap.Builder configure(ManagedHeap.Builder builder) {
        return builder.userfaultfd("on");
    }
}
