/** The OpenCL backend on JOCL: migrating device buffers or coherent host-pointer buffers. */
module io.hmm4j.backend.opencl {
    requires transitive io.hmm4j;
    requires jocl;

    exports io.hmm4j.backend.opencl;

    provides io.hmm4j.spi.BackendProvider with io.hmm4j.backend.opencl.OpenClBackendProvider;
}
