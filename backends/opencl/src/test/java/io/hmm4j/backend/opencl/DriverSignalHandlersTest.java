package io.hmm4j.backend.opencl;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.IntArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.KernelSource;
import io.hmm4j.spi.NativeCopyEngine;
import io.hmm4j.conformance.ChildJvm;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * PoCL's LLVM takes SIGSEGV and a dozen other signals with self-removing (SA_RESETHAND) handlers when it builds a
 * program: the JVM's thread dumps (SIGQUIT), shutdown signals and SIGBUS InternalErrors would go through them,
 * and every time one runs LLVM installs them all again at the next build. After builds, the handlers are the
 * ones the process had before. In a child JVM: the test JVM's handlers stay untouched.
 */
class DriverSignalHandlersTest {

    // SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGSEGV SIGUSR2 SIGTERM SIGXCPU SIGXFSZ SIGSYS
    private static final int[] SIGNALS = {1, 2, 3, 4, 5, 6, 7, 11, 12, 15, 24, 25, 31};
    private static final long SIGACTION_SIZE = 152; // struct sigaction on x86-64 glibc
    private static final long FLAGS_OFFSET = 136;
    /** glibc adds it to every action it installs; not part of what the handler does. */
    private static final int SA_RESTORER = 0x04000000;

    /** Each signal's handler address and flags. */
    private static String handlers(MethodHandle sigaction) throws Throwable {
        StringBuilder b = new StringBuilder();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment action = arena.allocate(SIGACTION_SIZE, 8);
            for (int signal : SIGNALS) {
                if ((int) sigaction.invokeExact(signal, MemorySegment.NULL, action) != 0)
                    throw new IllegalStateException("sigaction(" + signal + ") failed");
                b.append(signal).append('=').append(Long.toHexString(action.get(ValueLayout.JAVA_LONG, 0)))
                        .append('/').append(Integer.toHexString(action.get(ValueLayout.JAVA_INT, FLAGS_OFFSET) & ~SA_RESTORER)).append(' ');
            }
        }
        return b.toString().trim();
    }

    /** Runs in the child JVM. */
    public static void main(String[] args) throws Throwable {
        Linker linker = Linker.nativeLinker();
        MethodHandle sigaction = linker.downcallHandle(linker.defaultLookup().find("sigaction").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        if (!NativeCopyEngine.engineAvailable())
            throw new IllegalStateException(NativeCopyEngine.engineUnavailabilityCause());
        System.out.println("BEFORE " + handlers(sigaction));
        try (ManagedHeap heap = ManagedHeap.builder().backend("opencl").build()) {
            IntArray values = heap.allocateInts(64);
            heap.launch(heap.load(KernelSource.openCl("seven", "__kernel void seven(__global int *x) { x[get_global_id(0)] = 7; }")),
                    values.length(), Arg.write(values)).await();
            System.out.println("VALUE " + values.get(63));
            System.out.println("AFTER  " + handlers(sigaction));
        }
    }

    @Test
    void afterProgramBuildsEverySignalHasTheHandlerItHadBefore() throws Exception {
        OpenClBackendProvider provider = new OpenClBackendProvider();
        Assumptions.assumeTrue(provider.isAvailable(), () -> "OpenCL not available: " + provider.unavailabilityCause());
        // ChildJvm fails the test after 60 s instead of blocking on the child's output forever.
        ChildJvm.Result child = ChildJvm.run(DriverSignalHandlersTest.class, List.of(), 60);
        String out = child.output();
        assertThat(child.exitCode()).as(out).isZero();
        assertThat(out).as(out).contains("VALUE 7");
        String before = out.lines().filter(l -> l.startsWith("BEFORE ")).findFirst().orElseThrow().substring(7).trim();
        String after = out.lines().filter(l -> l.startsWith("AFTER ")).findFirst().orElseThrow().substring(6).trim();
        assertThat(after).as(out).isEqualTo(before);
    }
}
