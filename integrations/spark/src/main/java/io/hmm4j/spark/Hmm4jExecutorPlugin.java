package io.hmm4j.spark;

import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.BackendProvider;
import io.hmm4j.spi.Device;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.stream.Collectors;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.PluginContext;

/** The executor side of {@link Hmm4jSparkPlugin}: one heap from {@link #init} to {@link #shutdown}. */
final class Hmm4jExecutorPlugin implements ExecutorPlugin {

    private static final System.Logger LOG = System.getLogger(Hmm4jExecutorPlugin.class.getName());

    private HmmSpark.ExecutorHeap executorHeap;
    private HeapGauges gauges;

    /**
     * @throws IllegalArgumentException for a bad {@code spark.hmm4j.*} setting
     * @throws IllegalStateException if the backend cannot open (Spark then fails the executor with this cause)
     */
    @Override
    public void init(PluginContext context, Map<String, String> extraConf) {
        ExecutorHeapConfig config = ExecutorHeapConfig.from(context.conf(), context.resources(), providers());
        ManagedHeap heap;
        try {
            heap = config.builder().build();
        } catch (IllegalStateException e) {
            throw new IllegalStateException("hmm4j: executor " + context.executorID() + " cannot open backend "
                    + config.backend() + (config.gpuAddresses().isEmpty() ? "" : " on Spark GPUs " + config.gpuAddresses())
                    + ": " + e.getMessage() + " (choose another with " + ExecutorHeapConfig.BACKEND + ")", e);
        }
        HmmSpark.ExecutorHeap opened = new HmmSpark.ExecutorHeap(heap,
                context.conf().get(ExecutorHeapConfig.GPU_RESOURCE, "gpu"), config.gpuAddresses());
        try {
            HmmSpark.install(opened);
            gauges = HeapGauges.register(context.metricRegistry(), heap);
        } catch (RuntimeException | Error e) {
            HmmSpark.uninstall(opened);
            heap.close();
            throw e;
        }
        executorHeap = opened;
        LOG.log(System.Logger.Level.INFO, "hmm4j: executor {0} opened a heap on {1}: {2}", context.executorID(),
                heap.backendName(), heap.devices().stream().map(Device::id).collect(Collectors.joining(", ")));
    }

    /** Idempotent; does nothing after a failed {@link #init}. */
    @Override
    public void shutdown() {
        if (executorHeap == null)
            return;
        HmmSpark.uninstall(executorHeap);
        ManagedHeap heap = executorHeap.heap();
        executorHeap = null;
        gauges.freeze();
        LOG.log(System.Logger.Level.INFO, "hmm4j: closing the executor heap ({0} live arrays): {1}", heap.liveArrays(),
                heap.stats());
        heap.close();
    }

    private static List<BackendProvider> providers() {
        List<BackendProvider> providers = new ArrayList<>();
        ServiceLoader.load(BackendProvider.class, Hmm4jExecutorPlugin.class.getClassLoader()).forEach(providers::add);
        return providers;
    }
}
