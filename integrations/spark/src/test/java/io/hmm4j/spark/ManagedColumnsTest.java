package io.hmm4j.spark;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.concat;
import static org.apache.spark.sql.functions.lit;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.HeapStats;
import io.hmm4j.ManagedHeap;
import io.hmm4j.MigrationCause;
import java.util.List;
import org.apache.spark.SparkException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Columns in, managed arrays per partition, a column out: against the same arithmetic in Spark SQL. */
class ManagedColumnsTest {

    private static final int ROWS = 20_000;
    private static final int PARTITIONS = 5;

    private static SparkSession spark;
    /** 5 partitions of 4000 rows, the last two empty; x holds small integers, so float arithmetic is exact. */
    private static Dataset<Row> table;

    @BeforeAll
    static void start() {
        spark = LocalSpark.start("ManagedColumnsTest");
        table = spark.range(0, ROWS, 1, PARTITIONS)
                .select(col("id"), col("id").mod(97).cast(DataTypes.FloatType).as("x"),
                        col("id").mod(13).cast(DataTypes.IntegerType).as("k"),
                        concat(lit("row "), col("id")).as("label"))
                .filter(col("id").lt(3 * ROWS / PARTITIONS));
    }

    @AfterAll
    static void stop() {
        spark.stop();
    }

    /** out = 2 * (3x + 1): two kernels on the device, a host loop between them, the result read home. */
    private static void deviceHostDevice(ManagedColumns.Batch<FloatArray> in, FloatArray out) {
        ManagedHeap heap = in.heap();
        long n = in.rows();
        heap.launchOn(in.device(), BuiltinKernel.SCALE, n, Arg.readWrite(in.values()), Arg.of(3f), Arg.of(n));
        heap.launchOn(in.device(), BuiltinKernel.AXPY, n, Arg.read(in.values()), Arg.readWrite(out), Arg.of(1f),
                Arg.of(n));
        for (long i = 0; i < n; i++)
            out.set(i, out.get(i) + 1);
        heap.launchOn(in.device(), BuiltinKernel.SCALE, n, Arg.readWrite(out), Arg.of(2f), Arg.of(n)).await();
    }

    @Test
    void kernelsAndAHostLoopPerPartitionGiveWhatSparkSqlGives() {
        HeapStats before = HmmSpark.heap().stats();

        // Sorted here, not by orderBy: its sampling job would run the kernels a second time.
        List<Row> managed = byId(ManagedColumns.mapFloats(table, List.of("x"), "z", ManagedColumnsTest::deviceHostDevice)
                .collectAsList());
        List<Row> plain = byId(table.withColumn("z", col("x").multiply(3).plus(1).multiply(2).cast(DataTypes.FloatType))
                .collectAsList());

        assertThat(managed).hasSize(3 * ROWS / PARTITIONS).isEqualTo(plain);
        HeapStats after = HmmSpark.heap().stats();
        assertThat(after.launches() - before.launches()).as("3 launches in each non-empty partition").isEqualTo(9);
        assertThat(after.writeFaults() - before.writeFaults()).as("the host loop wrote device-resident blocks").isPositive();
        assertThat(after.bytesToHost(MigrationCause.FAULT) - before.bytesToHost(MigrationCause.FAULT)).isPositive();
        assertThat(after.liveArrays()).isZero();
    }

    private static List<Row> byId(List<Row> rows) {
        return rows.stream().sorted(java.util.Comparator.comparingLong(r -> r.getLong(0))).toList();
    }

    @Test
    void columnsOfAnyNumericTypeArriveRowMajorInDouble() {
        List<Row> managed = ManagedColumns.mapDoubles(table, List.of("x", "k", "id"), "d", (in, out) -> {
            for (long i = 0; i < in.rows(); i++) {
                long row = i * in.columns();
                out.set(i, in.values().get(row) - 0.5 * in.values().get(row + 1) + in.values().get(row + 2) / 3);
            }
        }).orderBy("id").collectAsList();
        List<Row> plain = table.withColumn("d", col("x").cast(DataTypes.DoubleType).minus(col("k").multiply(0.5))
                .plus(col("id").cast(DataTypes.DoubleType).divide(3))).orderBy("id").collectAsList();

        assertThat(managed).isEqualTo(plain);
    }

    @Test
    void badColumnsAreRefusedBeforeAnyJobRuns() {
        ManagedColumns.PartitionKernel<FloatArray> unused = (in, out) -> {
            throw new AssertionError("no job should run");
        };

        assertThatThrownBy(() -> ManagedColumns.mapFloats(table, List.of("nope"), "z", unused))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no column 'nope'");
        assertThatThrownBy(() -> ManagedColumns.mapFloats(table, List.of("label"), "z", unused))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'label' is string, not numeric");
        assertThatThrownBy(() -> ManagedColumns.mapFloats(table, List.of("x"), "k", unused))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'k' already exists");
        assertThatThrownBy(() -> ManagedColumns.mapFloats(table, List.of(), "z", unused))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no input columns");
    }

    @Test
    void aNullInAnInputColumnFailsTheTaskNamingTheColumn() {
        Dataset<Row> withNull = table.withColumn("x", org.apache.spark.sql.functions.when(col("id").equalTo(7), lit(null))
                .otherwise(col("x")));

        assertThatThrownBy(() -> ManagedColumns.mapFloats(withNull, List.of("x"), "z", (in, out) -> {}).collectAsList())
                .isInstanceOf(SparkException.class).hasStackTraceContaining("column 'x' holds a null");
        assertThat(HmmSpark.heap().liveArrays()).as("the failed read closed its array").isZero();
    }
}
