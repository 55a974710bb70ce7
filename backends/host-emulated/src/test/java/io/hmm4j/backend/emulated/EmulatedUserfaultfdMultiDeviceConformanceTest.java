package io.hmm4j.backend.emulated;

import io.hmm4j.ManagedHeap;
import io.hmm4j.RuntimeInfo;

/** The multi-device kit on heaps whose faults userfaultfd serves (skipped where the kernel refuses it). */
class EmulatedUserfaultfdMultiDeviceConformanceTest extends EmulatedMultiDeviceConformanceTest {

    @Override
    protected String unavailabilityCause() {
        String cause = super.unavailabilityCause();
        return cause != null ? cause : RuntimeInfo.userfaultfdUnavailabilityCause();
    }

    @Override
    protected ManagedHeap.Builder configure(ManagedHeap.Builder builder) {
        return super.configure(builder).userfaultfd("on");
    }
}
