package io.hmm4j.spark;

import io.hmm4j.DoubleArray;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedArray;
import io.hmm4j.ManagedHeap;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * A DataFrame's numeric columns as managed arrays, one partition at a time, on the executor's heap: the
 * partition's values become one row-major array ({@code rows x columns}), a {@link PartitionKernel} writes one
 * result per row (kernels on the device, CPU loops on the host; hmm4j migrates between them), and the results
 * come back as a new column.
 *
 * <pre>{@code
 * Dataset<Row> out = ManagedColumns.mapFloats(df, List.of("x", "y"), "score", (in, score) -> {
 *     in.heap().launchOn(in.device(), kernel, in.rows(), Arg.read(in.values()), Arg.write(score), ...);
 *     for (long i = 0; i < in.rows(); i++) ...   // host reads of score fault its blocks home
 * });
 * }</pre>
 *
 * <p>A partition is held twice while it runs: its rows (to append the result to them) and the managed array.
 */
public final class ManagedColumns {

    private ManagedColumns() {}

    /**
     * One partition as a managed array.
     *
     * @param heap the executor's heap
     * @param device the heap device of the task's GPU ({@link HmmSpark#deviceIndex()})
     * @param values the selected columns, row-major: element {@code row * columns + column}
     * @param rows rows in the partition, at least 1
     * @param columns selected columns, at least 1
     */
    public record Batch<A extends ManagedArray>(ManagedHeap heap, int device, A values, long rows, int columns) {}

    /** Per-partition work: writes one value per row of {@code input} into {@code out}. Runs on the executors. */
    @FunctionalInterface
    public interface PartitionKernel<A extends ManagedArray> extends Serializable {
        void compute(Batch<A> input, A out);
    }

    /**
     * {@code df} with a {@code float} column {@code output} that {@code kernel} computes from the {@code inputs}
     * (any numeric type, converted to {@code float}). Empty partitions never run the kernel.
     *
     * @throws IllegalArgumentException if an input is missing or not numeric, {@code inputs} is empty, or
     *         {@code output} already exists; a {@code null} input value fails its task with this exception
     */
    public static Dataset<Row> mapFloats(Dataset<Row> df, List<String> inputs, String output,
            PartitionKernel<FloatArray> kernel) {
        return map(df, inputs, output, DataTypes.FloatType, Elements.FLOAT, kernel);
    }

    /** As {@link #mapFloats}, in {@code double}. */
    public static Dataset<Row> mapDoubles(Dataset<Row> df, List<String> inputs, String output,
            PartitionKernel<DoubleArray> kernel) {
        return map(df, inputs, output, DataTypes.DoubleType, Elements.DOUBLE, kernel);
    }

    /**
     * The positions of {@code columns} in {@code schema}, for {@link #readFloats} and {@link #readDoubles}.
     *
     * @throws IllegalArgumentException if a column is missing or not numeric, or {@code columns} is empty
     */
    public static int[] numericFields(StructType schema, List<String> columns) {
        if (columns.isEmpty())
            throw new IllegalArgumentException("no input columns");
        List<String> names = Arrays.asList(schema.fieldNames());
        int[] fields = new int[columns.size()];
        for (int c = 0; c < fields.length; c++) {
            String column = Objects.requireNonNull(columns.get(c), "column");
            int field = names.indexOf(column);
            if (field < 0)
                throw new IllegalArgumentException("no column '" + column + "' in " + names);
            DataType type = schema.fields()[field].dataType();
            if (!(type instanceof NumericType))
                throw new IllegalArgumentException("column '" + column + "' is " + type.simpleString() + ", not numeric");
            fields[c] = field;
        }
        return fields;
    }

    /**
     * The {@code fields} of {@code rows} as a new row-major {@code float} array on {@code heap}; the caller closes it.
     *
     * @throws IllegalArgumentException if {@code rows} is empty or a value is {@code null}
     */
    public static FloatArray readFloats(ManagedHeap heap, List<Row> rows, int[] fields) {
        return read(heap, rows, fields, Elements.FLOAT);
    }

    /** As {@link #readFloats}, in {@code double}. */
    public static DoubleArray readDoubles(ManagedHeap heap, List<Row> rows, int[] fields) {
        return read(heap, rows, fields, Elements.DOUBLE);
    }

    private static <A extends ManagedArray> Dataset<Row> map(Dataset<Row> df, List<String> inputs, String output,
            DataType outputType, Elements<A> elements, PartitionKernel<A> kernel) {
        Objects.requireNonNull(kernel, "kernel");
        StructType schema = df.schema();
        int[] fields = numericFields(schema, inputs);
        if (Arrays.asList(schema.fieldNames()).contains(output))
            throw new IllegalArgumentException("output column '" + output + "' already exists");
        StructType result = schema.add(new StructField(output, outputType, false, Metadata.empty()));
        MapPartitionsFunction<Row, Row> perPartition = rows -> mapPartition(rows, fields, elements, kernel);
        return df.mapPartitions(perPartition, Encoders.row(result));
    }

    private static <A extends ManagedArray> Iterator<Row> mapPartition(Iterator<Row> partition, int[] fields,
            Elements<A> elements, PartitionKernel<A> kernel) {
        List<Row> rows = new ArrayList<>();
        partition.forEachRemaining(rows::add);
        if (rows.isEmpty())
            return Collections.emptyIterator();
        ManagedHeap heap = HmmSpark.heap();
        Object[] results;
        try (A values = read(heap, rows, fields, elements); A out = elements.allocate(heap, rows.size())) {
            kernel.compute(new Batch<>(heap, HmmSpark.deviceIndex(), values, rows.size(), fields.length), out);
            results = elements.boxAll(out);
        }
        List<Row> mapped = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) {
            Row row = rows.get(i);
            Object[] values = new Object[row.size() + 1];
            for (int f = 0; f < row.size(); f++)
                values[f] = row.get(f);
            values[row.size()] = results[i];
            mapped.add(RowFactory.create(values));
        }
        return mapped.iterator();
    }

    private static <A extends ManagedArray> A read(ManagedHeap heap, List<Row> rows, int[] fields, Elements<A> elements) {
        if (rows.isEmpty())
            throw new IllegalArgumentException("no rows: a managed array has at least one element");
        A values = elements.allocate(heap, (long) rows.size() * fields.length);
        try {
            long index = 0;
            for (Row row : rows) {
                for (int field : fields) {
                    if (row.isNullAt(field))
                        throw new IllegalArgumentException("column '" + fieldName(row, field)
                                + "' holds a null; managed arrays hold numbers only");
                    elements.set(values, index++, (Number) row.get(field));
                }
            }
        } catch (RuntimeException | Error e) {
            values.close();
            throw e;
        }
        return values;
    }

    private static String fieldName(Row row, int field) {
        return row.schema() == null ? "#" + field : row.schema().fieldNames()[field];
    }

    /** What {@code float} and {@code double} arrays differ in. */
    private interface Elements<A extends ManagedArray> extends Serializable {
        Elements<FloatArray> FLOAT = new FloatElements();
        Elements<DoubleArray> DOUBLE = new DoubleElements();

        A allocate(ManagedHeap heap, long length);

        void set(A array, long index, Number value);

        Object[] boxAll(A array);
    }

    private record FloatElements() implements Elements<FloatArray> {
        @Override
        public FloatArray allocate(ManagedHeap heap, long length) {
            return heap.allocateFloats(length);
        }

        @Override
        public void set(FloatArray array, long index, Number value) {
            array.set(index, value.floatValue());
        }

        @Override
        public Object[] boxAll(FloatArray array) {
            float[] values = array.toArray();
            Object[] boxed = new Object[values.length];
            for (int i = 0; i < values.length; i++)
                boxed[i] = values[i];
            return boxed;
        }
    }

    private record DoubleElements() implements Elements<DoubleArray> {
        @Override
        public DoubleArray allocate(ManagedHeap heap, long length) {
            return heap.allocateDoubles(length);
        }

        @Override
        public void set(DoubleArray array, long index, Number value) {
            array.set(index, value.doubleValue());
        }

        @Override
        public Object[] boxAll(DoubleArray array) {
            return Arrays.stream(array.toArray()).boxed().toArray();
        }
    }
}
