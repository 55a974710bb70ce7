package io.hmm4j.spark;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.metrics.source.Source;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import scala.jdk.javaapi.CollectionConverters;

/** The plugin inside a real Spark (local[2]: one executor in this JVM, two task threads). */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class Hmm4jSparkPluginTest {

    private static final int PARTITIONS = 6;
    private static final int ELEMENTS = 1 << 16;

    private static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = LocalSpark.start("Hmm4jSparkPluginTest");
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    /** Per task: which heap, on which executor, and the sum of a kernel-filled array read back by faults. */
    record TaskView(int heap, String executor, String backend, double sum) implements java.io.Serializable {}

    private static Iterator<TaskView> fillAndSum(Iterator<Integer> partition) {
        ManagedHeap heap = HmmSpark.heap();
        float value = TaskContext.getPartitionId() + 1;
        try (FloatArray x = heap.allocateFloats(ELEMENTS)) {
            heap.launchOn(HmmSpark.deviceIndex(), BuiltinKernel.FILL, ELEMENTS, Arg.write(x), Arg.of(value),
                    Arg.of((long) ELEMENTS)).await();
            double sum = 0;
            for (long i = 0; i < x.length(); i++)
                sum += x.get(i);
            return List.of(new TaskView(System.identityHashCode(heap), SparkEnv.get().executorId(), heap.backendName(),
                    sum)).iterator();
        }
    }

    private static List<TaskView> runTasks() {
        List<Integer> data = new ArrayList<>();
        for (int i = 0; i < PARTITIONS; i++)
            data.add(i);
        return JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(data, PARTITIONS)
                .mapPartitions(Hmm4jSparkPluginTest::fillAndSum).collect();
    }

    @Test
    @Order(1)
    void everyTaskOfTheExecutorUsesItsOneOpenHeap() {
        List<TaskView> views = runTasks();

        assertThat(views).hasSize(PARTITIONS);
        assertThat(views).extracting(TaskView::heap).containsOnly(System.identityHashCode(HmmSpark.heap()));
        assertThat(views).extracting(TaskView::executor).containsOnly("driver");
        assertThat(views).extracting(TaskView::backend).containsOnly("emulated");
        assertThat(views).extracting(TaskView::sum).containsExactlyInAnyOrder(
                java.util.stream.IntStream.rangeClosed(1, PARTITIONS).mapToObj(p -> (double) p * ELEMENTS).toArray(Double[]::new));
    }

    @Test
    @Order(2)
    void theHeapsCountersAreInSparksMetricsSystem() {
        runTasks();
        List<Source> sources = CollectionConverters.asJava(SparkEnv.get().metricsSystem().getSourcesByName(LocalSpark.METRIC_SOURCE));
        assertThat(sources).hasSize(1);
        MetricRegistry registry = sources.getFirst().metricRegistry();

        assertThat(registry.getGauges().keySet()).contains("hmm4j.faults.read", "hmm4j.faults.write",
                "hmm4j.migrated.to_device.launch", "hmm4j.migrated.to_host.fault", "hmm4j.evictions",
                "hmm4j.launches", "hmm4j.arrays.live", "hmm4j.memory.used.device.emulated_0",
                "hmm4j.memory.budget.device.emulated_0");
        assertThat(value(registry, "hmm4j.launches")).isGreaterThanOrEqualTo(PARTITIONS);
        assertThat(value(registry, "hmm4j.faults.read")).isPositive();
        assertThat(value(registry, "hmm4j.migrated.to_host.fault")).isPositive();
        assertThat(value(registry, "hmm4j.memory.budget.device.emulated_0")).isEqualTo(64 << 20);
        assertThat(value(registry, "hmm4j.arrays.live")).as("every task closed its arrays").isZero();
    }

    private static long value(MetricRegistry registry, String name) {
        Gauge<?> gauge = registry.getGauges().get(name);
        return (Long) gauge.getValue();
    }

    @Test
    @Order(3)
    void stoppingSparkClosesTheExecutorsHeap() {
        ManagedHeap heap = HmmSpark.heap();

        spark.stop();

        assertThat(heap.isOpen()).isFalse();
        assertThat(HmmSpark.isActive()).isFalse();
        assertThatThrownBy(HmmSpark::heap).isInstanceOf(IllegalStateException.class);
    }
}
