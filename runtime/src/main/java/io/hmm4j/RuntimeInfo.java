package io.hmm4j;

import io.hmm4j.internal.engine.Backends;
import io.hmm4j.internal.engine.Engine;
import io.hmm4j.internal.engine.NativeLibrary;
import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.spi.BackendProvider;
import io.hmm4j.spi.NativeCopyEngine;
import java.nio.file.Path;
import java.util.List;

/**
 * What hmm4j finds in this process, for diagnostics such as {@code ./hmm4j info}: the backends on the class path
 * in the order of the automatic choice, and the fault engine's library and page size. Nothing here opens a
 * backend; each provider probes in its own {@link BackendProvider#isAvailable()}.
 */
public final class RuntimeInfo {

    private RuntimeInfo() {}

    /** Every backend provider found, highest priority (the automatic choice's first candidate) first. */
    public static List<BackendProvider> backendProviders() {
        return Backends.providers();
    }

    /**
     * The backend a heap built without {@link ManagedHeap.Builder#backend} asks for: {@code -Dhmm4j.backend},
     * else {@code HMM4J_BACKEND}, else {@code auto}.
     */
    public static String requestedBackend() {
        return Backends.requestedName(null);
    }

    /** Whether the native fault engine loads here; every backend needs it. */
    public static boolean engineAvailable() {
        return NativeCopyEngine.engineAvailable();
    }

    /** Why the native fault engine does not load (every attempt, each with its fix), or {@code null}. */
    public static String engineUnavailabilityCause() {
        return NativeCopyEngine.engineUnavailabilityCause();
    }

    /**
     * The engine library's file: the copy extracted from the runtime jar (deleted at exit), or
     * {@code -Dhmm4j.native.path}.
     *
     * @throws IllegalStateException if the engine does not load (the message carries the cause)
     */
    public static Path engineLibrary() {
        ensureEngine();
        return NativeLibrary.path();
    }

    /**
     * The ABI version the loaded engine reports (a library whose version differs from the runtime's is refused).
     *
     * @throws IllegalStateException if the engine does not load
     */
    public static int engineAbiVersion() {
        ensureEngine();
        return hmm4j_h.hmm4j_abi_version();
    }

    /**
     * The host page size the engine protects; block sizes are multiples of it.
     *
     * @throws IllegalStateException if the engine does not load
     */
    public static long pageSize() {
        ensureEngine();
        return Engine.pageSize();
    }

    /**
     * Why heaps built with {@code userfaultfd("on")} or {@code "auto"} (where system calls on device-resident
     * memory work, DESIGN.md invariant 7) cannot have it here, or {@code null} when the engine has it on. Probes
     * the kernel if no heap asked yet.
     *
     * @throws IllegalStateException if the engine does not load
     */
    public static String userfaultfdUnavailabilityCause() {
        ensureEngine();
        io.hmm4j.internal.engine.UserFaultFd.resolve("auto");
        return io.hmm4j.internal.engine.UserFaultFd.unavailabilityCause();
    }

    private static void ensureEngine() {
        if (!engineAvailable())
            throw new IllegalStateException("hmm4j's native engine is not available: " + engineUnavailabilityCause());
    }
}
