package io.hmm4j.internal.engine;

import io.hmm4j.internal.ffm.hmm4j_h;
import java.lang.foreign.MemorySegment;

/** Process-wide engine state: the SIGSEGV handler is installed once, before the first region exists. */
public final class Engine {

    private Engine() {}

    private static final class Initialized {
        static final long PAGE_SIZE;

        static {
            NativeLibrary.ensureAvailability();
            NativeErrors.check("hmm4j_engine_init", hmm4j_h.hmm4j_engine_init());
            PAGE_SIZE = hmm4j_h.hmm4j_engine_page_size();
        }
    }

    public static void ensureInitialized() {
        if (Initialized.PAGE_SIZE <= 0)
            throw new IllegalStateException("bad page size");
    }

    private static final System.Logger LOG = System.getLogger("io.hmm4j");

    /**
     * Puts the fault handler back if a native library restored the JVM's handler over it or installed a non-chaining one in front; see
     * {@code hmm4j_engine_ensure_handler}. One sigaction query when nothing changed.
     */
    public static void ensureHandler() {
        ensureInitialized();
        int rc = hmm4j_h.hmm4j_engine_ensure_handler();
        if (rc == 1)
            LOG.log(System.Logger.Level.INFO, "hmm4j: a native library had removed or replaced the fault handler; re-installed it");
        else
            NativeErrors.check("hmm4j_engine_ensure_handler", rc);
    }

    public static long pageSize() {
        return Initialized.PAGE_SIZE;
    }

    /** The counters of all heaps together ({@code struct hmm4j_stats}). */
    public static MemorySegment globalStats() {
        ensureInitialized();
        return hmm4j_h.hmm4j_stats_global().reinterpret(io.hmm4j.internal.ffm.hmm4j_stats.$LAYOUT.byteSize());
    }
}
