package io.hmm4j.backend.opencl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.FloatArray;
import io.hmm4j.IntArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.UserKernel;
import io.hmm4j.spi.KernelSource;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Tiled launches on a real OpenCL device (PoCL, migrating placement): tiles are sub-buffers of the tile buffers at
 * block-aligned offsets, kernels are waited for by their events, and the result matches a host computation for
 * sizes that are not multiples of the tile or the block.
 */
class OpenClTiledLaunchTest {

    private static final int BLOCK = 4096;
    private static final long BUDGET = 32L * BLOCK;

    private static final String OFFSET = """
            __kernel void add_offset(__global const int *in, __global int *out, int amount, long count) {
                size_t i = get_global_id(0);
                if (i < count)
                    out[i] = in[i] + amount;
            }
            """;

    @BeforeEach
    void requireOpenCl() {
        OpenClBackendProvider provider = new OpenClBackendProvider();
        Assumptions.assumeTrue(provider.isAvailable(), () -> "OpenCL not available: " + provider.unavailabilityCause());
    }

    private static ManagedHeap heap() {
        return ManagedHeap.builder().backend("opencl").setting("placement", "migrate").blockSize(BLOCK)
                .deviceBudget(BUDGET).build();
    }

    @Test
    void axpyOverArraysFourTimesTheBudget() {
        try (ManagedHeap heap = heap()) {
            int n = (int) (2 * BUDGET / Float.BYTES) + 1237; // two arrays of 2x the budget each
            FloatArray x = heap.allocateFloats(n);
            FloatArray y = heap.allocateFloats(n);
            for (int i = 0; i < n; i++) {
                x.set(i, i % 1000);
                y.set(i, 1f);
            }
            assertThatThrownBy(() -> heap.launch(BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(y), Arg.of(2f),
                    Arg.of((long) n))).isInstanceOf(DeviceOutOfMemoryException.class);
            heap.launchTiled(BuiltinKernel.AXPY, n, 10_000, Arg.read(x), Arg.readWrite(y), Arg.of(2f), Arg.of((long) n))
                    .await();
            for (int i = 0; i < n; i++)
                if (y.get(i) != 2f * (i % 1000) + 1f)
                    assertThat(y.get(i)).as("y[%d]", i).isEqualTo(2f * (i % 1000) + 1f);
            assertThat(heap.residency(y).all(BlockState.HOST)).isTrue();
            assertThat(heap.deviceBytesUsed(0)).isZero();
        }
    }

    @Test
    void fillThenScaleInTilesSmallerThanABlock() {
        try (ManagedHeap heap = heap()) {
            int n = 100_001;
            FloatArray a = heap.allocateFloats(n);
            heap.launchTiled(BuiltinKernel.FILL, n, 100, Arg.write(a), Arg.of(0.5f), Arg.of((long) n));
            heap.launchTiled(BuiltinKernel.SCALE, n, 3 * BLOCK, Arg.readWrite(a), Arg.of(6f), Arg.of((long) n));
            for (int i = 0; i < n; i++)
                if (a.get(i) != 3f)
                    assertThat(a.get(i)).as("a[%d]", i).isEqualTo(3f);
        }
    }

    @Test
    void userKernelDeclaredElementWise() {
        try (ManagedHeap heap = heap()) {
            int n = 77_777;
            IntArray in = heap.allocateInts(n);
            IntArray out = heap.allocateInts(n);
            for (int i = 0; i < n; i++)
                in.set(i, i);
            UserKernel add = heap.load(KernelSource.openCl("add_offset", OFFSET)).elementWise(3);
            heap.launchTiled(add, n, 2 * BLOCK, Arg.read(in), Arg.write(out), Arg.of(7), Arg.of((long) n));
            for (int i = 0; i < n; i++)
                if (out.get(i) != i + 7)
                    assertThat(out.get(i)).as("out[%d]", i).isEqualTo(i + 7);
        }
    }

    @Test
    void dotAddsItsTilesPartialResults() {
        try (ManagedHeap heap = heap()) {
            int n = 3 * (int) (BUDGET / Float.BYTES) + 999;
            FloatArray x = heap.allocateFloats(n);
            FloatArray y = heap.allocateFloats(n);
            double dot = 0;
            for (int i = 0; i < n; i++) {
                float xi = (i % 13) * 0.5f - 3f;
                float yi = (i % 7) + 0.25f;
                x.set(i, xi);
                y.set(i, yi);
                dot += (double) xi * yi;
            }
            FloatArray out = heap.allocateFloats(1);
            heap.launchTiled(BuiltinKernel.DOT, n, 3 * BLOCK, Arg.read(x), Arg.read(y), Arg.write(out),
                    Arg.of((long) n));
            assertThat((double) out.get(0)).isCloseTo(dot, org.assertj.core.data.Offset.offset(Math.abs(dot) * 1e-5 + 1e-2));
            assertThat(heap.deviceBytesUsed(0)).isZero();
        }
    }
}
