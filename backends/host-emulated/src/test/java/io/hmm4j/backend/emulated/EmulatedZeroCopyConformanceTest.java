package io.hmm4j.backend.emulated;

import io.hmm4j.conformance.ZeroCopyConformanceTest;
import java.util.Map;

/** Zero-copy placement on the emulated device: kernels read and write host memory at the bus's bandwidth. */
class EmulatedZeroCopyConformanceTest extends ZeroCopyConformanceTest {

    @Override
    protected String backend() {
        return "emulated";
    }

    @Override
    protected Map<String, String> settings() {
        return Map.of("bandwidth", "4000000000");
    }

    /** 8 MiB at 50 MB/s: a SCALE of the test's 4 MiB runs for about 160 ms. */
    @Override
    protected Map<String, String> slowKernelSettings() {
        return Map.of("kernel.bandwidth", "50000000");
    }

    @Override
    protected String unavailabilityCause() {
        EmulatedBackendProvider provider = new EmulatedBackendProvider();
        return provider.isAvailable() ? null : provider.unavailabilityCause();
    }
}
