package io.hmm4j.spark;

import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.BackendProvider;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.apache.spark.SparkConf;
import org.apache.spark.resource.ResourceInformation;
import scala.Tuple2;

/**
 * How an executor opens its heap, read from the Spark configuration and the resources Spark assigned to the
 * executor. GPUs Spark assigned become the CUDA backend's {@code devices} (Spark's GPU addresses are CUDA
 * ordinals, as for RAPIDS); without GPUs the automatic choice applies (OpenCL, then emulated).
 *
 * <p>Keys (all optional):
 * <ul>
 *   <li>{@value #BACKEND}: {@code auto}, {@code cuda}, {@code opencl} or {@code emulated}; default: the runtime's
 *       {@code -Dhmm4j.backend} or {@code HMM4J_BACKEND} of the executor's JVM, else {@code auto}</li>
 *   <li>{@value #GPU_RESOURCE}: the Spark resource name of GPUs, default {@code gpu}</li>
 *   <li>{@value #BLOCK_SIZE}, {@value #DEVICE_BUDGET}, {@value #POOL_CHUNK}: sizes, Spark style ({@code 64k},
 *       {@code 2g}, plain bytes)</li>
 *   <li>{@value #PREFETCH_BLOCKS}: a count; {@value #RELEASE_HOST_MEMORY}: {@code true}/{@code false}</li>
 *   <li>{@code spark.hmm4j.<backend>.<key>}: a setting of the backend that opens, e.g.
 *       {@code spark.hmm4j.opencl.placement=migrate}, {@code spark.hmm4j.emulated.capacity=268435456}</li>
 * </ul>
 *
 * @param backend the backend to open: never {@code auto}
 * @param gpuAddresses the executor's GPU addresses the backend opens, in device-index order; empty when the
 *        backend does not open Spark's GPUs
 * @param backendSettings the backend's settings
 * @param conf the Spark configuration the heap settings ({@value #BLOCK_SIZE}, ...) are read from
 */
public record ExecutorHeapConfig(String backend, List<String> gpuAddresses, Map<String, String> backendSettings,
        SparkConf conf) {

    public static final String PREFIX = "spark.hmm4j.";
    public static final String BACKEND = PREFIX + "backend";
    public static final String GPU_RESOURCE = PREFIX + "gpu.resource";
    public static final String BLOCK_SIZE = PREFIX + "blockSize";
    public static final String DEVICE_BUDGET = PREFIX + "deviceBudget";
    public static final String PREFETCH_BLOCKS = PREFIX + "prefetchBlocks";
    public static final String RELEASE_HOST_MEMORY = PREFIX + "releaseHostMemory";
    public static final String POOL_CHUNK = PREFIX + "poolChunkBytes";

    private static final Set<String> BACKENDS = Set.of("auto", "cuda", "opencl", "emulated");
    private static final System.Logger LOG = System.getLogger(ExecutorHeapConfig.class.getName());

    public ExecutorHeapConfig {
        gpuAddresses = List.copyOf(gpuAddresses);
        backendSettings = Map.copyOf(backendSettings);
    }

    /**
     * Reads the configuration. {@code providers} resolve {@code auto} when Spark assigned no GPU: the available
     * one with the highest priority, as {@link ManagedHeap#create()} chooses.
     *
     * @throws IllegalArgumentException if {@value #BACKEND} names no backend
     * @throws IllegalStateException if {@code auto} finds no available backend
     */
    public static ExecutorHeapConfig from(SparkConf conf, Map<String, ResourceInformation> resources,
            List<BackendProvider> providers) {
        String requested = requestedBackend(conf);
        if (!BACKENDS.contains(requested))
            throw new IllegalArgumentException(BACKEND + " (or -Dhmm4j.backend, HMM4J_BACKEND) must be one of auto,"
                    + " cuda, opencl, emulated: '" + requested + "'");
        String gpuResource = conf.get(GPU_RESOURCE, "gpu");
        ResourceInformation gpus = resources.get(gpuResource);
        List<String> addresses = gpus == null ? List.of() : Arrays.asList(gpus.addresses());

        String backend = requested;
        if (backend.equals("auto"))
            backend = addresses.isEmpty() ? automatic(providers) : "cuda";
        Map<String, String> settings = new LinkedHashMap<>();
        for (Tuple2<String, String> setting : conf.getAllWithPrefix(PREFIX + backend + "."))
            settings.put(setting._1(), setting._2());

        List<String> opened = List.of();
        if (backend.equals("cuda") && !addresses.isEmpty()) {
            if (settings.containsKey("devices")) {
                LOG.log(System.Logger.Level.WARNING, "{0}cuda.devices={1} overrides the GPUs Spark assigned: {2}",
                        PREFIX, settings.get("devices"), addresses);
            } else {
                settings.put("devices", String.join(",", addresses));
                opened = addresses;
            }
        } else if (!addresses.isEmpty()) {
            // OpenCL and emulated devices are not numbered like CUDA ordinals, so Spark's addresses cannot name them.
            LOG.log(System.Logger.Level.INFO, "hmm4j backend {0} opens its own devices; Spark''s {1} addresses {2} are"
                    + " not mapped", backend, gpuResource, addresses);
        }
        return new ExecutorHeapConfig(backend, opened, settings, conf);
    }

    /** {@value #BACKEND}, else the runtime's own defaults: {@code -Dhmm4j.backend}, {@code HMM4J_BACKEND}, auto. */
    private static String requestedBackend(SparkConf conf) {
        String name = conf.get(BACKEND, null);
        if (name == null)
            name = System.getProperty("hmm4j.backend");
        if (name == null)
            name = System.getenv("HMM4J_BACKEND");
        return name == null || name.isBlank() ? "auto" : name.trim().toLowerCase(Locale.ROOT);
    }

    private static String automatic(List<BackendProvider> providers) {
        List<String> skipped = new ArrayList<>();
        for (BackendProvider provider : providers.stream()
                .sorted(Comparator.comparingInt(BackendProvider::priority).reversed()).toList()) {
            if (provider.isAvailable())
                return provider.name();
            skipped.add(provider.name() + ": " + provider.unavailabilityCause());
        }
        throw new IllegalStateException("no hmm4j backend is available on this executor: "
                + (skipped.isEmpty() ? "none on the class path (ship hmm4j-spark's -all jar)" : String.join("; ", skipped)));
    }

    /**
     * The heap builder with every setting applied.
     *
     * @throws IllegalArgumentException if a setting has a bad value (the message names the key)
     */
    public ManagedHeap.Builder builder() {
        ManagedHeap.Builder builder = ManagedHeap.builder().backend(backend);
        backendSettings.forEach(builder::setting);
        apply(BLOCK_SIZE, () -> builder.blockSize(conf.getSizeAsBytes(BLOCK_SIZE)));
        apply(DEVICE_BUDGET, () -> builder.deviceBudget(conf.getSizeAsBytes(DEVICE_BUDGET)));
        apply(POOL_CHUNK, () -> builder.poolChunkBytes(conf.getSizeAsBytes(POOL_CHUNK)));
        apply(PREFETCH_BLOCKS, () -> builder.prefetchBlocks(Long.parseLong(conf.get(PREFETCH_BLOCKS).trim())));
        apply(RELEASE_HOST_MEMORY, () -> builder.releaseHostMemory(parseBoolean(RELEASE_HOST_MEMORY)));
        return builder;
    }

    /** Applies a set key; the parsers' and the builder's messages name the value, this one adds the key. */
    private void apply(String key, Runnable setter) {
        if (!conf.contains(key))
            return;
        try {
            setter.run();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(key + "='" + conf.get(key) + "': " + e.getMessage(), e);
        }
    }

    private boolean parseBoolean(String key) {
        String value = conf.get(key).trim().toLowerCase(Locale.ROOT);
        return switch (value) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException(key + " must be true or false: '" + conf.get(key) + "'");
        };
    }
}
