package io.hmm4j.spi;

/**
 * A backend, found with {@link java.util.ServiceLoader}. Constructors are trivial; probing for drivers and
 * devices happens in {@link #isAvailable()}, so listing providers never fails.
 */
public interface BackendProvider {

    /** Lower-case name used by {@code -Dhmm4j.backend=} and {@code HMM4J_BACKEND}: cuda, opencl, emulated. */
    String name();

    /** Order of the automatic choice: the available provider with the highest priority wins. */
    int priority();

    /** Whether the backend can open at least one device here. Probes once and caches the answer. */
    boolean isAvailable();

    /** Why {@link #isAvailable()} is false, for logs and skipped tests; {@code null} when available. */
    String unavailabilityCause();

    /**
     * Opens the backend's devices.
     *
     * @throws IllegalStateException if the backend is not available (the message carries the cause)
     */
    Backend open(BackendConfig config);
}
