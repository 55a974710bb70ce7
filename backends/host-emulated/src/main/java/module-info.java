/** The emulated backend: device memory is a separate host allocation, kernels are Java. */
module io.hmm4j.backend.emulated {
    requires io.hmm4j;

    exports io.hmm4j.backend.emulated;

    provides io.hmm4j.spi.BackendProvider with io.hmm4j.backend.emulated.EmulatedBackendProvider;
}
