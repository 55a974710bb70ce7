package io.hmm4j.internal.engine;

import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.BackendProvider;
import java.lang.System.Logger.Level;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

/** Finds backends with ServiceLoader and makes the automatic choice: highest priority that is available. */
public final class Backends {

    public static final String PROPERTY = "hmm4j.backend";
    public static final String ENVIRONMENT = "HMM4J_BACKEND";
    private static final System.Logger LOG = System.getLogger("io.hmm4j");

    private Backends() {}

    public static List<BackendProvider> providers() {
        List<BackendProvider> providers = new ArrayList<>();
        ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader()).forEach(providers::add);
        if (providers.isEmpty())
            ServiceLoader.load(BackendProvider.class).forEach(providers::add);
        providers.sort(Comparator.comparingInt(BackendProvider::priority).reversed());
        return providers;
    }

    /** The requested name: the builder's, else {@code -Dhmm4j.backend}, else {@code HMM4J_BACKEND}, else auto. */
    public static String requestedName(String fromBuilder) {
        String name = fromBuilder;
        if (name == null)
            name = System.getProperty(PROPERTY);
        if (name == null)
            name = System.getenv(ENVIRONMENT);
        return name == null || name.isBlank() ? "auto" : name.trim().toLowerCase(Locale.ROOT);
    }

    /**
     * @throws IllegalArgumentException if no backend has that name
     * @throws IllegalStateException if the named backend (or, for auto, every backend) is unavailable
     */
    public static BackendProvider select(String requested) {
        List<BackendProvider> providers = providers();
        if (!requested.equals("auto")) {
            BackendProvider provider = providers.stream().filter(p -> p.name().equals(requested)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("unknown hmm4j backend '" + requested + "'; on the"
                            + " class path: " + providers.stream().map(BackendProvider::name).collect(Collectors.joining(", "))));
            if (!provider.isAvailable())
                throw new IllegalStateException("hmm4j backend '" + requested + "' is not available: "
                        + provider.unavailabilityCause());
            return provider;
        }
        List<String> skipped = new ArrayList<>();
        for (BackendProvider provider : providers) {
            if (provider.isAvailable()) {
                for (String reason : skipped)
                    LOG.log(Level.INFO, "hmm4j: skipped backend {0}", reason);
                return provider;
            }
            skipped.add(provider.name() + ": " + provider.unavailabilityCause());
        }
        throw new IllegalStateException("no hmm4j backend is available: "
                + (skipped.isEmpty() ? "none on the class path (add hmm4j-backend-emulated)" : String.join("; ", skipped)));
    }

    /** {@code hmm4j.<backend>.<key>} system properties, overridden by the builder's settings. */
    public static BackendConfig config(String backend, Map<String, String> builderSettings) {
        Map<String, String> settings = new HashMap<>();
        String prefix = "hmm4j." + backend + ".";
        System.getProperties().forEach((k, v) -> {
            if (k instanceof String key && key.startsWith(prefix))
                settings.put(key.substring(prefix.length()), String.valueOf(v));
        });
        settings.putAll(builderSettings);
        return new BackendConfig(settings);
    }
}
