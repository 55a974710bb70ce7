package io.hmm4j.spark;

import org.apache.spark.sql.SparkSession;

/** The tests' Spark: local[2] with the plugin on the emulated backend (always available, and it migrates). */
public final class LocalSpark {

    static final String METRIC_SOURCE = "plugin." + Hmm4jSparkPlugin.class.getName();

    private LocalSpark() {}

    public static SparkSession start(String appName) {
        return SparkSession.builder().master("local[2]").appName(appName)
                .config("spark.plugins", Hmm4jSparkPlugin.class.getName())
                .config("spark.hmm4j.backend", "emulated")
                .config("spark.hmm4j.emulated.capacity", String.valueOf(64 << 20))
                .config("spark.ui.enabled", "false")
                .config("spark.sql.shuffle.partitions", "4")
                .config("spark.driver.host", "127.0.0.1")
                .getOrCreate();
    }
}
