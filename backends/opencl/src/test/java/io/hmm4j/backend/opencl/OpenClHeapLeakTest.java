package io.hmm4j.backend.opencl;

import io.hmm4j.Arg;
import io.hmm4j.FloatArray;
import io.hmm4j.conformance.HeapLeakTest;
import io.hmm4j.spi.KernelSource;
import java.util.Map;

/** The leak kit on OpenCL in migrating placement (device buffers, sub-buffers, user programs and kernels). */
class OpenClHeapLeakTest extends HeapLeakTest {

    @Override
    protected String backend() {
        return "opencl";
    }

    @Override
    protected Map<String, String> settings() {
        return Map.of("placement", "migrate");
    }

    @Override
    protected String unavailabilityCause() {
        return new OpenClBackendProvider().unavailabilityCause();
    }

    @Override
    protected KernelSource userKernel() {
        return KernelSource.openCl("add_one", """
                __kernel void add_one(__global float *x, int n) {
                    int i = get_global_id(0);
                    if (i < n)
                        x[i] += 1.0f;
                }
                """);
    }

    @Override
    protected Arg[] userKernelArguments(FloatArray array, int n) {
        return new Arg[] {Arg.readWrite(array), Arg.of(n)};
    }
}
