package io.hmm4j.conformance;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Random;

/**
 * The other process of {@link SharedArrayConformanceTest}: a JVM that opens the test's shared arrays by name and
 * plays one role, talking to the test by lines on stdin and stdout.
 *
 * <p>Arguments: {@code backend settings role args...} where settings is {@code k=v,k=v} or {@code -}.
 * <ul>
 * <li>{@code model W H seed}: until the test sends {@code STOP k}, writes small integers to H at positions drawn
 *     from {@code seed} (the test replays them as its byte model) and reads W, which the test fills by kernels with
 *     1, 2, 3...: every value read must be one of them and never older than one read before at the same place.
 *     Then W must hold k everywhere. Answers {@code DONE writes bad}.</li>
 * <li>{@code hold W value}: fills W on its own device by a kernel ({@code value} everywhere), answers
 *     {@code HELD}, then waits for a line and exits (or is killed holding the blocks).</li>
 * <li>{@code idle W}: opens W, answers {@code READY}, waits for a line and exits.</li>
 * <li>{@code timeout W}: reads W and launches on it while a stopped peer holds it (run with a short
 *     {@code -Dhmm4j.shared.timeoutMillis}); answers {@code READ InternalError ms} and
 *     {@code LAUNCH IllegalStateException ms message}.</li>
 * </ul>
 */
public final class SharedArrayPeer {

    private SharedArrayPeer() {}

    public static void main(String[] args) throws Exception {
        ManagedHeap.Builder builder = ManagedHeap.builder().backend(args[0]).blockSize(SharedArrayConformanceTest.BLOCK);
        if (!args[1].equals("-"))
            for (String setting : args[1].split(",")) {
                String[] kv = setting.split("=", 2);
                builder.setting(kv[0], kv[1]);
            }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (ManagedHeap heap = builder.build()) {
            switch (args[2]) {
                case "model" -> model(heap, in, args[3], args[4], Long.parseLong(args[5]));
                case "hold" -> hold(heap, in, args[3], Float.parseFloat(args[4]));
                case "timeout" -> timeout(heap, args[3]);
                case "idle" -> {
                    try (FloatArray w = heap.openSharedFloats(args[3])) {
                        say("READY " + w.length());
                        in.readLine();
                    }
                }
                default -> throw new IllegalArgumentException("unknown role " + args[2]);
            }
        }
    }

    private static void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    /** The positions and values the model role writes to H, in order; the test replays the same sequence. */
    public static final class Writes {
        private final Random random;
        private final int length;
        int index;
        float value;

        public Writes(long seed, int length) {
            this.random = new Random(seed);
            this.length = length;
        }

        public void next() {
            index = random.nextInt(length);
            value = random.nextInt(1, 4);
        }
    }

    private static void model(ManagedHeap heap, BufferedReader in, String wName, String hName, long seed)
            throws Exception {
        try (FloatArray w = heap.openSharedFloats(wName); FloatArray h = heap.openSharedFloats(hName)) {
            int n = (int) w.length();
            float[] lastSeen = new float[n];
            Random reads = new Random(seed ^ 0x5eed);
            Writes writes = new Writes(seed, (int) h.length());
            long count = 0;
            long bad = 0;
            String firstBad = null;
            var stop = new java.util.concurrent.atomic.AtomicReference<String>();
            Thread reader = Thread.ofPlatform().daemon().start(() -> {
                try {
                    stop.set(in.readLine());
                } catch (java.io.IOException e) {
                    stop.set("STOP -1");
                }
            });
            say("READY");
            while (stop.get() == null) {
                writes.next();
                h.set(writes.index, writes.value);
                count++;
                int i = reads.nextInt(n);
                float v = w.get(i);
                if (v != Math.rint(v) || v < lastSeen[i]) {
                    bad++;
                    if (firstBad == null)
                        firstBad = "W[" + i + "] = " + v + " after " + lastSeen[i];
                } else {
                    lastSeen[i] = v;
                }
            }
            reader.join();
            float last = Float.parseFloat(stop.get().substring("STOP ".length()));
            float[] all = w.toArray();
            for (int i = 0; i < n; i++)
                if (all[i] != last) {
                    bad++;
                    if (firstBad == null)
                        firstBad = "final W[" + i + "] = " + all[i] + ", not " + last;
                }
            say("DONE " + count + " " + bad + (firstBad == null ? "" : " " + firstBad.replace(' ', '_')));
        }
    }

    /** Reads and launches on W, which a stopped peer holds: both must fail within the timeout, not hang. */
    private static void timeout(ManagedHeap heap, String wName) throws Exception {
        try (FloatArray w = heap.openSharedFloats(wName)) {
            long start = System.nanoTime();
            try {
                say("READ returned " + w.get(0));
            } catch (InternalError e) {
                say("READ InternalError " + (System.nanoTime() - start) / 1_000_000);
            }
            start = System.nanoTime();
            try {
                heap.launch(BuiltinKernel.FILL, w.length(), Arg.write(w), Arg.of(1f), Arg.of(w.length())).await();
                say("LAUNCH returned");
            } catch (IllegalStateException e) {
                say("LAUNCH IllegalStateException " + (System.nanoTime() - start) / 1_000_000 + " "
                        + e.getMessage().replace(' ', '_'));
            }
        }
    }

    private static void hold(ManagedHeap heap, BufferedReader in, String wName, float value) throws Exception {
        try (FloatArray w = heap.openSharedFloats(wName)) {
            heap.launch(BuiltinKernel.FILL, w.length(), Arg.write(w), Arg.of(value), Arg.of(w.length())).await();
            say("HELD " + heap.residency(w).picture());
            in.readLine();
        }
    }
}
