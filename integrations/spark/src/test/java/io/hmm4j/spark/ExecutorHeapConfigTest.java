package io.hmm4j.spark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.BackendProvider;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkConf;
import org.apache.spark.resource.ResourceInformation;
import org.junit.jupiter.api.Test;

class ExecutorHeapConfigTest {

    /** A provider that only answers the availability questions the automatic choice asks. */
    record FakeProvider(String name, int priority, String unavailabilityCause) implements BackendProvider {
        @Override
        public boolean isAvailable() {
            return unavailabilityCause == null;
        }

        @Override
        public Backend open(BackendConfig config) {
            throw new UnsupportedOperationException("the configuration never opens a backend");
        }
    }

    private static final List<BackendProvider> CUDA_MISSING = List.of(
            new FakeProvider("cuda", 300, "no CUDA driver"), new FakeProvider("opencl", 200, null),
            new FakeProvider("emulated", 100, null));

    /** Auto spelled out: HMM4J_BACKEND in a developer's environment would otherwise decide. */
    private static SparkConf auto() {
        return new SparkConf(false).set("spark.hmm4j.backend", "auto");
    }

    private static Map<String, ResourceInformation> gpus(String... addresses) {
        return Map.of("gpu", new ResourceInformation("gpu", addresses));
    }

    @Test
    void gpusSparkAssignedBecomeTheCudaDevicesInTheirOrder() {
        ExecutorHeapConfig config = ExecutorHeapConfig.from(auto(), gpus("3", "1"), CUDA_MISSING);

        assertThat(config.backend()).isEqualTo("cuda");
        assertThat(config.backendSettings()).containsEntry("devices", "3,1");
        assertThat(config.gpuAddresses()).containsExactly("3", "1");
    }

    @Test
    void anExplicitCudaDevicesSettingWinsOverSparksGpusAndMapsNone() {
        SparkConf conf = auto().set("spark.hmm4j.cuda.devices", "0");

        ExecutorHeapConfig config = ExecutorHeapConfig.from(conf, gpus("2"), CUDA_MISSING);

        assertThat(config.backendSettings()).containsEntry("devices", "0");
        assertThat(config.gpuAddresses()).isEmpty();
    }

    @Test
    void withoutGpusAutoIsTheAvailableBackendOfHighestPriority() {
        ExecutorHeapConfig config = ExecutorHeapConfig.from(auto(), Map.of(), CUDA_MISSING);

        assertThat(config.backend()).isEqualTo("opencl");
        assertThat(config.gpuAddresses()).isEmpty();
    }

    @Test
    void autoWithNoAvailableBackendNamesEveryCause() {
        List<BackendProvider> none = List.of(new FakeProvider("cuda", 300, "no CUDA driver"),
                new FakeProvider("emulated", 100, "engine did not load"));

        assertThatThrownBy(() -> ExecutorHeapConfig.from(auto(), Map.of(), none))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("cuda: no CUDA driver").hasMessageContaining("emulated: engine did not load");
    }

    @Test
    void onlyTheOpenedBackendsSettingsArePassed() {
        SparkConf conf = new SparkConf(false).set("spark.hmm4j.backend", "OpenCL")
                .set("spark.hmm4j.opencl.placement", "migrate").set("spark.hmm4j.emulated.capacity", "1024");

        ExecutorHeapConfig config = ExecutorHeapConfig.from(conf, gpus("0"), CUDA_MISSING);

        assertThat(config.backend()).isEqualTo("opencl");
        assertThat(config.backendSettings()).isEqualTo(Map.of("placement", "migrate"));
        assertThat(config.gpuAddresses()).as("OpenCL devices are not numbered like CUDA ordinals").isEmpty();
    }

    @Test
    void gpusUnderAnotherResourceNameAreFoundThroughTheSetting() {
        SparkConf conf = auto().set("spark.hmm4j.gpu.resource", "nvidia");
        Map<String, ResourceInformation> resources = Map.of("nvidia", new ResourceInformation("nvidia", new String[] {"1"}));

        assertThat(ExecutorHeapConfig.from(conf, resources, CUDA_MISSING).backendSettings()).containsEntry("devices", "1");
    }

    @Test
    void withoutTheSparkKeyTheRuntimesBackendPropertyApplies() {
        String previous = System.getProperty("hmm4j.backend");
        System.setProperty("hmm4j.backend", "Emulated");
        try {
            assertThat(ExecutorHeapConfig.from(new SparkConf(false), Map.of(), CUDA_MISSING).backend()).isEqualTo("emulated");
            SparkConf conf = new SparkConf(false).set("spark.hmm4j.backend", "opencl");
            assertThat(ExecutorHeapConfig.from(conf, Map.of(), CUDA_MISSING).backend()).as("the Spark key wins")
                    .isEqualTo("opencl");
        } finally {
            if (previous == null)
                System.clearProperty("hmm4j.backend");
            else
                System.setProperty("hmm4j.backend", previous);
        }
    }

    @Test
    void anUnknownBackendIsABadArgument() {
        SparkConf conf = new SparkConf(false).set("spark.hmm4j.backend", "vulkan");

        assertThatThrownBy(() -> ExecutorHeapConfig.from(conf, Map.of(), CUDA_MISSING))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("spark.hmm4j.backend")
                .hasMessageContaining("vulkan");
    }

    @Test
    void badHeapSettingsNameTheirKey() {
        for (String[] bad : new String[][] {{"spark.hmm4j.blockSize", "12345"}, {"spark.hmm4j.blockSize", "big"},
                {"spark.hmm4j.deviceBudget", "-1"}, {"spark.hmm4j.prefetchBlocks", "many"},
                {"spark.hmm4j.releaseHostMemory", "yes"}, {"spark.hmm4j.poolChunkBytes", "0"}}) {
            SparkConf conf = new SparkConf(false).set("spark.hmm4j.backend", "emulated").set(bad[0], bad[1]);
            ExecutorHeapConfig config = ExecutorHeapConfig.from(conf, Map.of(), CUDA_MISSING);

            assertThatThrownBy(config::builder).as(bad[0] + "=" + bad[1]).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(bad[0]).hasMessageContaining(bad[1]);
        }
    }

    @Test
    void sparkSizeSuffixesAreAccepted() {
        SparkConf conf = new SparkConf(false).set("spark.hmm4j.backend", "emulated")
                .set("spark.hmm4j.blockSize", "128k").set("spark.hmm4j.deviceBudget", "1g");

        try (var heap = ExecutorHeapConfig.from(conf, Map.of(), CUDA_MISSING).builder().build()) {
            assertThat(heap.blockSize()).isEqualTo(128 * 1024);
            assertThat(heap.deviceBudget(0)).isEqualTo(1L << 30);
        }
    }
}
