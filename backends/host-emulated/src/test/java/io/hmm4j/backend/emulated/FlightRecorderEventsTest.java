package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FlightRecorderEventsTest {

    @Test
    void migrationsAndFaultBatchesAreRecorded(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("hmm4j.jfr");
        try (Recording recording = new Recording(); ManagedHeap heap = ManagedHeap.builder().backend("emulated").build()) {
            recording.enable("io.hmm4j.Migration");
            recording.enable("io.hmm4j.FaultBatch").withPeriod(Duration.ofMillis(100));
            recording.start();
            FloatArray a = heap.allocateFloats(1 << 16);
            a.set(3, 1f);
            heap.launch(BuiltinKernel.SCALE, a.length(), Arg.readWrite(a), Arg.of(2f), Arg.of(a.length())).await();
            assertThat(a.get(3)).isEqualTo(2f);
            Thread.sleep(400);
            recording.stop();
            recording.dump(file);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(file);
        assertThat(events).anySatisfy(e -> {
            assertThat(e.getEventType().getName()).isEqualTo("io.hmm4j.Migration");
            assertThat(e.getString("cause")).isEqualTo("launch");
            assertThat(e.getString("direction")).isEqualTo("to_device");
            assertThat(e.getLong("bytes")).isEqualTo(1L << 18);
        });
        assertThat(events).anySatisfy(e -> {
            assertThat(e.getEventType().getName()).isEqualTo("io.hmm4j.FaultBatch");
            assertThat(e.getLong("readFaults")).isPositive();
        });
    }

    @Test
    void theHostTierRecordsEachReclaim(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("reclaim.jfr");
        long block = ManagedHeap.DEFAULT_BLOCK_SIZE;
        try (Recording recording = new Recording();
             ManagedHeap heap = ManagedHeap.builder().backend("emulated").hostBudget(4 * block).build()) {
            recording.enable("io.hmm4j.Reclaim");
            recording.start();
            FloatArray first = heap.allocateFloats(4 * block / Float.BYTES);
            FloatArray second = heap.allocateFloats(4 * block / Float.BYTES);
            for (FloatArray a : new FloatArray[] {first, second}) {
                a.segment().fill((byte) 0);
                heap.launch(BuiltinKernel.SCALE, a.length(), Arg.readWrite(a), Arg.of(2f), Arg.of(a.length())).await();
            }
            recording.stop();
            recording.dump(file);
        }
        assertThat(RecordingFile.readAllEvents(file)).filteredOn(e -> e.getEventType().getName().equals("io.hmm4j.Reclaim"))
                .singleElement().satisfies(e -> {
                    assertThat(e.getString("cause")).isEqualTo("budget");
                    assertThat(e.getLong("bytes")).isEqualTo(4 * block);
                    assertThat(e.getLong("hostBytesBefore")).isEqualTo(8 * block);
                    assertThat(e.getLong("budget")).isEqualTo(4 * block);
                });
    }
}
