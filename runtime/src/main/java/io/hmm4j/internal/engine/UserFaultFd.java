package io.hmm4j.internal.engine;

import io.hmm4j.internal.ffm.hmm4j_h;
import java.util.Set;

/**
 * Whether a heap's arrays are served with userfaultfd ({@code hmm4j_uffd_enable}, {@code hmm4j_region_use_uffd}):
 * {@code off}, {@code on} or {@code auto}, per heap, defaulting to {@code -Dhmm4j.userfaultfd} or
 * {@code HMM4J_USERFAULTFD}, else {@code off}. The engine probes once per process, the first time a heap asks.
 */
public final class UserFaultFd {

    public static final String PROPERTY = "hmm4j.userfaultfd";
    static final String DEFAULT = "off";
    private static final Set<String> MODES = Set.of("off", "on", "auto");

    private UserFaultFd() {}

    private static final System.Logger LOG = System.getLogger("io.hmm4j");
    private static volatile boolean unavailabilityLogged;

    /** @throws IllegalArgumentException unless {@code mode} is off, on or auto */
    public static String checkedMode(String mode) {
        if (!MODES.contains(mode))
            throw new IllegalArgumentException(PROPERTY + " must be off, on or auto: " + mode);
        return mode;
    }

    /**
     * Whether a heap built with {@code mode} ({@code null}: the property's default) uses userfaultfd.
     *
     * @throws IllegalArgumentException for an unknown mode
     * @throws IllegalStateException for {@code on} where the kernel refuses userfaultfd
     */
    public static boolean resolve(String mode) {
        String requested = checkedMode(mode != null ? mode
                : System.getProperty(PROPERTY, System.getenv().getOrDefault("HMM4J_USERFAULTFD", DEFAULT)));
        if (requested.equals("off"))
            return false;
        Engine.ensureInitialized();
        int rc = hmm4j_h.hmm4j_uffd_enable();
        if (rc == 0)
            return true;
        String reason = "userfaultfd unavailable (hmm4j_uffd_enable: " + NativeErrors.describe(rc) + "; needs Linux"
                + " 6.4+ and vm.unprivileged_userfaultfd=1 or access to /dev/userfaultfd): read(2) into device-resident"
                + " memory fails with EFAULT, call makeHostWritable first";
        if (requested.equals("on"))
            throw new IllegalStateException(PROPERTY + "=on but " + reason);
        if (!unavailabilityLogged) {
            unavailabilityLogged = true;
            LOG.log(System.Logger.Level.INFO, "hmm4j: " + reason);
        }
        return false;
    }

    /** Why the engine's userfaultfd is not on in this process, or {@code null} when it is. */
    public static String unavailabilityCause() {
        Engine.ensureInitialized();
        int status = hmm4j_h.hmm4j_uffd_status();
        if (status == 1)
            return null;
        return status == 0 ? "no heap asked for it (" + PROPERTY + ")" : "the probe failed: " + NativeErrors.describe(status);
    }
}
