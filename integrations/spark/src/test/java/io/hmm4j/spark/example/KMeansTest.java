package io.hmm4j.spark.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.hmm4j.HeapStats;
import io.hmm4j.spark.HmmSpark;
import java.util.List;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The example's k-means with hmm4j on the executor against the same iterations as plain Spark code. */
class KMeansTest {

    private static final int POINTS = 30_000;
    private static final int DIMS = 4;
    private static final int K = 5;
    private static final int PARTITIONS = 6;
    private static final int ITERATIONS = 3;

    private static SparkSession spark;
    private static Dataset<Row> points;
    private static final List<String> COLUMNS = KMeans.columns(DIMS);

    @BeforeAll
    static void start() {
        spark = io.hmm4j.spark.LocalSpark.start("KMeansTest");
        points = KMeans.generate(spark, POINTS, DIMS, K, PARTITIONS, 7).cache();
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    @Test
    void hmm4jStepsOverSixPartitionsEqualPlainSparkSteps() {
        float[] initial = KMeans.initialCentroids(points, K, DIMS);
        HeapStats before = HmmSpark.heap().stats();
        float[] managed = initial;
        float[] plain = initial;
        KMeans.Step managedStep = null;
        KMeans.Step plainStep = null;
        for (int it = 0; it < ITERATIONS; it++) {
            managedStep = KMeans.step(points, COLUMNS, managed, K);
            plainStep = KMeans.plainStep(points, COLUMNS, plain, K);
            managed = managedStep.centroids();
            plain = plainStep.centroids();
        }
        HeapStats after = HmmSpark.heap().stats();

        assertThat(managedStep.counts()).isEqualTo(plainStep.counts());
        assertThat(java.util.Arrays.stream(managedStep.counts()).sum()).isEqualTo(POINTS);
        for (int i = 0; i < managed.length; i++)
            assertThat(managed[i]).as("centroid value " + i).isCloseTo(plain[i], within(1e-4f));
        assertThat(managedStep.cost()).isCloseTo(plainStep.cost(), within(1e-6 * plainStep.cost()));
        assertThat(after.launches() - before.launches()).isEqualTo((long) PARTITIONS * ITERATIONS);
        assertThat(after.readFaults() - before.readFaults()).as("the host loops read the kernel's output").isPositive();
    }

    @Test
    void theDistanceColumnIsTheHostReferencesDistance() {
        float[] centroids = KMeans.initialCentroids(points, K, DIMS);

        List<Row> rows = KMeans.withDistance(points, COLUMNS, centroids, K).collectAsList();

        assertThat(rows).hasSize(POINTS);
        for (Row row : rows) {
            float[] point = new float[DIMS];
            for (int j = 0; j < DIMS; j++)
                point[j] = row.getFloat(1 + j);
            float expected = KMeansKernels.squaredDistance(point, centroids, KMeansKernels.assignOnHost(point, centroids, K));
            assertThat(row.getFloat(DIMS + 1)).as("row " + row.getLong(0)).isEqualTo(expected);
        }
    }
}
