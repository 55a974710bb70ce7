package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
import io.hmm4j.ManagedHeap;
import java.io.IOException;
import org.junit.jupiter.api.Test;

/**
 * While a launch runs on a zero-copy array its user view is guarded (read-only for a reader, inaccessible for a
 * writer), and that guard is lowered and lifted around every launch: on this guest a protection change costs per page
 * (and TLB-shootdown IPIs), which is most of PingPongBench's step with overlap on. The guard covers the pages that
 * hold the array's bytes, not the rest of its last block. The protections are read from /proc/self/maps.
 */
class ZeroCopyGuardPagesTest {

    private static final long BLOCK = 64 * 1024;
    private static final long PAGE = 4096;

    @Test
    void theGuardOfARunningLaunchCoversTheArraysPagesNotItsWholeBlock() throws IOException {
        // Overlap: the launch is queued and its guard stays up until await, whatever the kernel's speed.
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).userfaultfd("off")
                .setting("overlap", "true").build()) {
            int n = (int) (2 * PAGE / Float.BYTES) + 3;
            FloatArray x = heap.allocateFloats(n);
            FloatArray out = heap.allocateFloats(1);
            for (int i = 0; i < n; i++)
                x.set(i, 1f);
            heap.placeZeroCopy(x);
            heap.placeZeroCopy(out);
            long xBase = x.segment().address();
            long outBase = out.segment().address();
            Launch launch = heap.launch(BuiltinKernel.SUM, n, Arg.read(x), Arg.write(out), Arg.of((long) n));
            try {
                // x spans three pages (read-only while the kernel reads them), out one (inaccessible while written).
                assertThat(UserViewProtection.at(xBase)).isEqualTo("r--s");
                assertThat(UserViewProtection.at(xBase + 2 * PAGE)).isEqualTo("r--s");
                assertThat(UserViewProtection.at(xBase + 3 * PAGE)).isEqualTo("rw-s");
                assertThat(UserViewProtection.at(outBase)).isEqualTo("---s");
                assertThat(UserViewProtection.at(outBase + PAGE)).isEqualTo("rw-s");
                assertThat(UserViewProtection.at(outBase + BLOCK - PAGE)).isEqualTo("rw-s");
            } finally {
                launch.await();
            }
            assertThat(out.get(0)).isEqualTo((float) n);
            assertThat(UserViewProtection.at(xBase)).isEqualTo("rw-s");
            assertThat(UserViewProtection.at(outBase)).isEqualTo("rw-s");
            // A host read while the next launch runs waits for it, as before.
            heap.launch(BuiltinKernel.SUM, n, Arg.read(x), Arg.write(out), Arg.of((long) n));
            assertThat(out.get(0)).isEqualTo((float) n);
        }
    }
}
