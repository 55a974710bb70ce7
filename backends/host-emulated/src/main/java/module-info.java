/** The emulated backend: device memory is a separate host allocation, kernels are Java. */
module io.hmm4j.backend.emulated {
    // transitive: the exported classes implement and return io.hmm4j.spi types.
    requires transitive io.hmm4j;

    exports io.hmm4j.backend.emulated;

    provides io.hmm4j.spi.BackendProvider with io.hmm4j.backend.emulated.EmulatedBackendProvider;
}
