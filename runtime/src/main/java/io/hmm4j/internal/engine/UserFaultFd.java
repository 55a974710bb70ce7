package io.hmm4j.internal.engine;

import io.hmm4j.internal.ffm.hmm4j_h;

/**
 * Whether the engine serves faults with userfaultfd (see {@code hmm4j_uffd_enable}), chosen once per process by
 * {@code -Dhmm4j.userfaultfd=auto|on|off} (or {@code HMM4J_USERFAULTFD}). With it, {@code read(2)} into memory that
 * lives on a device works; without it, the kernel answers EFAULT and {@code makeHostWritable} is needed first.
 * {@code auto} uses it where the kernel allows and logs why not otherwise; {@code on} fails the first heap instead.
 */
public final class UserFaultFd {

    public static final String PROPERTY = "hmm4j.userfaultfd";
    static final String DEFAULT = "auto";

    private UserFaultFd() {}

    private static final System.Logger LOG = System.getLogger("io.hmm4j");

    /** Called once, right after the engine is initialized. */
    static void configure() {
        String requested = System.getProperty(PROPERTY, System.getenv().getOrDefault("HMM4J_USERFAULTFD", DEFAULT));
        switch (requested) {
            case "off" -> {
            }
            case "on", "auto" -> {
                int rc = hmm4j_h.hmm4j_uffd_enable();
                if (rc == 0)
                    return;
                String reason = "userfaultfd unavailable (" + NativeErrors.describe(rc) + "; needs Linux 5.19+ and"
                        + " vm.unprivileged_userfaultfd=1 or access to /dev/userfaultfd): read(2) into device-resident"
                        + " memory fails with EFAULT, call makeHostWritable first";
                if (requested.equals("on"))
                    throw new IllegalStateException(PROPERTY + "=on but " + reason);
                LOG.log(System.Logger.Level.INFO, "hmm4j: " + reason);
            }
            default -> throw new IllegalArgumentException(PROPERTY + " must be auto, on or off: " + requested);
        }
    }

    /** Whether regions created now are served with userfaultfd. */
    public static boolean isEnabled() {
        Engine.ensureInitialized();
        return hmm4j_h.hmm4j_uffd_status() == 1;
    }

    /** Why userfaultfd is not used, or {@code null} when it is. */
    public static String unavailabilityCause() {
        Engine.ensureInitialized();
        int status = hmm4j_h.hmm4j_uffd_status();
        if (status == 1)
            return null;
        return status == 0 ? PROPERTY + "=off" : "the probe failed: " + NativeErrors.describe(status);
    }
}
