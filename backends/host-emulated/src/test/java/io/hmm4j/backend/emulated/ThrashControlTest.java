package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.nio.file.Path;
import java.util.List;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Thrash control: host writes and kernel reads alternating on one block switch the array to zero-copy placement
 * after more than N moves in the window, counted and reported as a JFR event; off by the builder's switch; arrays
 * too large for the bus to pay off keep migrating.
 */
class ThrashControlTest {

    private static final long BLOCK = 64 * 1024;
    private static final int BLOCK_FLOATS = (int) (BLOCK / Float.BYTES);

    private static ManagedHeap.Builder builder() {
        return ManagedHeap.builder().backend("emulated").blockSize(BLOCK);
    }

    /** One ping-pong step: the host writes an element, a kernel reads the whole array; checks the kernel's sum. */
    private static void step(ManagedHeap heap, FloatArray x, FloatArray out, int i, double[] sum) {
        x.set(i % x.length(), 1f);
        sum[0] = 0;
        for (long j = 0; j < x.length(); j++)
            sum[0] += x.get(j);
        heap.launch(BuiltinKernel.SUM, x.length(), Arg.read(x), Arg.write(out), Arg.of(x.length())).await();
        assertThat((double) out.get(0)).isCloseTo(sum[0], within(1e-3));
    }

    @Test
    void alternatingWritesAndReadsSwitchTheArrayAfterMoreThanNMoves(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("thrash.jfr");
        try (Recording recording = new Recording(); ManagedHeap heap = builder().thrashControl(2, 4).build()) {
            recording.enable("io.hmm4j.Thrashing");
            recording.start();
            FloatArray x = heap.allocateFloats(BLOCK_FLOATS);
            FloatArray out = heap.allocateFloats(1);
            double[] sum = new double[1];
            // Launch 1 places the array; launches 2 and 3 each move the block the host wrote: 2 moves, not more.
            for (int i = 0; i < 3; i++)
                step(heap, x, out, i, sum);
            assertThat(heap.isZeroCopy(x)).isFalse();
            assertThat(heap.thrashSwitches()).isZero();
            // Launch 4: the third move in the window.
            step(heap, x, out, 3, sum);
            // Both directions thrash: the kernel writes out and the host reads it home every step.
            assertThat(heap.isZeroCopy(x)).isTrue();
            assertThat(heap.isZeroCopy(out)).isTrue();
            assertThat(heap.thrashSwitches()).isEqualTo(2);
            long toDevice = heap.stats().bytesToDevice();
            long faults = heap.stats().faults();
            for (int i = 4; i < 20; i++)
                step(heap, x, out, i, sum);
            // From then on nothing moves either way.
            assertThat(heap.stats().bytesToDevice()).isEqualTo(toDevice);
            assertThat(heap.stats().faults()).isEqualTo(faults);
            recording.stop();
            recording.dump(file);
        }
        List<RecordedEvent> events = RecordingFile.readAllEvents(file).stream()
                .filter(e -> e.getEventType().getName().equals("io.hmm4j.Thrashing")).toList();
        assertThat(events).hasSize(2).allSatisfy(event -> {
            assertThat(event.getString("device")).isEqualTo("emulated:0");
            assertThat(event.getLong("arrayBytes")).isEqualTo(BLOCK);
            assertThat(event.getInt("mostMoves")).isEqualTo(3);
            // Counted from the second launch, the first on the device the array was already placed on.
            assertThat(event.getInt("launches")).isEqualTo(3);
            assertThat(event.getString("action")).isEqualTo("zero_copy");
        });
    }

    @Test
    void arraysThatCannotBeZeroCopyKeepMigratingAndTheirLaunchesRunOn() {
        String cause = io.hmm4j.RuntimeInfo.userfaultfdUnavailabilityCause();
        org.junit.jupiter.api.Assumptions.assumeTrue(cause == null, () -> "userfaultfd not used here: " + cause);
        // A userfaultfd region cannot be placed zero-copy: thrash control must leave it alone, not fail the launch.
        try (ManagedHeap heap = builder().userfaultfd("on").thrashControl(2, 4).build()) {
            FloatArray x = heap.allocateFloats(BLOCK_FLOATS);
            FloatArray out = heap.allocateFloats(1);
            double[] sum = new double[1];
            for (int i = 0; i < 12; i++)
                step(heap, x, out, i, sum);
            assertThat(heap.isZeroCopy(x)).isFalse();
            assertThat(heap.thrashSwitches()).isZero();
        }
    }

    @Test
    void movesSpreadOverMoreLaunchesThanTheWindowDoNotSwitch() {
        try (ManagedHeap heap = builder().thrashControl(2, 4).build()) {
            FloatArray x = heap.allocateFloats(BLOCK_FLOATS);
            FloatArray out = heap.allocateFloats(1);
            double[] sum = new double[1];
            for (int i = 0; i < 24; i++) {
                // The host writes before every other launch only: 2 moves per window of 4 launches, never more.
                if (i % 2 == 0)
                    step(heap, x, out, i, sum);
                else
                    heap.launch(BuiltinKernel.SUM, x.length(), Arg.read(x), Arg.write(out), Arg.of(x.length())).await();
            }
            assertThat(heap.isZeroCopy(x)).isFalse();
            assertThat(heap.thrashSwitches()).isZero();
        }
    }

    @Test
    void theBuilderSwitchTurnsItOff() {
        try (ManagedHeap heap = builder().thrashControl(2, 4).thrashControl(false).build()) {
            FloatArray x = heap.allocateFloats(BLOCK_FLOATS);
            FloatArray out = heap.allocateFloats(1);
            double[] sum = new double[1];
            for (int i = 0; i < 20; i++)
                step(heap, x, out, i, sum);
            assertThat(heap.isZeroCopy(x)).isFalse();
            assertThat(heap.thrashSwitches()).isZero();
        }
    }

    @Test
    void anArrayMuchLargerThanWhatMovesKeepsMigrating() {
        try (ManagedHeap heap = builder().thrashControl(2, 4).build()) {
            // One block of 16 moves per launch: reading all 16 over the bus would cost more than moving one.
            FloatArray x = heap.allocateFloats(16 * BLOCK_FLOATS);
            FloatArray out = heap.allocateFloats(1);
            double[] sum = new double[1];
            for (int i = 0; i < 12; i++)
                step(heap, x, out, 0, sum);
            assertThat(heap.isZeroCopy(x)).isFalse();
        }
    }
}
