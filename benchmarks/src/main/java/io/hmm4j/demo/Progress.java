package io.hmm4j.demo;

import java.io.Console;
import java.io.PrintStream;
import java.util.Locale;

/**
 * Progress of one run, fitted to where the output goes: on a terminal a bar redrawn in place with {@code \r}; in a
 * file, a pipe or a CI log a few plain lines (each quarter and the end), because every {@code \r} frame would be
 * a line there.
 */
final class Progress {

    private static final int BAR_WIDTH = 30;
    private static final int PLAIN_LINES = 4;

    private final PrintStream out;
    private final boolean terminal;
    private final String name;
    private final int total;
    private int lastShown = -1;

    Progress(PrintStream out, boolean terminal, String name, int total) {
        this.out = out;
        this.terminal = terminal;
        this.name = name;
        this.total = total;
    }

    /**
     * Whether standard output is an interactive terminal. {@code System.console()} alone is not enough: since JDK 22
     * it may return a console while stdout is redirected; {@link Console#isTerminal()} says whether it really is one.
     */
    static boolean stdoutIsTerminal() {
        Console console = System.console();
        return console != null && console.isTerminal();
    }

    /** After step {@code step} of {@code total}; {@code detail} is appended (e.g. a probe value). */
    void update(int step, String detail) {
        if (terminal) {
            int percent = (int) (100L * step / total);
            if (percent == lastShown)
                return;
            lastShown = percent;
            int filled = BAR_WIDTH * step / total;
            out.printf(Locale.ROOT, "\r%-20s [%s%s] %3d%%  step %d/%d  %s", name, "#".repeat(filled),
                    " ".repeat(BAR_WIDTH - filled), percent, step, total, detail);
            out.flush();
        } else {
            int quarter = (int) ((long) PLAIN_LINES * step / total);
            if (quarter == lastShown || quarter == 0 || step == total)
                return;
            lastShown = quarter;
            out.printf(Locale.ROOT, "%-20s step %d/%d  %s%n", name, step, total, detail);
        }
    }

    /** The run ended after {@code steps} steps (fewer than the total when it stopped early). */
    void finish(int steps, String how) {
        if (terminal)
            out.print('\n');
        out.printf(Locale.ROOT, "%-20s done: %d steps%s%n", name, steps, how.isEmpty() ? "" : ", " + how);
    }
}
