package io.hmm4j.backend.opencl;

import io.hmm4j.ManagedHeap;
import io.hmm4j.RuntimeInfo;

/**
 * The conformance kit on OpenCL (placement=migrate) with userfaultfd serving the faults: copies home then run on
 * the engine's handler thread, not on the faulting one. Skipped where the kernel refuses userfaultfd.
 */
class OpenClUserfaultfdConformanceTest extends OpenClMigratingConformanceTest {

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
