package io.hmm4j.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Tiled launches on CUDA (issue 12, item 4): tiles are device pointers into the tile buffers, copies run on the
 * copy thread with the context pushed, kernels are waited for by their CUevents. The emulated and OpenCL twins
 * (TiledLaunchTest, OpenClTiledLaunchTest) run in CI; this one where a GPU is present.
 */
class CudaTiledLaunchTest {

    private static final long BLOCK = 64 * 1024;
    private static final long BUDGET = 64 * BLOCK;
    private static final CudaBackendProvider provider = new CudaBackendProvider();

    @BeforeEach
    void requireGpu() {
        Assumptions.assumeTrue(provider.isAvailable(), provider.unavailabilityCause());
    }

    @Test
    void axpyOverArraysFourTimesTheBudgetMatchesTheHost() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("cuda").blockSize(BLOCK).deviceBudget(BUDGET).build()) {
            int n = (int) (2 * BUDGET / Float.BYTES) + 4321;
            FloatArray x = heap.allocateFloats(n);
            FloatArray y = heap.allocateFloats(n);
            for (int i = 0; i < n; i++) {
                x.set(i, i % 977);
                y.set(i, 0.5f);
            }
            assertThatThrownBy(() -> heap.launch(BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(y), Arg.of(3f),
                    Arg.of((long) n))).isInstanceOf(DeviceOutOfMemoryException.class);
            heap.launchTiled(BuiltinKernel.AXPY, n, 5 * BLOCK, Arg.read(x), Arg.readWrite(y), Arg.of(3f),
                    Arg.of((long) n)).await();
            for (int i = 0; i < n; i++)
                if (y.get(i) != 3f * (i % 977) + 0.5f)
                    assertThat(y.get(i)).as("y[%d]", i).isEqualTo(3f * (i % 977) + 0.5f);
            assertThat(heap.residency(y).all(BlockState.HOST)).isTrue();
            assertThat(heap.deviceBytesUsed(0)).isZero();
        }
    }

    @Test
    void dotOverArraysFourTimesTheBudgetAddsItsTilesPartialResults() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("cuda").blockSize(BLOCK).deviceBudget(BUDGET).build()) {
            int n = (int) (2 * BUDGET / Float.BYTES) + 4321;
            FloatArray x = heap.allocateFloats(n);
            FloatArray y = heap.allocateFloats(n);
            double dot = 0;
            for (int i = 0; i < n; i++) {
                x.set(i, (i % 11) - 5f);
                y.set(i, (i % 3) + 0.5f);
                dot += ((i % 11) - 5.0) * ((i % 3) + 0.5);
            }
            FloatArray out = heap.allocateFloats(1);
            heap.launchTiled(BuiltinKernel.DOT, n, 5 * BLOCK, Arg.read(x), Arg.read(y), Arg.write(out),
                    Arg.of((long) n)).await();
            assertThat((double) out.get(0)).isCloseTo(dot, org.assertj.core.data.Offset.offset(Math.abs(dot) * 1e-5 + 1e-2));
        }
    }
}
