package io.hmm4j.backend.cuda;

import io.hmm4j.BuiltinKernel;
import io.hmm4j.spi.Kernel;
import jcuda.driver.CUfunction;

/**
 * A kernel loaded on one CUDA device.
 *
 * @param builtin which built-in it is, {@code null} for a user kernel
 */
record CudaKernel(String name, CudaDevice device, CUfunction function, BuiltinKernel builtin) implements Kernel {

    @Override
    public String toString() {
        return "CudaKernel[" + name + " on " + device.id() + "]";
    }
}
