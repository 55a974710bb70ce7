package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.ByteArray;
import io.hmm4j.FloatArray;
import io.hmm4j.Launch;
import io.hmm4j.ManagedHeap;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Arrays shared between processes ({@link ManagedHeap#share}), written once for every backend: this JVM and a
 * child JVM ({@link SharedArrayPeer}) read and write the same arrays while one of them launches kernels, checked
 * against a byte model; a peer killed while it holds blocks on its device, or while the survivor waits for it in
 * the middle of a shootdown, never wedges the survivor. Without the backend's device the suite is skipped with
 * {@link #unavailabilityCause()} as the reason.
 */
public abstract class SharedArrayConformanceTest {

    static final long BLOCK = 64 * 1024;
    private static final int BLOCK_FLOATS = (int) (BLOCK / Float.BYTES);
    private static final AtomicInteger NAMES = new AtomicInteger();
    /** What a wait for a dead peer may take here: its liveness is looked at every 50 ms. */
    private static final long RECOVERY_BOUND_MILLIS = 5_000;

    protected ManagedHeap heap;
    private final List<String> names = new ArrayList<>();
    private final List<Process> peers = new ArrayList<>();

    /** The backend name for {@link ManagedHeap.Builder#backend(String)}. */
    protected abstract String backend();

    /** Backend settings, e.g. {@code Map.of("placement", "migrate")}. */
    protected Map<String, String> settings() {
        return Map.of();
    }

    /** {@code null} when the backend can run here, else why not (the skip reason). */
    protected abstract String unavailabilityCause();

    @BeforeEach
    void openHeap() {
        String cause = unavailabilityCause();
        Assumptions.assumeTrue(cause == null, () -> backend() + " not available: " + cause);
        ManagedHeap.Builder builder = ManagedHeap.builder().backend(backend()).blockSize(BLOCK);
        settings().forEach(builder::setting);
        heap = builder.build();
    }

    @AfterEach
    void cleanUp() throws IOException, InterruptedException {
        for (Process peer : peers)
            peer.destroyForcibly().waitFor();
        if (heap != null)
            heap.close();
        for (String name : names)
            ManagedHeap.unlinkShared(name);
    }

    private String name(String what) {
        String name = "test-" + ProcessHandle.current().pid() + "-" + NAMES.incrementAndGet() + "-" + what;
        names.add(name);
        return name;
    }

    /** A child JVM and its lines. */
    private final class Peer {
        final Process process;
        final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        final Writer stdin;

        Peer(String role, String... args) throws IOException {
            this(List.of("-Xmx128m"), role, args);
        }

        Peer(List<String> jvmOptions, String role, String... args) throws IOException {
            List<String> all = new ArrayList<>(List.of(backend(), settings().isEmpty() ? "-"
                    : settings().entrySet().stream().map(e -> e.getKey() + "=" + e.getValue())
                            .collect(Collectors.joining(",")), role));
            all.addAll(List.of(args));
            process = ChildJvm.start(SharedArrayPeer.class, jvmOptions, all.toArray(String[]::new));
            peers.add(process);
            stdin = new java.io.OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            Thread.ofPlatform().daemon().start(() -> {
                try (BufferedReader out = new BufferedReader(
                        new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = out.readLine()) != null; )
                        lines.add(line);
                } catch (IOException ignored) {
                    // the peer was killed: its pipe breaks
                }
                lines.add("EOF");
            });
        }

        /** The next line, which must start with {@code prefix}. */
        String expect(String prefix) throws InterruptedException {
            String line = lines.poll(20, TimeUnit.SECONDS);
            assertThat(line).as("peer's answer (expected %s)", prefix).isNotNull().startsWith(prefix);
            return line;
        }

        void send(String line) throws IOException {
            stdin.write(line + "\n");
            stdin.flush();
        }

        void kill() throws InterruptedException {
            assertThat(process.destroyForcibly().waitFor(10, TimeUnit.SECONDS)).as("killed peer ended").isTrue();
        }

        void awaitExit() throws InterruptedException {
            assertThat(process.waitFor(20, TimeUnit.SECONDS)).as("peer ended").isTrue();
            assertThat(process.exitValue()).as("peer's exit code").isZero();
        }
    }

    /**
     * Stops a peer (SIGSTOP) and returns once every one of its threads is stopped: the signal is delivered
     * asynchronously, and a thread that still runs after kill(1) returned could answer (a flaky test, 3 of 20 in C).
     */
    private static void stop(Process process) throws IOException, InterruptedException {
        assertThat(new ProcessBuilder("kill", "-STOP", Long.toString(process.pid())).start().waitFor()).isZero();
        java.nio.file.Path tasks = java.nio.file.Path.of("/proc", Long.toString(process.pid()), "task");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            boolean allStopped = true;
            try (var threads = java.nio.file.Files.list(tasks)) {
                for (java.nio.file.Path thread : (Iterable<java.nio.file.Path>) threads::iterator) {
                    String stat;
                    try {
                        stat = java.nio.file.Files.readString(thread.resolve("stat"));
                    } catch (NoSuchFileException exited) {
                        continue;
                    }
                    // The state follows the command name, which may itself hold ") ".
                    if (stat.charAt(stat.lastIndexOf(')') + 2) != 'T')
                        allStopped = false;
                }
            }
            if (allStopped)
                return;
            assertThat(System.nanoTime()).as("peer %d stopped within 10 s", process.pid()).isLessThan(deadline);
            Thread.sleep(1);
        }
    }

    private Launch fill(FloatArray array, float value) {
        return heap.launch(BuiltinKernel.FILL, array.length(), Arg.write(array), Arg.of(value), Arg.of(array.length()));
    }

    /** Every element is {@code value}; a failure names the first one that is not (not the whole array). */
    private static void assertAll(float[] values, float value, String what) {
        for (int i = 0; i < values.length; i++)
            if (values[i] != value)
                throw new AssertionError(what + ": element " + i + " of " + values.length + " is " + values[i]
                        + ", expected " + value);
    }

    private static float[] filled(int n, float value) {
        float[] values = new float[n];
        Arrays.fill(values, value);
        return values;
    }

    @Test
    void twoProcessesAgreeWithAByteModelWhileOneLaunchesKernels() throws Exception {
        int n = 8 * BLOCK_FLOATS;
        long seed = System.nanoTime();
        String wName = name("w"), hName = name("h");
        try (FloatArray w = heap.shareFloats(wName, n); FloatArray h = heap.shareFloats(hName, n);
             FloatArray sum = heap.allocateFloats(1)) {
            Peer peer = new Peer("model", wName, hName, Long.toString(seed));
            peer.expect("READY");
            int rounds = 60;
            java.util.Random random = new java.util.Random(seed);
            for (int k = 1; k <= rounds; k++) {
                fill(w, k).await();
                // The peer never writes W: right after the kernel every read here sees its result.
                for (int probe = 0; probe < 4; probe++)
                    assertThat(w.get(random.nextInt(n))).as("W after fill %d", k).isEqualTo((float) k);
                // A kernel that reads H holds its blocks: the peer's writes to H wait for it and are never lost.
                heap.launch(BuiltinKernel.SUM, n, Arg.read(h), Arg.write(sum), Arg.of((long) n)).await();
                h.get(random.nextInt(n));
            }
            peer.send("STOP " + rounds);
            String[] done = peer.expect("DONE").split(" ");
            assertThat(Long.parseLong(done[2])).as("peer's wrong reads of W: %s", done.length > 3 ? done[3] : "").isZero();
            long writes = Long.parseLong(done[1]);
            assertThat(writes).as("the peer wrote while the kernels ran").isPositive();
            peer.awaitExit();

            SharedArrayPeer.Writes replay = new SharedArrayPeer.Writes(seed, n);
            float[] model = new float[n];
            for (long i = 0; i < writes; i++) {
                replay.next();
                model[replay.index] = replay.value;
            }
            byte[] seen = bytes(h.toArray()), expected = bytes(model);
            int mismatches = 0, first = -1;
            for (int i = 0; i < seen.length; i++)
                if (seen[i] != expected[i] && mismatches++ == 0)
                    first = i;
            assertThat(mismatches).as("bytes of H that differ from the model of the peer's %d writes (first at %d)",
                    writes, first).isZero();
            heap.launch(BuiltinKernel.SUM, n, Arg.read(h), Arg.write(sum), Arg.of((long) n)).await();
            double expectedSum = 0;
            for (float v : model)
                expectedSum += v;
            assertThat(sum.get(0)).as("a kernel reads what the peer wrote").isEqualTo((float) expectedSum);
            assertThat(w.lostBlocks()).isZero();
        }
    }

    private static byte[] bytes(float[] values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.nativeOrder());
        buffer.asFloatBuffer().put(values);
        return buffer.array();
    }

    @Test
    void aPeerHoldingBlocksOnItsDeviceGivesThemBackOnAccess() throws Exception {
        int n = 4 * BLOCK_FLOATS;
        String wName = name("w");
        try (FloatArray w = heap.shareFloats(wName, n)) {
            w.copyFrom(filled(n, 7));
            Peer peer = new Peer("hold", wName, "42");
            peer.expect("HELD");
            assertAll(w.toArray(), 42, "the peer's kernel result, fetched from its device");
            w.set(5, 1);
            peer.send("EXIT");
            peer.awaitExit();
            float[] seen = w.toArray();
            assertThat(seen[5]).isEqualTo(1f);
            seen[5] = 42;
            assertAll(seen, 42, "the peer's result after it left");
            assertThat(w.lostBlocks()).isZero();
            assertThat(w.recoveredPeers()).isZero();
        }
    }

    @Test
    void aPeerKilledWhileHoldingBlocksLeavesTheLastHostCopyAndCountsThem() throws Exception {
        int blocks = 4;
        int n = blocks * BLOCK_FLOATS;
        String wName = name("w");
        try (FloatArray w = heap.shareFloats(wName, n)) {
            w.copyFrom(filled(n, 7));
            Peer peer = new Peer("hold", wName, "42");
            peer.expect("HELD");
            peer.kill();
            long start = System.nanoTime();
            float[] seen = w.toArray();
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertThat(millis).as("survivor's first access after the kill (ms)").isLessThan(RECOVERY_BOUND_MILLIS);
            assertAll(seen, 7, "the last host copy: the kernel's result died with the peer");
            assertThat(w.lostBlocks()).as("blocks whose newest bytes died with the peer").isEqualTo(blocks);
            assertThat(w.recoveredPeers()).isEqualTo(1);
            fill(w, 3).await();
            assertAll(w.toArray(), 3, "the survivor goes on launching");
        }
    }

    @Test
    void aHostAccessWaitingForAHungHolderGoesOnWhenTheHolderIsKilled() throws Exception {
        int blocks = 4;
        int n = blocks * BLOCK_FLOATS;
        String wName = name("w");
        try (FloatArray w = heap.shareFloats(wName, n)) {
            w.copyFrom(filled(n, 7));
            Peer peer = new Peer("hold", wName, "42");
            peer.expect("HELD");
            // Stopped while it holds the blocks: a host access here waits in the fault handler for an answer.
            stop(peer.process);
            CompletableFuture<float[]> read = CompletableFuture.supplyAsync(w::toArray);
            Thread.sleep(300);
            assertThat(read.isDone()).as("a host access waits for a live holder (peer alive: %s, read: %s)",
                    peer.process.isAlive(), read).isFalse();
            peer.kill();
            long start = System.nanoTime();
            float[] seen = read.get(RECOVERY_BOUND_MILLIS, TimeUnit.MILLISECONDS);
            assertThat(TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start)).as("the access's wait after the kill (ms)")
                    .isLessThan(RECOVERY_BOUND_MILLIS);
            assertAll(seen, 7, "the last host copy after the holder died during the wait");
            assertThat(w.lostBlocks()).isEqualTo(blocks);
            assertThat(w.recoveredPeers()).isEqualTo(1);
        }
    }

    @Test
    void aPeerThatHangsInAShootdownAndIsKilledDoesNotWedgeTheLauncher() throws Exception {
        int n = 4 * BLOCK_FLOATS;
        String wName = name("w");
        try (FloatArray w = heap.shareFloats(wName, n)) {
            Peer peer = new Peer("idle", wName);
            peer.expect("READY");
            // Warm: a first launch builds kernels, which must not pass for a wait below.
            try (FloatArray warm = heap.allocateFloats(BLOCK_FLOATS)) {
                fill(warm, 1).await();
            }
            // Stopped, the peer is alive but acknowledges nothing: the launch waits in its shootdown.
            stop(peer.process);
            CompletableFuture<Void> launch = CompletableFuture.runAsync(() -> fill(w, 9).await());
            Thread.sleep(300);
            assertThat(launch.isDone()).as("a launch waits for a live peer's acknowledgement (peer alive: %s, launch: %s)",
                    peer.process.isAlive(), launch).isFalse();
            peer.kill();
            long start = System.nanoTime();
            launch.get(RECOVERY_BOUND_MILLIS, TimeUnit.MILLISECONDS);
            long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            assertThat(millis).as("the launch's wait after the kill (ms)").isLessThan(RECOVERY_BOUND_MILLIS);
            assertAll(w.toArray(), 9, "the launch that waited for the killed peer");
            assertThat(w.recoveredPeers()).isEqualTo(1);
            assertThat(w.lostBlocks()).as("the peer held nothing").isZero();
        }
    }

    @Test
    void aLivePeerThatDoesNotAnswerFailsAccessesAndLaunchesWithinTheTimeout() throws Exception {
        int blocks = 2;
        int n = blocks * BLOCK_FLOATS;
        String wName = name("w");
        try (FloatArray w = heap.shareFloats(wName, n)) {
            w.copyFrom(filled(n, 7));
            Peer holder = new Peer("hold", wName, "42");
            holder.expect("HELD");
            stop(holder.process);
            Peer other = new Peer(List.of("-Xmx128m", "-Dhmm4j.shared.timeoutMillis=1000"), "timeout", wName);
            String[] read = other.expect("READ").split(" ");
            assertThat(read[1]).as("a host access to a block a hung peer holds").isEqualTo("InternalError");
            assertThat(Long.parseLong(read[2])).as("its wait (ms)").isBetween(900L, RECOVERY_BOUND_MILLIS);
            String[] launch = other.expect("LAUNCH").split(" ");
            assertThat(launch[1]).as("a launch that needs blocks a hung peer holds").isEqualTo("IllegalStateException");
            assertThat(Long.parseLong(launch[2])).as("its wait (ms)").isBetween(900L, RECOVERY_BOUND_MILLIS);
            assertThat(launch[3]).contains("ETIMEDOUT");
            other.awaitExit();
            holder.kill();
            assertAll(w.toArray(), 7, "the last host copy once the hung holder is killed");
            assertThat(w.lostBlocks()).isEqualTo(blocks);
        }
    }

    @Test
    void twoAttachmentsInOneProcessStayCoherent() throws Exception {
        int n = 3 * BLOCK_FLOATS;
        String wName = name("w");
        try (FloatArray a = heap.shareFloats(wName, n); FloatArray b = heap.openSharedFloats(wName)) {
            assertThat(b.length()).isEqualTo(n);
            assertThat(b.isShared()).isTrue();
            assertThat(b.sharedName()).isEqualTo(wName);
            fill(a, 5).await();
            assertAll(b.toArray(), 5, "b sees a's kernel result");
            b.set(0, 6);
            fill(b, 8).await();
            heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(a), Arg.of(2f), Arg.of((long) n)).await();
            assertAll(b.toArray(), 16, "b after b's fill and a's scale");
            assertThat(a.get(n - 1)).isEqualTo(16f);
        }
    }

    @Test
    void badInputIsRefusedClearly() throws Exception {
        String wName = name("w");
        assertThatThrownBy(() -> heap.share(null, 10)).isInstanceOf(NullPointerException.class);
        for (String bad : List.of("", ".hidden", "a/b", "..", "with space", "x".repeat(201), "ü"))
            assertThatThrownBy(() -> heap.share(bad, 10)).as("name %s", bad).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> heap.share(wName, 0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> heap.share(wName, -1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> heap.shareFloats(wName, Long.MAX_VALUE / 2)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> heap.share(wName, ManagedHeap.MAX_ARRAY_BYTES + 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> heap.openShared(wName)).isInstanceOf(NoSuchFileException.class);
        assertThat(ManagedHeap.unlinkShared(wName)).isFalse();
        FloatArray floats = heap.shareFloats(wName, 1000);
        assertThatThrownBy(() -> heap.shareFloats(wName, 1000)).isInstanceOf(FileAlreadyExistsException.class);
        assertThatThrownBy(() -> heap.openShared(wName)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("openSharedFloats");
        ByteArray bytesView = null;
        String bName = name("b");
        try (ByteArray bytes = heap.share(bName, 100)) {
            assertThat(bytes.length()).isEqualTo(100);
            assertThatThrownBy(() -> heap.openSharedFloats(bName)).isInstanceOf(IllegalArgumentException.class);
            bytesView = heap.openShared(bName);
            bytes.set(99, (byte) 3);
            assertThat(bytesView.get(99)).isEqualTo((byte) 3);
        }
        assertThat(bytesView.get(99)).as("closing one attachment leaves the other").isEqualTo((byte) 3);
        ManagedHeap.Builder otherBlocks = ManagedHeap.builder().backend(backend()).blockSize(2 * BLOCK);
        settings().forEach(otherBlocks::setting);
        try (ManagedHeap other = otherBlocks.build()) {
            assertThatThrownBy(() -> other.openShared(bName)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("block");
        }
        bytesView.close();
        floats.close();
        assertThatThrownBy(floats::lostBlocks).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> floats.get(0)).isInstanceOf(IllegalStateException.class);
        try (FloatArray again = heap.openSharedFloats(wName)) {
            assertThat(again.length()).as("the name outlives its attachments until unlinked").isEqualTo(1000);
        }
        assertThat(ManagedHeap.unlinkShared(wName)).isTrue();
        assertThatThrownBy(() -> heap.openSharedFloats(wName)).isInstanceOf(NoSuchFileException.class);
        try (FloatArray local = heap.allocateFloats(10)) {
            assertThat(local.isShared()).isFalse();
            assertThat(local.lostBlocks()).isZero();
        }
        heap.close();
        assertThatThrownBy(() -> heap.share(name("c"), 10)).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> heap.openShared(bName)).isInstanceOf(IllegalStateException.class);
    }
}
