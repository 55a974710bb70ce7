package io.hmm4j.backend.emulated;

import io.hmm4j.Arg;
import io.hmm4j.FloatArray;
import io.hmm4j.conformance.HeapLeakTest;
import io.hmm4j.spi.KernelSource;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

class EmulatedHeapLeakTest extends HeapLeakTest {

    @Override
    protected String backend() {
        return "emulated";
    }

    @Override
    protected String unavailabilityCause() {
        EmulatedBackendProvider provider = new EmulatedBackendProvider();
        return provider.isAvailable() ? null : provider.unavailabilityCause();
    }

    @Override
    protected KernelSource userKernel() {
        return KernelSource.java("add_one", (globalSize, arguments) -> {
            MemorySegment x = arguments.buffer(0);
            int n = arguments.intValue(1);
            for (int i = 0; i < n; i++)
                x.setAtIndex(ValueLayout.JAVA_FLOAT, i, x.getAtIndex(ValueLayout.JAVA_FLOAT, i) + 1);
        });
    }

    @Override
    protected Arg[] userKernelArguments(FloatArray array, int n) {
        return new Arg[] {Arg.readWrite(array), Arg.of(n)};
    }
}
