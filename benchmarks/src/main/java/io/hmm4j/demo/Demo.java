package io.hmm4j.demo;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.HeapStats;
import io.hmm4j.ManagedHeap;
import io.hmm4j.MigrationCause;
import io.hmm4j.spi.Device;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * 2-D heat diffusion, the main job: the kernel (STENCIL_2D) runs on the device every step, the CPU drives a heater
 * on the top boundary row (a write, so a write fault on that row's block) and checks convergence every few steps
 * by reading a few probe cells (read faults). The application never copies: the heap moves what is touched. The
 * same steps then run the copy-everything way (the whole grid home after every kernel and back before the next),
 * and the summary compares both, measured in this run. A residency picture over time (one row per sampled step,
 * one cell per block) is written as SVG.
 *
 * <p>The demo is about migration, so it runs where blocks really move. The automatic backend is used as it is
 * when its device has memory of its own (a GPU, the emulated device). A device that shares host memory (PoCL's
 * CPU device, an integrated GPU) is opened coherent by default and nothing would move there; the demo then runs
 * the same OpenCL device with {@code placement=migrate} (else the emulated device), says why, and runs the
 * coherent placement beside it as the zero-copy case.
 *
 * <pre>
 * Demo [size] [steps]    size: grid edge in cells (default 1024), steps: at most this many (default 1000)
 * -Dhmm4j.demo.out=PATH  where the SVG goes (default target/demo-residency.svg)
 * HMM4J_BACKEND=opencl   pick a backend (default: CUDA, then OpenCL, then emulated)
 * </pre>
 */
public final class Demo {

    private static final float ALPHA = 0.24f;
    private static final float HEATER_MAX = 100f;
    private static final int HEATER_RAMP_STEPS = 200;
    private static final int CHECK_EVERY = 25;
    private static final float CONVERGED = 1e-4f;
    private static final int MAX_PICTURE_ROWS = 60;
    private static final int WARM_UP_STEPS = 20;

    /** How a run treats the grids. */
    enum Way {
        /** hmm4j as an application uses it: no copies, the heap moves what is touched. */
        ON_DEMAND("hmm4j (on demand)"),
        /** After every kernel the whole output grid home, before the next the whole grid back. */
        COPY_EVERYTHING("copy everything"),
        /** On demand on a device that shares host memory: kernels use the arrays' own pages, nothing moves. */
        ZERO_COPY("zero-copy");

        final String label;

        Way(String label) {
            this.label = label;
        }
    }

    private final ManagedHeap heap;
    private final int size;
    private final int steps;
    private final PrintStream out;
    private final boolean terminal;

    /** One sampled row of the residency picture: the step and both grids' block states. */
    record Sample(int step, String gridA, String gridB) {}

    /** What one run did, on which device. */
    record Run(Way way, Device device, int steps, long nanos, HeapStats before, HeapStats after, float[] probes,
               boolean converged, List<Sample> samples) {

        long readFaults() { return after.readFaults() - before.readFaults(); }
        long writeFaults() { return after.writeFaults() - before.writeFaults(); }
        long toDevice() { return after.bytesToDevice() - before.bytesToDevice(); }
        long toHost() { return after.bytesToHost() - before.bytesToHost(); }
        long toHost(MigrationCause cause) { return after.bytesToHost(cause) - before.bytesToHost(cause); }
        long moved() { return toDevice() + toHost(); }
        long launches() { return after.launches() - before.launches(); }
    }

    Demo(ManagedHeap heap, int size, int steps, PrintStream out, boolean terminal) {
        this.heap = heap;
        this.size = size;
        this.steps = steps;
        this.out = out;
        this.terminal = terminal;
    }

    public static void main(String[] args) throws IOException {
        int size = args.length > 0 ? parse(args[0], "size") : 1024;
        int steps = args.length > 1 ? parse(args[1], "steps") : 1000;
        if (size < 8 || (long) size * size > Integer.MAX_VALUE)
            usage("size must be in [8, 46340]: " + size);
        if (steps < 1)
            usage("steps must be >= 1: " + steps);
        Path svg = Path.of(System.getProperty("hmm4j.demo.out", "target/demo-residency.svg"));
        PrintStream out = System.out;
        boolean terminal = Progress.stdoutIsTerminal();

        out.printf(Locale.ROOT, "hmm4j demo: 2-D heat diffusion, %d x %d cells, up to %d steps%n", size, size, steps);
        try (ManagedHeap automatic = ManagedHeap.create()) {
            Device device = automatic.devices().getFirst();
            if (!device.coherent()) {
                out.printf(Locale.ROOT, "device  %s, %s%n        It has %s.%n%n", device.id(), device.name(),
                        describe(device));
                Demo demo = new Demo(automatic, size, steps, out, terminal);
                List<Run> runs = demo.compare();
                demo.writeSvg(runs.getFirst(), svg);
                demo.summary(runs, null, svg);
                return;
            }
            try (ManagedHeap migrating = migratingHeap(automatic, out)) {
                out.printf(Locale.ROOT, "device  %s, %s%n"
                                + "        It shares host memory, so its automatic (coherent) placement moves nothing: kernels%n"
                                + "        use the arrays' own pages. %s%n"
                                + "        The zero-copy run is shown beside it.%n%n",
                        device.id(), device.name(), howMigrationIsShown(migrating));
                Demo demo = new Demo(migrating, size, steps, out, terminal);
                List<Run> runs = demo.compare();
                demo.writeSvg(runs.getFirst(), svg);
                Demo zeroCopy = new Demo(automatic, size, runs.getFirst().steps(), out, terminal);
                zeroCopy.warmUp();
                Run coherent = zeroCopy.run(Way.ZERO_COPY, runs.getFirst().steps());
                demo.summary(runs, coherent, svg);
            }
        }
    }

    /**
     * A heap whose blocks really move, for a machine whose automatic device shares host memory: the same OpenCL
     * device with its own buffers, else the emulated device.
     */
    static ManagedHeap migratingHeap(ManagedHeap coherent, PrintStream out) {
        if (coherent.backendName().equals("opencl")) {
            try {
                ManagedHeap heap = ManagedHeap.builder().backend("opencl").setting("placement", "migrate").build();
                if (!heap.devices().getFirst().coherent())
                    return heap;
                heap.close();
            } catch (IllegalStateException | IllegalArgumentException e) {
                out.println("(OpenCL with placement=migrate did not open: " + e.getMessage() + ")");
            }
        }
        return ManagedHeap.builder().backend("emulated").build();
    }

    /** The sentence that says what the demo runs instead of a device that shares host memory. */
    private static String howMigrationIsShown(ManagedHeap migrating) {
        Device device = migrating.devices().getFirst();
        String next = System.lineSeparator() + "        ";
        if (migrating.backendName().equals("opencl"))
            return "To show migration the demo runs it with placement=migrate:" + next
                    + "buffers of its own, and a host access to their data faults the blocks home.";
        return "To show migration the demo runs " + device.id() + " instead:" + next + describe(device) + ".";
    }

    private static String describe(Device device) {
        return switch (device.kind()) {
            case DISCRETE -> "device memory of its own, and a host access to its data faults the blocks home";
            case EMULATED -> "a separate allocation standing in for device memory, and a host access faults the blocks home";
            case COHERENT -> "the host's memory: nothing moves";
        };
    }

    private static int parse(String arg, String what) {
        try {
            return Integer.parseInt(arg);
        } catch (NumberFormatException e) {
            usage(what + " is not a number: " + arg);
            return 0;
        }
    }

    private static void usage(String problem) {
        System.err.println("hmm4j demo: " + problem);
        System.err.println("usage: Demo [size] [steps]   (defaults 1024 1000)");
        System.exit(2);
    }

    /** On demand, then copy-everything for as many steps as on demand took. */
    List<Run> compare() {
        warmUp();
        Run onDemand = run(Way.ON_DEMAND, steps);
        Run copying = run(Way.COPY_EVERYTHING, onDemand.steps());
        return List.of(onDemand, copying);
    }

    /** JIT, kernel builds and device pools for both ways, so that no measured run pays them alone. */
    void warmUp() {
        Demo quiet = new Demo(heap, size, Math.min(steps, WARM_UP_STEPS), new PrintStream(OutputStream.nullOutputStream()),
                false);
        quiet.run(Way.ON_DEMAND, quiet.steps);
        quiet.run(Way.COPY_EVERYTHING, quiet.steps);
    }

    /**
     * Runs the simulation for at most {@code maxSteps} steps. {@link Way#COPY_EVERYTHING}: after each kernel the
     * whole output grid is made host-writable (every block copied home, the device copy made stale), so the next
     * kernel copies the whole grid back: what a program with explicit whole-array copies does.
     */
    Run run(Way way, int maxSteps) {
        long cells = (long) size * size;
        Progress progress = new Progress(out, terminal, way.label, maxSteps);
        try (FloatArray a = heap.allocateFloats(cells); FloatArray b = heap.allocateFloats(cells)) {
            a.segment().fill((byte) 0);
            b.segment().fill((byte) 0);
            long[] probeCells = probeCells();
            float[] probes = new float[probeCells.length];
            float[] previous = new float[probeCells.length];
            List<Sample> samples = new ArrayList<>();
            int sampleEvery = Math.max(1, maxSteps / MAX_PICTURE_ROWS);
            boolean converged = false;
            int done = 0;
            HeapStats before = heap.stats();
            long start = System.nanoTime();
            FloatArray current = a;
            FloatArray next = b;
            for (int step = 1; step <= maxSteps; step++) {
                // The CPU drives the heater: the middle half of the top row, ramping up. A host write to a row the
                // device owns: one write fault on its block.
                float heat = HEATER_MAX * Math.min(1f, (float) step / HEATER_RAMP_STEPS);
                for (int x = size / 4; x < 3 * size / 4; x++)
                    current.set(x, heat);
                // Sampled here, just before the kernel: the heater's block is HOST (written), the probe blocks
                // SHARED (read at the last check), the rest DEVICE; the other grid SHARED (read by the last kernel).
                if (step % sampleEvery == 0 || step == 1 || step == maxSteps)
                    samples.add(new Sample(step, heap.residency(a).picture(), heap.residency(b).picture()));

                heap.launch(BuiltinKernel.STENCIL_2D, cells, Arg.read(current), Arg.write(next), Arg.of(size),
                        Arg.of(size), Arg.of(ALPHA));
                if (way == Way.COPY_EVERYTHING)
                    heap.makeHostWritable(next, 0, next.byteSize());
                FloatArray t = current;
                current = next;
                next = t;
                done = step;

                if (step % CHECK_EVERY == 0 || step == maxSteps) {
                    // A few probe cells: read faults on their blocks only.
                    float change = 0;
                    for (int i = 0; i < probeCells.length; i++) {
                        probes[i] = current.get(probeCells[i]);
                        change = Math.max(change, Math.abs(probes[i] - previous[i]));
                        previous[i] = probes[i];
                    }
                    // Steady state: the heat has reached every probe and none of them moves any more.
                    float coldest = Float.MAX_VALUE;
                    for (float p : probes)
                        coldest = Math.min(coldest, p);
                    if (step > HEATER_RAMP_STEPS && coldest > CONVERGED && change < CONVERGED * CHECK_EVERY)
                        converged = true;
                }
                progress.update(step, String.format(Locale.ROOT, "T(probe near heater) %.4f", probes[probes.length - 1]));
                if (converged)
                    break;
            }
            heap.synchronize();
            long nanos = System.nanoTime() - start;
            HeapStats after = heap.stats();
            progress.finish(done, String.format(Locale.ROOT, "%s%s", seconds(nanos),
                    converged ? ", converged: the probes stopped moving" : ""));
            return new Run(way, heap.devices().getFirst(), done, nanos, before, after, probes.clone(), converged,
                    samples);
        }
    }

    /** Probe cells on the centre column, at rows ever closer to the heater (different rows, mostly other blocks). */
    private long[] probeCells() {
        int c = size / 2;
        return new long[] {(long) (size / 2) * size + c, (long) (size / 4) * size + c, (long) (size / 8) * size + c,
                (long) (size / 16) * size + c, (long) (size / 64) * size + c};
    }

    private void writeSvg(Run onDemand, Path svg) throws IOException {
        Path absolute = svg.toAbsolutePath();
        Files.createDirectories(absolute.getParent());
        Files.writeString(absolute, svg(onDemand));
    }

    /**
     * The answer first (faster or slower than copy-everything, by how much, how many bytes did not move), then the
     * measurements behind it.
     *
     * @param runs on demand, then copy-everything, on this demo's heap
     * @param zeroCopy the same steps on a device that shares host memory, or {@code null}
     */
    void summary(List<Run> runs, Run zeroCopy, Path svg) {
        Run managed = runs.get(0);
        Run copying = runs.get(1);
        long notMoved = Math.max(0, copying.moved() - managed.moved());
        out.println();
        out.printf(Locale.ROOT, "%s: %s than copy-everything (%s vs %s for %d steps on %s).%n", Way.ON_DEMAND.label,
                fasterOrSlower(copying.nanos(), managed.nanos()), seconds(managed.nanos()), seconds(copying.nanos()),
                managed.steps(), managed.device().id());
        out.printf(Locale.ROOT, "%s of the %s that copy-everything copied did not move: hmm4j moved %s (%.1f%%), %s of"
                        + " it home by %d host faults.%n", human(notMoved), human(copying.moved()),
                human(managed.moved()), 100.0 * managed.moved() / Math.max(1, copying.moved()),
                human(managed.toHost(MigrationCause.FAULT)), managed.readFaults() + managed.writeFaults());
        if (zeroCopy != null)
            out.printf(Locale.ROOT, "zero-copy on %s: %s, %s moved, %s: a device that shares host memory needs no"
                            + " migration at all.%n", zeroCopy.device().id(), seconds(zeroCopy.nanos()),
                    human(zeroCopy.moved()), versus(managed.nanos(), zeroCopy.nanos(), "on demand"));

        long bytes = (long) size * size * Float.BYTES;
        long blocks = (bytes + heap.blockSize() - 1) / heap.blockSize();
        out.println();
        out.printf(Locale.ROOT, "grid             %d x %d floats, 2 arrays of %s, %d blocks of %s each%n", size, size,
                human(bytes), blocks, human(heap.blockSize()));
        out.printf(Locale.ROOT, "steps            %d%s, probe check every %d steps%n", managed.steps(),
                managed.converged() ? " (converged: the probes stopped moving)" : "", CHECK_EVERY);
        out.printf(Locale.ROOT, "probes (T)       %s%n", java.util.Arrays.toString(managed.probes()));
        out.println();
        List<Run> all = new ArrayList<>(runs);
        if (zeroCopy != null)
            all.add(zeroCopy);
        row(all, "", r -> r.way().label);
        row(all, "device", r -> r.device().id());
        row(all, "wall time", r -> seconds(r.nanos()));
        row(all, "time per step", r -> micros(r.nanos() / r.steps()));
        row(all, "kernel launches", r -> Long.toString(r.launches()));
        row(all, "host read faults", r -> Long.toString(r.readFaults()));
        row(all, "host write faults", r -> Long.toString(r.writeFaults()));
        row(all, "bytes to device", r -> human(r.toDevice()));
        row(all, "bytes to host", r -> human(r.toHost()));
        row(all, "  of which by faults", r -> human(r.toHost(MigrationCause.FAULT)));
        out.println();
        float diff = 0;
        for (Run other : all)
            for (int i = 0; i < managed.probes().length; i++)
                diff = Math.max(diff, Math.abs(managed.probes()[i] - other.probes()[i]));
        out.printf(Locale.ROOT, "all runs agree on the probes: max |difference| = %g%n", diff);
        out.println("residency picture of the on-demand run: " + svg.toAbsolutePath());
    }

    /** E.g. {@code 4.8x faster}: a run of {@code nanos} against one of {@code baselineNanos}. */
    private static String fasterOrSlower(long baselineNanos, long nanos) {
        double speedUp = (double) baselineNanos / nanos;
        return String.format(Locale.ROOT, "%.1fx %s", speedUp >= 1 ? speedUp : 1 / speedUp,
                speedUp >= 1 ? "faster" : "slower");
    }

    /** Like {@link #fasterOrSlower} with the baseline named, but within 10 % it says they are the same. */
    private static String versus(long baselineNanos, long nanos, String baseline) {
        double speedUp = (double) baselineNanos / nanos;
        if (speedUp > 1 / 1.1 && speedUp < 1.1)
            return "about as fast as " + baseline;
        return fasterOrSlower(baselineNanos, nanos) + " than " + baseline;
    }

    private void row(List<Run> runs, String label, Function<Run, String> cell) {
        StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "%-22s", label));
        for (Run run : runs)
            line.append(String.format(Locale.ROOT, " %19s", cell.apply(run)));
        out.println(line);
    }

    private static String seconds(long nanos) {
        return String.format(Locale.ROOT, "%.3f s", nanos / 1e9);
    }

    private static String micros(long nanos) {
        return String.format(Locale.ROOT, "%.1f µs", nanos / 1e3);
    }

    static String human(long bytes) {
        if (bytes < 1024)
            return bytes + " B";
        if (bytes < 1L << 20)
            return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        if (bytes < 1L << 30)
            return String.format(Locale.ROOT, "%.1f MiB", bytes / (double) (1 << 20));
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30));
    }

    /** The residency picture: for each sampled step, both grids' blocks coloured by state. */
    String svg(Run run) {
        List<Sample> samples = run.samples();
        int blocks = samples.getFirst().gridA().length();
        int cell = Math.max(2, Math.min(24, 480 / blocks));
        int rowHeight = 8;
        int labelWidth = 70;
        int gap = 30;
        int panel = blocks * cell;
        int top = 70;
        int width = labelWidth + 2 * panel + gap + 20;
        int height = top + samples.size() * rowHeight + 50;
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">%n",
                width, height));
        s.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", width, height));
        s.append(String.format(Locale.ROOT,
                "<text x=\"10\" y=\"18\" font-size=\"14\">hmm4j residency over time — %s, %d x %d grid, %d steps, block %s</text>%n",
                escape(heap.backendName()), size, size, run.steps(), human(heap.blockSize())));
        s.append(legend(10, 36));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">grid A</text>%n", labelWidth, top - 6));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">grid B</text>%n", labelWidth + panel + gap, top - 6));
        for (int r = 0; r < samples.size(); r++) {
            Sample sample = samples.get(r);
            int y = top + r * rowHeight;
            s.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"%d\" font-size=\"8\">step %d</text>%n",
                    y + rowHeight - 1, sample.step()));
            cells(s, sample.gridA(), labelWidth, y, cell, rowHeight);
            cells(s, sample.gridB(), labelWidth + panel + gap, y, cell, rowHeight);
        }
        s.append(String.format(Locale.ROOT,
                "<text x=\"10\" y=\"%d\">Each row: both grids just before that step's kernel (it reads one, writes the other). "
                        + "Block 0: the CPU's heater write; SHARED blocks: probe reads.</text>%n",
                top + samples.size() * rowHeight + 20));
        s.append("</svg>\n");
        return s.toString();
    }

    private static void cells(StringBuilder s, String picture, int x, int y, int cell, int height) {
        // Runs of equal state become one rect: a 4096-block grid stays a small file.
        int i = 0;
        while (i < picture.length()) {
            char state = picture.charAt(i);
            int j = i + 1;
            while (j < picture.length() && picture.charAt(j) == state)
                j++;
            s.append(String.format(Locale.ROOT,
                    "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>%n",
                    x + i * cell, y, (j - i) * cell, height - 1, colour(state)));
            i = j;
        }
    }

    private static String legend(int x, int y) {
        StringBuilder s = new StringBuilder();
        String[][] items = {{"H", "HOST (host copy only, writable)"}, {"S", "SHARED (both valid, host read-only)"},
                {"D", "DEVICE (device only, host access faults)"}};
        for (String[] item : items) {
            s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                    + "<text x=\"%d\" y=\"%d\">%s</text>%n", x, y, colour(item[0].charAt(0)), x + 16, y + 10, item[1]));
            x += 230;
        }
        return s.toString();
    }

    private static String colour(char state) {
        return switch (state) {
            case 'H' -> "#e4572e";
            case 'S' -> "#f3a712";
            case 'D' -> "#2e86ab";
            default -> "#999999";
        };
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
