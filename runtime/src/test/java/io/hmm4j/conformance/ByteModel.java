package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Model-based testing: random sequences of host reads and writes, kernel launches, prefetches, evacuations,
 * raw segment copies and frees run against a heap and against plain {@code byte[]} models; every read and the
 * final contents must agree byte for byte. Values stay small integers so float arithmetic is exact on every
 * backend (no rounding, FMA or not).
 */
public final class ByteModel {

    /** One operation. Arrays are referred to by slot; lengths are in floats. */
    public sealed interface Op {}

    public record HostWrite(int slot, int index, float value) implements Op {}

    public record HostRead(int slot, int index) implements Op {}

    public record Fill(int slot, float value) implements Op {}

    public record Scale(int slot, float factor) implements Op {}

    public record Axpy(int x, int y, float a) implements Op {}

    public record Prefetch(int slot, int firstFloat, int floats, boolean toDevice) implements Op {}

    public record Evacuate() implements Op {}

    public record CopyRange(int from, int to, int index, int floats) implements Op {}

    public record Free(int slot) implements Op {}

    private static final float LIMIT = 1 << 20;

    private ByteModel() {}

    public static List<Op> randomOps(long seed, int count, int slots, int length) {
        Random r = new Random(seed);
        List<Op> ops = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int slot = r.nextInt(slots);
            ops.add(switch (r.nextInt(12)) {
                case 0, 1 -> new HostWrite(slot, r.nextInt(length), r.nextInt(201) - 100);
                case 2, 3 -> new HostRead(slot, r.nextInt(length));
                case 4 -> new Fill(slot, r.nextInt(21) - 10);
                case 5 -> new Scale(slot, new float[] {2, -1, 1}[r.nextInt(3)]);
                case 6 -> new Axpy(slot, r.nextInt(slots), new float[] {1, -1, 2}[r.nextInt(3)]);
                case 7 -> {
                    int first = r.nextInt(length);
                    yield new Prefetch(slot, first, 1 + r.nextInt(length - first), r.nextBoolean());
                }
                case 8 -> new Evacuate();
                case 9 -> {
                    int at = r.nextInt(length);
                    yield new CopyRange(slot, r.nextInt(slots), at, 1 + r.nextInt(length - at));
                }
                case 10 -> new Free(slot);
                default -> new HostRead(slot, r.nextInt(length));
            });
        }
        return ops;
    }

    static float get(byte[] model, int index) {
        return ByteBuffer.wrap(model).order(ByteOrder.nativeOrder()).getFloat(index * 4);
    }

    static void put(byte[] model, int index, float value) {
        ByteBuffer.wrap(model).order(ByteOrder.nativeOrder()).putFloat(index * 4, value);
    }

    static float maxAbs(byte[] model) {
        float max = 0;
        for (int i = 0; i < model.length / 4; i++)
            max = Math.max(max, Math.abs(get(model, i)));
        return max;
    }

    /**
     * Where the arrays of a run come from: fresh heap memory (zeros), or files, whose contents an array reopened
     * after {@link Free} still holds, and which are checked whenever an array is closed.
     */
    public interface Backing {
        /** A new array for {@code slot}; it holds {@code model} (zeros, or a file's bytes). */
        FloatArray open(ManagedHeap heap, int slot, int length, byte[] model);

        /** Whether a slot reopened after {@link Free} keeps its model (a file) rather than starting at zeros. */
        boolean keepsContents();

        /** Called right before a slot's array is closed, with what it must hold. */
        void beforeClose(int slot, FloatArray array, byte[] model);

        /** Called right after a slot's array was closed, with what it held. */
        void afterClose(int slot, byte[] model);
    }

    /** Arrays from {@link ManagedHeap#allocateFloats}. */
    public static final Backing HEAP = new Backing() {
        @Override
        public FloatArray open(ManagedHeap heap, int slot, int length, byte[] model) {
            return heap.allocateFloats(length);
        }

        @Override
        public boolean keepsContents() {
            return false;
        }

        @Override
        public void beforeClose(int slot, FloatArray array, byte[] model) {}

        @Override
        public void afterClose(int slot, byte[] model) {}
    };

    /** Runs {@code ops}, checking every read, then compares every array with its model. */
    public static void run(ManagedHeap heap, List<Op> ops, int slots, int length) {
        run(heap, ops, slots, length, HEAP);
    }

    /** {@link #run(ManagedHeap, List, int, int)} over arrays from {@code backing}. */
    public static void run(ManagedHeap heap, List<Op> ops, int slots, int length, Backing backing) {
        FloatArray[] arrays = new FloatArray[slots];
        byte[][] models = new byte[slots][];
        for (int s = 0; s < slots; s++) {
            models[s] = new byte[length * 4];
            arrays[s] = backing.open(heap, s, length, models[s]);
        }
        long n = length;
        int step = 0;
        for (Op op : ops) {
            step++;
            String where = "step " + step + " " + op;
            switch (op) {
                case HostWrite(int s, int i, float v) -> {
                    arrays[s].set(i, v);
                    put(models[s], i, v);
                }
                case HostRead(int s, int i) -> assertThat(arrays[s].get(i)).as(where).isEqualTo(get(models[s], i));
                case Fill(int s, float v) -> {
                    heap.launch(BuiltinKernel.FILL, n, Arg.write(arrays[s]), Arg.of(v), Arg.of(n)).await();
                    for (int i = 0; i < length; i++)
                        put(models[s], i, v);
                }
                case Scale(int s, float f) -> {
                    if (maxAbs(models[s]) * Math.abs(f) < LIMIT) {
                        heap.launch(BuiltinKernel.SCALE, n, Arg.readWrite(arrays[s]), Arg.of(f), Arg.of(n)).await();
                        for (int i = 0; i < length; i++)
                            put(models[s], i, get(models[s], i) * f);
                    }
                }
                case Axpy(int x, int y, float a) -> {
                    if (maxAbs(models[x]) * 2 + maxAbs(models[y]) < LIMIT) {
                        heap.launch(BuiltinKernel.AXPY, n, Arg.read(arrays[x]), Arg.readWrite(arrays[y]), Arg.of(a),
                                Arg.of(n)).await();
                        for (int i = 0; i < length; i++)
                            put(models[y], i, a * get(models[x], i) + get(models[y], i));
                    }
                }
                case Prefetch(int s, int first, int floats, boolean toDevice) ->
                        heap.prefetch(arrays[s], first * 4L, floats * 4L, toDevice ? Location.device(0) : Location.HOST);
                case Evacuate() -> heap.evacuate(0);
                case CopyRange(int from, int to, int i, int floats) -> {
                    MemorySegment.copy(arrays[from].segment(), i * 4L, arrays[to].segment(), i * 4L, floats * 4L);
                    System.arraycopy(models[from], i * 4, models[to], i * 4, floats * 4);
                }
                case Free(int s) -> {
                    backing.beforeClose(s, arrays[s], models[s]);
                    arrays[s].close();
                    backing.afterClose(s, models[s]);
                    if (!backing.keepsContents())
                        models[s] = new byte[length * 4];
                    arrays[s] = backing.open(heap, s, length, models[s]);
                }
            }
        }
        for (int s = 0; s < slots; s++)
            assertThat(arrays[s].segment().toArray(ValueLayout.JAVA_BYTE)).as("final contents of slot %d", s)
                    .isEqualTo(models[s]);
        for (int s = 0; s < slots; s++) {
            backing.beforeClose(s, arrays[s], models[s]);
            arrays[s].close();
            backing.afterClose(s, models[s]);
        }
    }
}
