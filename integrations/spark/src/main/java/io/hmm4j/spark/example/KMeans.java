package io.hmm4j.spark.example;

import static org.apache.spark.sql.functions.avg;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.randn;
import static org.apache.spark.sql.functions.struct;
import static org.apache.spark.sql.functions.sum;
import static org.apache.spark.sql.functions.udf;

import io.hmm4j.Arg;
import io.hmm4j.FloatArray;
import io.hmm4j.HeapStats;
import io.hmm4j.IntArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spark.Hmm4jSparkPlugin;
import io.hmm4j.spark.HmmSpark;
import io.hmm4j.spark.ManagedColumns;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;

/**
 * Distributed k-means (Lloyd's algorithm) over a generated DataFrame, with hmm4j on every executor: in each
 * iteration every partition becomes a managed array, the assignment kernel runs on the executor's device, and a
 * host loop sums the points per cluster (its reads of the kernel's output fault those blocks home). The driver
 * adds the partitions' sums into the next centroids. At the end the same iterations run as plain Spark code
 * (a UDF and a groupBy) and the two results are compared.
 *
 * <pre>
 * KMeans [points] [k] [dims] [iterations] [partitions]     defaults 200000 8 16 10 8
 * spark-submit --class io.hmm4j.spark.example.KMeans --conf spark.plugins=io.hmm4j.spark.Hmm4jSparkPlugin \
 *     integrations/spark/target/hmm4j-spark-all.jar 1000000 8 16 10 32
 * </pre>
 * Without a master (not under spark-submit) it runs in {@code local[2]} and adds the plugin itself.
 */
public final class KMeans {

    /** Distance between neighbouring true centres, per dimension; the noise has standard deviation 1. */
    static final float SPREAD = 6f;

    private KMeans() {}

    /** One Lloyd step's outcome: the new centroids, the points per cluster and the summed squared distances. */
    public record Step(float[] centroids, long[] counts, double cost) {}

    /** The columns {@code x0 .. x(dims-1)}. */
    public static List<String> columns(int dims) {
        List<String> names = new ArrayList<>();
        for (int j = 0; j < dims; j++)
            names.add("x" + j);
        return names;
    }

    /**
     * {@code points} rows in {@code k} Gaussian blobs: row {@code id} belongs to blob {@code id % k}, whose centre
     * is {@code SPREAD * ((blob + j) % k)} in dimension {@code j}. Deterministic for a seed and partition count.
     */
    public static Dataset<Row> generate(SparkSession spark, long points, int dims, int k, int partitions, long seed) {
        List<Column> select = new ArrayList<>();
        select.add(col("id"));
        Column blob = col("id").mod(k);
        for (int j = 0; j < dims; j++) {
            Column centre = blob.plus(j).mod(k).multiply(SPREAD);
            select.add(centre.plus(randn(seed + j)).cast(DataTypes.FloatType).as("x" + j));
        }
        return spark.range(0, points, 1, partitions).select(select.toArray(Column[]::new));
    }

    /** The first {@code k} rows' points: one from each blob, as {@link #generate} numbers them. */
    public static float[] initialCentroids(Dataset<Row> points, int k, int dims) {
        float[] centroids = new float[k * dims];
        List<Row> first = points.orderBy("id").limit(k).collectAsList();
        for (int c = 0; c < k; c++)
            for (int j = 0; j < dims; j++)
                centroids[c * dims + j] = first.get(c).getFloat(first.get(c).fieldIndex("x" + j));
        return centroids;
    }

    /**
     * One Lloyd step with hmm4j on the executors. A cluster that lost all its points keeps its centroid.
     *
     * @throws IllegalArgumentException if a column is missing or not numeric, or the centroids are not
     *         {@code k x columns}
     */
    public static Step step(Dataset<Row> points, List<String> columns, float[] centroids, int k) {
        int[] fields = ManagedColumns.numericFields(points.schema(), columns);
        int d = fields.length;
        if (k <= 0 || centroids.length != k * d)
            throw new IllegalArgumentException(centroids.length + " centroid values are not " + k + " x " + d);
        double[] zero = new double[k * d + k + 1];
        double[] total = points.javaRDD()
                .mapPartitions(rows -> partialSums(rows, fields, centroids, k))
                .fold(zero, KMeans::addInto);
        float[] next = centroids.clone();
        long[] counts = new long[k];
        for (int c = 0; c < k; c++) {
            counts[c] = (long) total[k * d + c];
            if (counts[c] == 0)
                continue;
            for (int j = 0; j < d; j++)
                next[c * d + j] = (float) (total[c * d + j] / counts[c]);
        }
        return new Step(next, counts, total[k * d + k]);
    }

    /**
     * On an executor: per-cluster sums of one partition, then the counts, then the summed squared distances. The
     * kernel writes {@code cluster} and {@code distance} on the device; the host loop reads them (faults) and the
     * points (still valid on the host: the kernel only read them).
     */
    static Iterator<double[]> partialSums(Iterator<Row> partition, int[] fields, float[] centroids, int k) {
        List<Row> rows = new ArrayList<>();
        partition.forEachRemaining(rows::add);
        if (rows.isEmpty())
            return Collections.emptyIterator();
        int d = fields.length;
        long n = rows.size();
        ManagedHeap heap = HmmSpark.heap();
        double[] sums = new double[k * d + k + 1];
        try (FloatArray points = ManagedColumns.readFloats(heap, rows, fields);
                FloatArray centres = heap.allocateFloats(centroids.length);
                IntArray cluster = heap.allocateInts(n);
                FloatArray distance = heap.allocateFloats(n)) {
            centres.copyFrom(centroids);
            heap.launchOn(HmmSpark.deviceIndex(), KMeansKernels.assign(heap), n, Arg.read(points), Arg.read(centres),
                    Arg.write(cluster), Arg.write(distance), Arg.of(n), Arg.of(d), Arg.of(k)).await();
            for (long i = 0; i < n; i++) {
                int c = cluster.get(i);
                for (int j = 0; j < d; j++)
                    sums[c * d + j] += points.get(i * d + j);
                sums[k * d + c] += 1;
                sums[k * d + k] += distance.get(i);
            }
        }
        return List.of(sums).iterator();
    }

    private static double[] addInto(double[] into, double[] more) {
        for (int i = 0; i < into.length; i++)
            into[i] += more[i];
        return into;
    }

    /**
     * {@code points} with a {@code distance} column: each point's squared distance to its nearest centroid,
     * computed by the same kernel through {@link ManagedColumns#mapFloats}.
     */
    public static Dataset<Row> withDistance(Dataset<Row> points, List<String> columns, float[] centroids, int k) {
        int d = columns.size();
        return ManagedColumns.mapFloats(points, columns, "distance", (in, distance) -> {
            ManagedHeap heap = in.heap();
            try (FloatArray centres = heap.allocateFloats(centroids.length);
                    IntArray cluster = heap.allocateInts(in.rows())) {
                centres.copyFrom(centroids);
                heap.launchOn(in.device(), KMeansKernels.assign(heap), in.rows(), Arg.read(in.values()),
                        Arg.read(centres), Arg.write(cluster), Arg.write(distance), Arg.of(in.rows()), Arg.of(d),
                        Arg.of(k)).await();
            }
        });
    }

    /** The same step as plain Spark code: a UDF assigns (the host reference), a groupBy averages. */
    public static Step plainStep(Dataset<Row> points, List<String> columns, float[] centroids, int k) {
        int d = columns.size();
        Column[] xs = columns.stream().map(functions::col).toArray(Column[]::new);
        UDF1<Row, Integer> nearest = row -> {
            float[] point = new float[d];
            for (int j = 0; j < d; j++)
                point[j] = row.getFloat(j);
            return KMeansKernels.assignOnHost(point, centroids, k);
        };
        UDF1<Row, Float> distanceTo = row -> {
            float[] point = new float[d];
            for (int j = 0; j < d; j++)
                point[j] = row.getFloat(j);
            return KMeansKernels.squaredDistance(point, centroids, KMeansKernels.assignOnHost(point, centroids, k));
        };
        Column pointStruct = struct(xs);
        Dataset<Row> assigned = points
                .withColumn("cluster", udf(nearest, DataTypes.IntegerType).apply(pointStruct))
                .withColumn("d2", udf(distanceTo, DataTypes.FloatType).apply(pointStruct));
        List<Column> aggregates = new ArrayList<>();
        for (String x : columns)
            aggregates.add(sum(col(x).cast(DataTypes.DoubleType)).as(x));
        aggregates.add(count(lit(1)).as("count"));
        aggregates.add(sum(col("d2").cast(DataTypes.DoubleType)).as("cost"));
        List<Row> perCluster = assigned.groupBy("cluster")
                .agg(aggregates.getFirst(), aggregates.subList(1, aggregates.size()).toArray(Column[]::new))
                .collectAsList();
        float[] next = centroids.clone();
        long[] counts = new long[k];
        double cost = 0;
        for (Row row : perCluster) {
            int c = row.getInt(0);
            counts[c] = row.getLong(d + 1);
            cost += row.getDouble(d + 2);
            for (int j = 0; j < d; j++)
                next[c * d + j] = (float) (row.getDouble(1 + j) / counts[c]);
        }
        return new Step(next, counts, cost);
    }

    public static void main(String[] args) {
        long n = args.length > 0 ? Long.parseLong(args[0]) : 200_000;
        int k = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        int dims = args.length > 2 ? Integer.parseInt(args[2]) : 16;
        int iterations = args.length > 3 ? Integer.parseInt(args[3]) : 10;
        int partitions = args.length > 4 ? Integer.parseInt(args[4]) : 8;
        if (n < k || k < 1 || dims < 1 || iterations < 1 || partitions < 1) {
            System.err.println("usage: KMeans [points >= k] [k >= 1] [dims >= 1] [iterations >= 1] [partitions >= 1]");
            System.exit(2);
        }
        SparkSession.Builder builder = SparkSession.builder().appName("hmm4j k-means");
        if (!new SparkConf().contains("spark.master"))
            builder.master("local[2]").config("spark.plugins", Hmm4jSparkPlugin.class.getName())
                    .config("spark.ui.enabled", "false");
        SparkSession spark = builder.getOrCreate();
        try {
            run(spark, n, k, dims, iterations, partitions);
        } finally {
            spark.stop();
        }
    }

    private static void run(SparkSession spark, long n, int k, int dims, int iterations, int partitions) {
        List<String> columns = columns(dims);
        Dataset<Row> points = generate(spark, n, dims, k, partitions, 42).cache();
        long count = points.count();
        System.out.printf(Locale.ROOT, "hmm4j k-means: %d points, %d dims, k=%d, %d partitions, %d iterations, master %s%n",
                count, dims, k, points.rdd().getNumPartitions(), iterations, spark.sparkContext().master());
        if (HmmSpark.isActive())
            System.out.printf(Locale.ROOT, "executor heap in this JVM: backend %s, device %s%n",
                    HmmSpark.heap().backendName(), HmmSpark.heap().devices().getFirst().id());
        float[] initial = initialCentroids(points, k, dims);
        HeapStats before = HmmSpark.isActive() ? HmmSpark.heap().stats() : null;

        float[] centroids = initial;
        Step step = null;
        long start = System.nanoTime();
        for (int it = 1; it <= iterations; it++) {
            long t = System.nanoTime();
            step = step(points, columns, centroids, k);
            System.out.printf(Locale.ROOT, "iteration %2d  cost %.6e  centroid shift %.4e  %6.0f ms%n", it, step.cost(),
                    maxDifference(centroids, step.centroids()), (System.nanoTime() - t) / 1e6);
            centroids = step.centroids();
        }
        long hmm4jNanos = System.nanoTime() - start;

        float[] plain = initial;
        Step plainStep = null;
        start = System.nanoTime();
        for (int it = 1; it <= iterations; it++) {
            plainStep = plainStep(points, columns, plain, k);
            plain = plainStep.centroids();
        }
        long plainNanos = System.nanoTime() - start;

        double meanDistance = withDistance(points, columns, centroids, k)
                .agg(avg("distance")).first().getDouble(0);
        System.out.printf(Locale.ROOT, "%ncluster sizes       %s%n", Arrays.toString(step.counts()));
        System.out.printf(Locale.ROOT, "mean squared distance to the nearest centroid (distance column): %.4f%n", meanDistance);
        System.out.printf(Locale.ROOT, "hmm4j steps         %.3f s%nplain Spark steps   %.3f s  (UDF + groupBy)%n",
                hmm4jNanos / 1e9, plainNanos / 1e9);
        System.out.printf(Locale.ROOT, "plain Spark agrees: same cluster sizes %b, max |centroid difference| %.3g, cost %.6e vs %.6e%n",
                Arrays.equals(step.counts(), plainStep.counts()), maxDifference(centroids, plain), step.cost(),
                plainStep.cost());
        if (before != null) {
            HeapStats after = HmmSpark.heap().stats();
            System.out.printf(Locale.ROOT, "executor heap: %d launches, %d read faults, %d write faults, %.1f MiB to device,"
                            + " %.1f MiB to host%n", after.launches() - before.launches(),
                    after.readFaults() - before.readFaults(), after.writeFaults() - before.writeFaults(),
                    (after.bytesToDevice() - before.bytesToDevice()) / 1048576.0,
                    (after.bytesToHost() - before.bytesToHost()) / 1048576.0);
        }
    }

    static double maxDifference(float[] a, float[] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++)
            max = Math.max(max, Math.abs(a[i] - b[i]));
        return max;
    }
}
