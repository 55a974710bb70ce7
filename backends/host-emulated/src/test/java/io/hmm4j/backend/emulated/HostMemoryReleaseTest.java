package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Invariant 4: device-only blocks give their host RAM back (unless the heap is told to keep it). */
class HostMemoryReleaseTest {

    private static final int MIB = 1 << 20;

    private static long rssShmemBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status")))
            if (line.startsWith("RssShmem:"))
                return Long.parseLong(line.replaceAll("\\D", "")) * 1024;
        throw new IllegalStateException("no RssShmem in /proc/self/status");
    }

    private static long releasedByKernelWrite(boolean release) throws IOException {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").releaseHostMemory(release).build()) {
            FloatArray a = heap.allocateFloats(32L * MIB / 4);
            a.segment().fill((byte) 1);
            long resident = rssShmemBytes();
            heap.launch(BuiltinKernel.FILL, a.length(), Arg.write(a), Arg.of(2f), Arg.of(a.length())).await();
            long released = resident - rssShmemBytes();
            assertThat(a.get(a.length() - 1)).isEqualTo(2f);
            return released;
        }
    }

    @Test
    void deviceOnlyBlocksGiveTheirHostMemoryBack() throws IOException {
        assertThat(releasedByKernelWrite(true)).isGreaterThan(30L * MIB);
    }

    @Test
    void aHeapCanKeepHostPagesForFasterFaults() throws IOException {
        assertThat(releasedByKernelWrite(false)).isLessThan(2L * MIB);
    }
}
