package io.hmm4j.benchmarks.cuda;

import io.hmm4j.backend.cuda.CudaBackendProvider;

/** Shared by the CUDA benchmarks: they run only on a CUDA GPU and say so at once otherwise. */
final class CudaBench {

    private CudaBench() {}

    /** Fails the trial (JMH prints the message) when there is no usable CUDA device. */
    static void requireGpu() {
        CudaBackendProvider provider = new CudaBackendProvider();
        if (!provider.isAvailable())
            throw new IllegalStateException("the io.hmm4j.benchmarks.cuda benchmarks need a CUDA GPU: "
                    + provider.unavailabilityCause());
    }

    /** Throws with the call and CUresult name unless {@code result} is CUDA_SUCCESS. */
    static void check(int result, String call) {
        if (result != jcuda.driver.CUresult.CUDA_SUCCESS)
            throw new IllegalStateException(call + " failed: " + jcuda.driver.CUresult.stringFor(result));
    }
}
