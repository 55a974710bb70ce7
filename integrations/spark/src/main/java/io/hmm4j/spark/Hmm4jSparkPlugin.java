package io.hmm4j.spark;

import org.apache.spark.api.plugin.DriverPlugin;
import org.apache.spark.api.plugin.ExecutorPlugin;
import org.apache.spark.api.plugin.SparkPlugin;

/**
 * hmm4j as a Spark plugin ({@code spark.plugins=io.hmm4j.spark.Hmm4jSparkPlugin}): every executor opens one
 * {@link io.hmm4j.ManagedHeap} on the GPUs Spark assigned to it (see {@link ExecutorHeapConfig} for the keys),
 * tasks reach it through {@link HmmSpark#heap()}, its counters go to Spark's metrics system as the source
 * {@code plugin.io.hmm4j.spark.Hmm4jSparkPlugin}, and it closes when the executor stops. In local mode the one
 * executor runs in the driver's JVM and opens the heap there.
 */
public final class Hmm4jSparkPlugin implements SparkPlugin {

    /** The driver needs nothing: the heaps live on the executors. */
    @Override
    public DriverPlugin driverPlugin() {
        return null;
    }

    @Override
    public ExecutorPlugin executorPlugin() {
        return new Hmm4jExecutorPlugin();
    }
}
