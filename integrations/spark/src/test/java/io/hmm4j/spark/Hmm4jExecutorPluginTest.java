package io.hmm4j.spark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.BackendProvider;
import java.util.Map;
import java.util.ServiceLoader;
import org.apache.spark.SparkConf;
import org.apache.spark.api.plugin.PluginContext;
import org.apache.spark.resource.ResourceInformation;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The executor plugin's lifecycle without a Spark cluster: a hand-made context stands in for Spark's. */
class Hmm4jExecutorPluginTest {

    record FakeContext(SparkConf conf, Map<String, ResourceInformation> resources, MetricRegistry metricRegistry)
            implements PluginContext {
        @Override
        public String executorID() {
            return "7";
        }

        @Override
        public String hostname() {
            return "localhost";
        }

        @Override
        public void send(Object message) {
            throw new UnsupportedOperationException("the executor plugin sends nothing to the driver");
        }

        @Override
        public Object ask(Object message) {
            throw new UnsupportedOperationException("the executor plugin asks the driver nothing");
        }
    }

    private final Hmm4jExecutorPlugin plugin = new Hmm4jExecutorPlugin();
    private final MetricRegistry registry = new MetricRegistry();

    @AfterEach
    void shutdown() {
        plugin.shutdown();
    }

    private static SparkConf emulated() {
        return new SparkConf(false).set("spark.hmm4j.backend", "emulated").set("spark.hmm4j.emulated.capacity", String.valueOf(8 << 20));
    }

    private long gauge(String name) {
        Gauge<?> gauge = registry.getGauges().get(name);
        assertThat(gauge).as("gauge " + name + " in " + registry.getNames()).isNotNull();
        return (Long) gauge.getValue();
    }

    @Test
    void initOpensTheHeapTasksReachAndShutdownClosesIt() {
        plugin.init(new FakeContext(emulated(), Map.of(), registry), Map.of());
        ManagedHeap heap = HmmSpark.heap();

        assertThat(heap.isOpen()).isTrue();
        assertThat(heap.backendName()).isEqualTo("emulated");
        assertThat(HmmSpark.isActive()).isTrue();

        plugin.shutdown();

        assertThat(heap.isOpen()).isFalse();
        assertThat(HmmSpark.isActive()).isFalse();
        assertThatThrownBy(HmmSpark::heap).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("spark.plugins=io.hmm4j.spark.Hmm4jSparkPlugin");
    }

    @Test
    void gaugesFollowTheHeapAndKeepTheirLastValuesAfterShutdown() {
        plugin.init(new FakeContext(emulated(), Map.of(), registry), Map.of());
        ManagedHeap heap = HmmSpark.heap();
        try (FloatArray x = heap.allocateFloats(1 << 16)) {
            heap.launch(BuiltinKernel.FILL, x.length(), Arg.write(x), Arg.of(2f), Arg.of(x.length())).await();
            assertThat(gauge("hmm4j.memory.used.device.emulated_0")).isEqualTo(x.byteSize());
            assertThat(x.get(12345)).isEqualTo(2f);
        }

        assertThat(gauge("hmm4j.launches")).isEqualTo(1);
        assertThat(gauge("hmm4j.faults.read")).isPositive();
        assertThat(gauge("hmm4j.migrated.to_host.fault")).isPositive();
        assertThat(gauge("hmm4j.memory.budget.device.emulated_0")).isEqualTo(8 << 20);
        long faults = gauge("hmm4j.faults.read");

        plugin.shutdown();

        assertThat(gauge("hmm4j.faults.read")).isEqualTo(faults);
        assertThat(gauge("hmm4j.memory.used.device.emulated_0")).isZero();
    }

    @Test
    void aSecondExecutorHeapInOneJvmIsRefusedAndLeavesTheFirstOpen() {
        plugin.init(new FakeContext(emulated(), Map.of(), registry), Map.of());
        ManagedHeap first = HmmSpark.heap();
        Hmm4jExecutorPlugin second = new Hmm4jExecutorPlugin();

        assertThatThrownBy(() -> second.init(new FakeContext(emulated(), Map.of(), new MetricRegistry()), Map.of()))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("already open");
        second.shutdown();
        assertThat(HmmSpark.heap()).isSameAs(first);
        assertThat(first.isOpen()).isTrue();
    }

    @Test
    void gpusWithoutCudaFailTheExecutorWithTheCauseAndTheKeyToChange() {
        for (BackendProvider provider : ServiceLoader.load(BackendProvider.class))
            assumeFalse(provider.name().equals("cuda") && provider.isAvailable(), "CUDA is available here");
        Map<String, ResourceInformation> gpu = Map.of("gpu", new ResourceInformation("gpu", new String[] {"0"}));

        assertThatThrownBy(() -> plugin.init(new FakeContext(new SparkConf(false).set("spark.hmm4j.backend", "auto"), gpu, registry), Map.of()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("executor 7").hasMessageContaining("cuda on Spark GPUs [0]")
                .hasMessageContaining("spark.hmm4j.backend");
        assertThat(HmmSpark.isActive()).isFalse();
    }
}
