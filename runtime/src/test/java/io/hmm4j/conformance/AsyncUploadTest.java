package io.hmm4j.conformance;

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
 * Launch-time uploads are enqueued without waiting (issue 12, item 2): the launch returns while the device may
 * still be reading the host pages. Whatever touches those pages next (a host write, reclaim of clean pages, a
 * close) must first wait for the upload, or the kernel reads bytes the program wrote after the launch, or zeros.
 * Each test changes the pages right after an un-awaited launch and checks the kernel saw the bytes of the launch.
 * A backend's subclass says how to build a heap whose device enqueues copies (OpenCL's migrating placement; CUDA
 * with page-locked kept pages, the default).
 */
public abstract class AsyncUploadTest {

    private static final int N = 16 << 20; // 64 MiB of floats: an upload takes milliseconds on PoCL

    /** Why the backend cannot run here, or null. */
    protected abstract String unavailabilityCause();

    protected abstract ManagedHeap heap();

    @BeforeEach
    void requireBackend() {
        String cause = unavailabilityCause();
        Assumptions.assumeTrue(cause == null, () -> "backend not available: " + cause);
    }

    private static FloatArray ones(ManagedHeap heap) {
        FloatArray x = heap.allocateFloats(N);
        x.segment().fill((byte) 0);
        for (long i = 0; i < N; i++)
            x.set(i, 1f);
        return x;
    }

    @Test
    void launchUploadsWithoutWaitingForTheCopy() {
        try (ManagedHeap heap = heap()) {
            NativeCopyEngine engine = heap.devices().getFirst().copyEngine();
            FloatArray x = ones(heap);
            FloatArray sum = heap.allocateFloats(1);
            long before = engine.asyncCopies();
            heap.launch(BuiltinKernel.SUM, N, Arg.read(x), Arg.write(sum), Arg.of((long) N)).await();
            assertThat(engine.asyncCopies() - before).isPositive();
            assertThat(sum.get(0)).isEqualTo((float) N);
        }
    }

    @Test
    void aHostWriteRightAfterTheLaunchWaitsForTheUpload() {
        try (ManagedHeap heap = heap()) {
            FloatArray x = ones(heap);
            FloatArray sum = heap.allocateFloats(1);
            for (int round = 0; round < 3; round++) {
                Launch launch = heap.launch(BuiltinKernel.SUM, N, Arg.read(x), Arg.write(sum), Arg.of((long) N));
                // The last block first: the upload copies in order, so it is the one most likely still unread.
                for (long i = N - 1; i >= 0; i -= N / 64)
                    x.set(i, 0f);
                launch.await();
                assertThat(sum.get(0)).as("round %d", round).isEqualTo((float) N);
                for (long i = N - 1; i >= 0; i -= N / 64)
                    x.set(i, 1f);
            }
        }
    }

    @Test
    void reclaimingCleanPagesRightAfterTheLaunchWaitsForTheUpload() {
        try (ManagedHeap heap = heap()) {
            FloatArray x = ones(heap);
            FloatArray sum = heap.allocateFloats(1);
            Launch launch = heap.launch(BuiltinKernel.SUM, N, Arg.read(x), Arg.write(sum), Arg.of((long) N));
            heap.reclaimHostMemory(Long.MAX_VALUE);
            launch.await();
            assertThat(sum.get(0)).isEqualTo((float) N);
            assertThat(x.get(N - 1)).isEqualTo(1f);
        }
    }

    @Test
    void closingRightAfterTheLaunchFreesNothingTheUploadStillReads() {
        for (int round = 0; round < 5; round++) {
            try (ManagedHeap heap = heap()) {
                FloatArray x = ones(heap);
                FloatArray sum = heap.allocateFloats(1);
                heap.launch(BuiltinKernel.SUM, N, Arg.read(x), Arg.write(sum), Arg.of((long) N));
                x.close();
            }
        }
    }
}
