package io.hmm4j.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** Progress of a 1000-step run, captured: a bar redrawn in place on a terminal, a few lines anywhere else. */
class ProgressTest {

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);

    private String run(boolean terminal, int steps) {
        Progress progress = new Progress(out, terminal, "run", 1000);
        for (int step = 1; step <= steps; step++)
            progress.update(step, "detail");
        progress.finish(steps, "1.000 s");
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void onATerminalTheBarIsRedrawnOncePerPercentOnOneLine() {
        String shown = run(true, 1000);

        // 0% (the first steps) through 100%: 101 frames, however many steps there are.
        assertThat(shown.chars().filter(c -> c == '\r').count()).isEqualTo(101);
        // String.lines() would split at each \r too: count the real line ends.
        assertThat(shown.chars().filter(c -> c == '\n').count()).isEqualTo(2);
        assertThat(shown).contains("100%  step 1000/1000").endsWith("run                  done: 1000 steps, 1.000 s\n");
    }

    @Test
    void elsewhereEachQuarterIsOnePlainLine() {
        String shown = run(false, 1000);

        assertThat(shown).doesNotContain("\r");
        assertThat(shown.lines()).containsExactly(
                "run                  step 250/1000  detail",
                "run                  step 500/1000  detail",
                "run                  step 750/1000  detail",
                "run                  done: 1000 steps, 1.000 s");
    }

    @Test
    void aRunThatStopsEarlySaysHowFarItGot() {
        String shown = run(false, 400);

        assertThat(shown.lines()).containsExactly(
                "run                  step 250/1000  detail",
                "run                  done: 400 steps, 1.000 s");
    }
}
