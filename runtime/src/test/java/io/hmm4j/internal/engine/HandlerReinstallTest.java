package io.hmm4j.internal.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.ffm.hmm4j_stats;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A library that saved the JVM's SIGSEGV handler before hmm4j installed its own, and restores it afterwards
 * (LLVM's crash recovery inside PoCL does this), silently removes hmm4j's handler. The runtime re-installs it.
 * Runs in a child JVM: the parent's signal handlers stay untouched.
 */
class HandlerReinstallTest {

    private static final int SIGSEGV = 11;
    private static final long SIGACTION_SIZE = 152; // struct sigaction on x86-64 glibc

    public static void main(String[] args) throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle sigaction = linker.downcallHandle(linker.defaultLookup().find("sigaction").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment jvmHandler = arena.allocate(SIGACTION_SIZE, 8);
            int rc = (int) sigaction.invokeExact(SIGSEGV, MemorySegment.NULL, jvmHandler);
            Engine.ensureInitialized(); // installs hmm4j's handler
            rc |= (int) sigaction.invokeExact(SIGSEGV, jvmHandler, MemorySegment.NULL); // the overlapping restore
            System.out.println("SIGACTION " + rc);
            System.out.println("REINSTALLED " + hmm4j_h.hmm4j_engine_ensure_handler());
            System.out.println("AGAIN " + hmm4j_h.hmm4j_engine_ensure_handler());
            // A fault must now be served.
            MemorySegment stats = arena.allocate(hmm4j_stats.$LAYOUT);
            MemorySegment device = arena.allocate(8192, 4096);
            try (NativeCopyEngine engine = NativeCopyEngine.emulated("test:0", 0, 0)) {
                Region region = Region.create(8192, 4096, stats);
                region.bind(engine.handle(), device.address());
                MemorySegment user = region.userView().reinterpret(8192, arena, null);
                user.set(ValueLayout.JAVA_INT, 4096, 77);
                region.migrate(0, 2, hmm4j_h.HMM4J_TO_DEVICE, hmm4j_h.HMM4J_INTENT_READ | hmm4j_h.HMM4J_INTENT_WRITE, 1, null);
                System.out.println("READ " + user.get(ValueLayout.JAVA_INT, 4096));
                region.unbind(0);
                region.destroy();
            }
        }
    }

    @Test
    void aRestoredJvmHandlerIsReplacedByOursAgain() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp",
                System.getProperty("java.class.path"), HandlerReinstallTest.class.getName()))
                .redirectErrorStream(true).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(out).as(out).contains("SIGACTION 0").contains("REINSTALLED 1").contains("AGAIN 0").contains("READ 77");
        assertThat(p.exitValue()).as(out).isZero();
    }
}
