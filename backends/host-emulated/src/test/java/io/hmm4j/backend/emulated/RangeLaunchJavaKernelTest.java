package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.UserKernel;
import io.hmm4j.spi.KernelSource;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Range launches of Java kernels (run by the launching thread): each kernel sees its launch's global offset, and two
 * launches on disjoint halves of one array from two threads run their kernels at the same time on two devices: each
 * kernel waits until the other has started, which cannot happen if one launch waited for the other.
 */
class RangeLaunchJavaKernelTest {

    private static final int BLOCK_FLOATS = 1024;

    @Test
    void javaKernelsOfDisjointRangesRunAtTheSameTimeAndSeeTheirOffsets() throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").setting("devices", "2").blockSize(4096)
                .build()) {
            int half = 4 * BLOCK_FLOATS;
            FloatArray a = heap.allocateFloats(2 * half);
            CountDownLatch started = new CountDownLatch(2);
            UserKernel index = heap.load(KernelSource.java("index", (size, args) -> {
                started.countDown();
                // Both kernels in flight at once, or this one gives up and leaves its range unwritten.
                try {
                    if (!started.await(30, TimeUnit.SECONDS))
                        return;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
                var out = args.buffer(0);
                for (long i = args.globalOffset(); i < args.globalOffset() + size; i++)
                    out.setAtIndex(ValueLayout.JAVA_FLOAT, i, i);
            }));
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                Future<?> first = pool.submit(() -> heap.launchOn(0, index, 0, half, Arg.write(a, 0, half)).await());
                Future<?> second = pool.submit(() -> heap.launchOn(1, index, half, half, Arg.write(a, half, half))
                        .await());
                first.get(60, TimeUnit.SECONDS);
                second.get(60, TimeUnit.SECONDS);
            } finally {
                pool.shutdownNow();
            }
            assertThat(heap.residency(a).devicePicture()).isEqualTo("D0 D0 D0 D0 D1 D1 D1 D1");
            for (int i = 0; i < 2 * half; i++)
                assertThat(a.get(i)).as("a[%d]", i).isEqualTo((float) i);
        }
    }
}
