package io.hmm4j.conformance;

import io.hmm4j.internal.ffm.hmm4j_h;

/** The engine's host-memory fault injection, for backend tests outside the runtime module. */
public final class HostMemoryFaults {

    private HostMemoryFaults() {}

    /**
     * After {@code skip} more reservations of host pages for copies home succeed, the next {@code count} fail as
     * fallocate does when no memory can be had (ENOSPC); process-wide. {@code count} 0 disarms it.
     */
    public static void failReservations(int skip, int count) {
        hmm4j_h.hmm4j_engine_inject_host_reserve_failure(skip, count);
    }
}
