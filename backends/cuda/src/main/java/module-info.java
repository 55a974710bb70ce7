/** hmm4j's CUDA backend: JCuda's driver API, the primary context per device, built-in kernels shipped as PTX. */
module io.hmm4j.backend.cuda {
    // transitive: the exported classes implement and return io.hmm4j.spi types.
    requires transitive io.hmm4j;
    // JCuda's jar has no module descriptor: its automatic module name comes from the file name jcuda-12.6.0.jar.
    requires jcuda;

    exports io.hmm4j.backend.cuda;

    provides io.hmm4j.spi.BackendProvider with io.hmm4j.backend.cuda.CudaBackendProvider;
}
