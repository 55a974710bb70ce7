package io.hmm4j.backend.cuda;

import io.hmm4j.Arg;
import io.hmm4j.FloatArray;
import io.hmm4j.conformance.HeapLeakTest;
import io.hmm4j.spi.KernelSource;

/** The leak kit on a CUDA GPU (modules of user kernels, streams, primary contexts); skipped without one. */
class CudaHeapLeakTest extends HeapLeakTest {

    @Override
    protected String backend() {
        return "cuda";
    }

    @Override
    protected String unavailabilityCause() {
        CudaBackendProvider provider = new CudaBackendProvider();
        return provider.isAvailable() ? null : provider.unavailabilityCause();
    }

    /** {@code add_index(out, n, base)}: {@code out[i] = i + base}. */
    @Override
    protected KernelSource userKernel() {
        return KernelSource.ptx("add_index", CudaDeviceTest.USER_PTX);
    }

    @Override
    protected Arg[] userKernelArguments(FloatArray array, int n) {
        return new Arg[] {Arg.write(array), Arg.of(n), Arg.of(0.5)};
    }
}
