package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.ChildJvm;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A write that goes around the read-only segment of a READ_ONLY file mapping (raw native memory at its address)
 * hits pages that can never become writable. The engine must report it (the JVM's InternalError, as for a
 * truncated mapped file) instead of taking it for an already-served fault and letting it fault again forever.
 * In a child JVM: a regression hangs or crashes that JVM, not the test run.
 */
class ReadOnlyMappingWriteTest {

    public static void main(String[] args) throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").build()) {
            FloatArray x = heap.mapFloats(Path.of(args[0]), 0, 1024, FileChannel.MapMode.READ_ONLY);
            MemorySegment around = MemorySegment.ofAddress(x.segment().address()).reinterpret(x.byteSize());
            try {
                around.set(ValueLayout.JAVA_FLOAT, 0, 1f);
                System.out.println("WROTE");
            } catch (InternalError e) {
                System.out.println("INTERNAL_ERROR " + e.getMessage());
            }
            System.out.println("ALIVE " + x.get(0));
        }
    }

    @Test
    void aWriteAroundTheReadOnlySegmentIsReportedNotRetriedForever(@TempDir Path directory) throws Exception {
        Path file = directory.resolve("ro.bin");
        Files.write(file, new byte[4096]);
        ChildJvm.Result result = ChildJvm.run(ReadOnlyMappingWriteTest.class, List.of(), 30, file.toString());
        assertThat(result.output()).as(result.output()).contains("INTERNAL_ERROR").contains("ALIVE 0.0");
        assertThat(result.exitCode()).as(result.output()).isZero();
        assertThat(Files.readAllBytes(file)).isEqualTo(new byte[4096]);
    }
}
