package io.hmm4j.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.NativeCopyEngine;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Per-launch completion on CUDA (issue 12, item 1): a fault or an await waits for the CUevent recorded after the
 * launch that writes the array, never with cuCtxSynchronize, and a launch once waited is not waited again. The
 * OpenCL twin (LaunchCompletionTest) runs on PoCL in CI; this one where a GPU is present.
 */
class CudaLaunchCompletionTest {

    private static final int COUNT = 1 << 20;
    private static final CudaBackendProvider provider = new CudaBackendProvider();

    @BeforeEach
    void requireGpu() {
        Assumptions.assumeTrue(provider.isAvailable(), provider.unavailabilityCause());
    }

    private static FloatArray counting(ManagedHeap heap) {
        FloatArray values = heap.allocateFloats(COUNT);
        for (int i = 0; i < COUNT; i++)
            values.set(i, i);
        return values;
    }

    @Test
    void faultsAndAwaitsWaitForTheWritingLaunchOnceAndNeverDrainTheContext() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("cuda").blockSize(64 * 1024).build()) {
            NativeCopyEngine engine = heap.devices().getFirst().copyEngine();
            FloatArray first = counting(heap);
            FloatArray second = counting(heap);
            long syncsBefore = engine.synchronizations();
            long waitsBefore = engine.eventWaits();

            Launch doublesFirst = heap.launch(BuiltinKernel.SCALE, COUNT, Arg.readWrite(first), Arg.of(2f), Arg.of((long) COUNT));
            Launch triplesSecond = heap.launch(BuiltinKernel.SCALE, COUNT, Arg.readWrite(second), Arg.of(3f), Arg.of((long) COUNT));
            assertThat(second.get(11)).isEqualTo(33f);
            assertThat(engine.eventWaits() - waitsBefore).isEqualTo(1);

            doublesFirst.await();
            triplesSecond.await();
            assertThat(first.get(11)).isEqualTo(22f);
            assertThat(second.get(COUNT - 1)).isEqualTo(3f * (COUNT - 1));
            assertThat(engine.synchronizations() - syncsBefore).isZero();
            assertThat(engine.eventWaits() - waitsBefore).isEqualTo(2);
        }
    }
}
