package io.hmm4j.backend.opencl;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.IntArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.UserKernel;
import io.hmm4j.spi.KernelSource;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.RepeatedTest;

/**
 * Host reads racing launches that write the array: one thread launches 150 increments (awaited or not by turns)
 * while two threads keep reading it. A read fault served after a launch handed the written blocks to the device
 * but before its kernel was enqueued used to copy the old bytes home and leave the block SHARED, so the host kept
 * them for good (the count ended at 149). Every value must only grow, never run ahead of the launches, and end at
 * 150. About a second on PoCL.
 */
class LaunchReadRaceTest {

    private static final String ADD_ONE = """
            __kernel void add_one(__global int *values) {
                size_t i = get_global_id(0);
                values[i] += 1;
            }
            """;
    private static final int COUNT = 32 * 1024;
    private static final int LAUNCHES = 150;

    @BeforeEach
    void requireOpenCl() {
        OpenClBackendProvider provider = new OpenClBackendProvider();
        Assumptions.assumeTrue(provider.isAvailable(), () -> "OpenCL not available: " + provider.unavailabilityCause());
    }

    @RepeatedTest(8)
    void faultingReadersNeverSeeAValueGoBackOrRunAheadOfTheLaunches() throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("opencl").setting("placement", "migrate")
                .blockSize(4096).build()) {
            IntArray values = heap.allocateInts(COUNT);
            UserKernel addOne = heap.load(KernelSource.openCl("add_one", ADD_ONE));
            AtomicInteger started = new AtomicInteger();
            AtomicBoolean finished = new AtomicBoolean();
            ExecutorService pool = Executors.newFixedThreadPool(3);
            try {
                List<Future<Integer>> readers = new ArrayList<>();
                for (int r = 0; r < 2; r++) {
                    int stride = 4096 / Integer.BYTES * (r + 1) + r;
                    readers.add(pool.submit(() -> {
                        int[] lastSeen = new int[COUNT];
                        int reads = 0;
                        for (int i = 0; !finished.get(); i = (i + stride) % COUNT, reads++) {
                            int ceiling = started.get();
                            int v = values.get(i);
                            assertThat(v).as("element %d", i).isGreaterThanOrEqualTo(lastSeen[i]);
                            assertThat(v).as("element %d", i).isLessThanOrEqualTo(Math.max(ceiling, started.get()));
                            lastSeen[i] = v;
                        }
                        return reads;
                    }));
                }
                Future<?> launcher = pool.submit(() -> {
                    try {
                        for (int k = 0; k < LAUNCHES; k++) {
                            started.incrementAndGet();
                            var launch = heap.launch(addOne, COUNT, Arg.readWrite(values));
                            if (k % 2 == 0)
                                launch.await();
                        }
                    } finally {
                        finished.set(true);
                    }
                });
                launcher.get(60, TimeUnit.SECONDS);
                for (Future<Integer> reader : readers)
                    assertThat(reader.get(60, TimeUnit.SECONDS)).isPositive();
            } finally {
                finished.set(true);
                pool.shutdownNow();
                assertThat(pool.awaitTermination(60, TimeUnit.SECONDS)).isTrue();
            }
            for (int i = 0; i < COUNT; i += 997)
                assertThat(values.get(i)).isEqualTo(LAUNCHES);
        }
    }
}
