package io.hmm4j.internal.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.BlockState;
import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.ffm.hmm4j_stats;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * At the kernel's limit of memory mappings (vm.max_map_count, 65530 by default) mprotect fails with ENOMEM.
 * Reading every other block of a device-resident region makes each read block a mapping of its own until the
 * limit is reached. The fault that cannot be served must be reported (InternalError via SIGBUS), never left as
 * a block whose state says readable while its pages are not (every re-fault "already served": a spin forever).
 * Runs the real limit in a child JVM, so a regression is a failed test and not a hung test run.
 */
class MappingLimitTest {

    private static final long BLOCK = 4096;

    /** Runs in the child JVM. */
    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("inject"))
            injectedFailures();
        else
            realLimit();
    }

    /** Protection failures injected where nothing can serve the fault: each access is reported, then works. */
    private static void injectedFailures() {
        long blocks = 8;
        try (Arena arena = Arena.ofShared(); NativeCopyEngine engine = NativeCopyEngine.emulated("inject:0", 0, 0)) {
            MemorySegment stats = arena.allocate(hmm4j_stats.$LAYOUT);
            MemorySegment device = arena.allocate(blocks * BLOCK, BLOCK);
            Region region = Region.create(blocks * BLOCK, BLOCK, stats);
            region.bind(engine.handle(), device.address());
            MemorySegment user = region.userView().reinterpret(blocks * BLOCK, arena, null);
            for (long b = 0; b < blocks; b++)
                user.set(ValueLayout.JAVA_LONG, b * BLOCK, b);
            int readWrite = hmm4j_h.HMM4J_INTENT_READ | hmm4j_h.HMM4J_INTENT_WRITE;
            region.migrate(0, blocks, hmm4j_h.HMM4J_TO_DEVICE, readWrite, hmm4j_h.HMM4J_CAUSE_LAUNCH, null);
            // Every attempt of the fault path fails.
            region.injectProtectFailure(0, Integer.MAX_VALUE);
            try {
                System.out.println("READ " + user.get(ValueLayout.JAVA_LONG, 6 * BLOCK));
            } catch (InternalError e) {
                System.out.println("READ REPORTED " + region.snapshot()[6]);
            }
            region.injectProtectFailure(0, 0);
            System.out.println("READ AGAIN " + user.get(ValueLayout.JAVA_LONG, 6 * BLOCK));
            region.migrate(0, blocks, hmm4j_h.HMM4J_TO_HOST, hmm4j_h.HMM4J_INTENT_WRITE, hmm4j_h.HMM4J_CAUSE_PREFETCH, null);
            // A failed copy whose rollback fails too leaves HOST behind protected pages; the repair fails as well.
            engine.inject(NativeCopyEngine.Injection.COPY_TO_DEVICE, 0);
            region.injectProtectFailure(1, 2 + (int) blocks);
            System.out.println("COPY " + region.migrate(0, blocks, hmm4j_h.HMM4J_TO_DEVICE, readWrite,
                    hmm4j_h.HMM4J_CAUSE_LAUNCH, null));
            try {
                user.set(ValueLayout.JAVA_LONG, 3 * BLOCK, 33);
                System.out.println("WRITE DONE");
            } catch (InternalError e) {
                System.out.println("WRITE REPORTED " + region.snapshot()[3]);
            }
            user.set(ValueLayout.JAVA_LONG, 3 * BLOCK, 34);
            System.out.println("WRITE AGAIN " + user.get(ValueLayout.JAVA_LONG, 3 * BLOCK));
            region.unbind(0);
            region.destroy();
        }
        System.out.println("DONE");
    }

    private static void realLimit() throws Exception {
        long maxMaps = Long.parseLong(Files.readAllLines(Path.of("/proc/sys/vm/max_map_count")).getFirst().trim());
        // Every other block read gives two mappings each; the margin covers the JVM's own mappings.
        long blocks = Math.addExact(maxMaps, 4096);
        try (Arena arena = Arena.ofShared(); NativeCopyEngine engine = NativeCopyEngine.emulated("limit:0", 0, 0)) {
            MemorySegment stats = arena.allocate(hmm4j_stats.$LAYOUT);
            MemorySegment device = arena.allocate(blocks * BLOCK, BLOCK);
            for (long b = 0; b < blocks; b++)
                device.set(ValueLayout.JAVA_LONG, b * BLOCK, b);
            Region region = Region.create(blocks * BLOCK, BLOCK, stats);
            region.bind(engine.handle(), device.address());
            MemorySegment user = region.userView().reinterpret(blocks * BLOCK, arena, null);
            // Write-only intent copies nothing: the whole region becomes DEVICE as one mapping.
            System.out.println("TO_DEVICE " + region.migrate(0, blocks, hmm4j_h.HMM4J_TO_DEVICE,
                    hmm4j_h.HMM4J_INTENT_WRITE, hmm4j_h.HMM4J_CAUSE_LAUNCH, null));
            long failedAt = -1;
            for (long b = 0; b < blocks && failedAt < 0; b += 2) {
                try {
                    long value = user.get(ValueLayout.JAVA_LONG, b * BLOCK);
                    if (value != b)
                        System.out.println("BAD VALUE " + value + " in block " + b);
                } catch (InternalError e) {
                    failedAt = b;
                }
            }
            System.out.println("FAULT FAILED AT " + failedAt);
            if (failedAt < 0)
                return;
            BlockState[] states = region.snapshot();
            System.out.println("FAILED BLOCK " + states[(int) failedAt]);
            // A call that needs another mapping is refused with the engine's code and changes nothing.
            System.out.println("CALL " + region.migrate(failedAt + 3, 1, hmm4j_h.HMM4J_TO_HOST,
                    hmm4j_h.HMM4J_INTENT_WRITE, hmm4j_h.HMM4J_CAUSE_PREFETCH, null));
            System.out.println("CALL BLOCK " + region.snapshot()[(int) failedAt + 3]);
            // Making the whole region HOST merges it into one mapping again: the region is usable.
            System.out.println("HOME " + region.migrate(0, blocks, hmm4j_h.HMM4J_TO_HOST, hmm4j_h.HMM4J_INTENT_WRITE,
                    hmm4j_h.HMM4J_CAUSE_PREFETCH, null));
            long wrong = 0;
            for (long b = 0; b < blocks; b++)
                if (user.get(ValueLayout.JAVA_LONG, b * BLOCK) != b)
                    wrong++;
            user.set(ValueLayout.JAVA_LONG, failedAt * BLOCK, -1);
            System.out.println("WRONG AFTER HOME " + wrong);
            region.unbind(0);
            region.destroy();
        }
        System.out.println("DONE");
    }

    private static String runChild(Path dir, String... args) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Path log = dir.resolve("out.txt");
        List<String> command = new java.util.ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED",
                "-Xmx256m", "-cp", System.getProperty("java.class.path"), MappingLimitTest.class.getName()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        boolean exited = p.waitFor(60, TimeUnit.SECONDS);
        if (!exited)
            p.destroyForcibly().waitFor();
        String out = Files.readString(log, StandardCharsets.UTF_8);
        assertThat(exited).as("child JVM hung:\n" + out).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out;
    }

    @Test
    void faultsThatCannotChangeProtectionAreReportedThenWorkAgain(@TempDir Path dir) throws Exception {
        String out = runChild(dir, "inject");
        assertThat(out).as(out).contains("READ REPORTED DEVICE").contains("READ AGAIN 6").contains("COPY -5")
                .contains("WRITE REPORTED HOST").contains("WRITE AGAIN 34").contains("DONE");
    }

    @Test
    void aFaultAtTheMappingLimitIsReportedAndTheRegionStaysUsable(@TempDir Path dir) throws Exception {
        String out = runChild(dir);
        assertThat(out).as(out).contains("TO_DEVICE 0").doesNotContain("FAULT FAILED AT -1")
                .contains("FAILED BLOCK DEVICE")
                .contains("CALL " + -hmm4j_h.HMM4J_EMAPLIMIT).contains("CALL BLOCK DEVICE")
                .contains("HOME 0").contains("WRONG AFTER HOME 0").contains("DONE").doesNotContain("BAD VALUE");
    }
}
