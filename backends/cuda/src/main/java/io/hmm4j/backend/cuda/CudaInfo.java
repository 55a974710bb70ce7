package io.hmm4j.backend.cuda;

import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendConfig;

/** {@code java -cp ... io.hmm4j.backend.cuda.CudaInfo}: whether the CUDA backend is available here, and its devices. */
public final class CudaInfo {

    private CudaInfo() {}

    public static void main(String[] args) {
        CudaBackendProvider provider = new CudaBackendProvider();
        if (!provider.isAvailable()) {
            System.out.println("cuda: not available: " + provider.unavailabilityCause());
            System.exit(1);
        }
        System.out.println("cuda: available, driver " + provider.driverVersion() + ", " + provider.deviceCount()
                + " device(s)");
        try (Backend backend = provider.open(BackendConfig.empty())) {
            backend.devices().forEach(device -> System.out.println("  " + device));
        }
    }
}
