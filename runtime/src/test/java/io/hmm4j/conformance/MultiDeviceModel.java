package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Advice;
import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.Residency;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;

/**
 * Model-based testing across several devices: random host reads and writes of ranges, launches on random devices
 * reading and writing, prefetches, exclusive migrations, evacuations and frees run against a heap and against two
 * models: plain {@code byte[]} contents, and where each block is valid (the host's state and the set of devices
 * holding a copy, as the MSI-with-several-sharers rules say). After every step every array's bytes read back and its
 * {@link Residency} must match both. Needs a heap with room for every array on every device (nothing evicted on its
 * own) and no fault read-ahead ({@code prefetchBlocks(0)}), so that every block's place is predictable.
 */
public final class MultiDeviceModel {

    public sealed interface Op {}

    /** Sets floats {@code [first, first + floats)} to {@code value} from the host. */
    public record HostWrite(int slot, int first, int floats, float value) implements Op {}

    public record HostRead(int slot, int first, int floats) implements Op {}

    public record Fill(int device, int slot, float value) implements Op {}

    public record Scale(int device, int slot, float factor) implements Op {}

    /** {@code y = a * x + y} on {@code device}: x is read there, y read and written. */
    public record Axpy(int device, int x, int y, float a) implements Op {}

    /** {@code device} -1: the host. */
    public record Prefetch(int slot, int first, int floats, int device) implements Op {}

    /** Exclusive: afterwards only {@code device} (-1: the host) holds the range. */
    public record Migrate(int slot, int first, int floats, int device) implements Op {}

    public record Evacuate(int device) implements Op {}

    /** FILL of floats {@code [first, first + floats)} on {@code device}: a range launch at global offset {@code first}. */
    public record RangeFill(int device, int slot, int first, int floats, float value) implements Op {}

    /** SCALE of floats {@code [first, first + floats)} on {@code device}. */
    public record RangeScale(int device, int slot, int first, int floats, float factor) implements Op {}

    /** AXPY over floats {@code [first, first + floats)} of x (read) and y (read and written) on {@code device}. */
    public record RangeAxpy(int device, int x, int y, int first, int floats, float a) implements Op {}

    /**
     * SCALE of one array split at float {@code split} between two devices, the second launched before the first is
     * awaited: they run at once where their blocks are apart, one after the other where they share one.
     */
    public record SplitScale(int slot, int split, int device0, int device1, float factor) implements Op {}

    public record Free(int slot) implements Op {}

    /**
     * {@link ManagedHeap#advise} of floats {@code [first, first + floats)}: {@code kind} 0 read-mostly, 1 preferred
     * location {@code device} (-1: the host), 2 accessed by {@code device}, 3 none (clears).
     */
    public record Advise(int slot, int first, int floats, int kind, int device) implements Op {}

    private static final float LIMIT = 1 << 20;

    private MultiDeviceModel() {}

    public static List<Op> randomOps(long seed, int count, int slots, int length, int devices) {
        Random r = new Random(seed);
        List<Op> ops = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            int slot = r.nextInt(slots);
            int device = r.nextInt(devices);
            int first = r.nextInt(length);
            int floats = 1 + r.nextInt(length - first);
            ops.add(switch (r.nextInt(13)) {
                case 0, 1 -> new HostWrite(slot, first, floats, r.nextInt(201) - 100);
                case 2, 3 -> new HostRead(slot, first, floats);
                case 4 -> new Fill(device, slot, r.nextInt(21) - 10);
                case 5 -> new Scale(device, slot, new float[] {2, -1, 1}[r.nextInt(3)]);
                case 6, 7 -> new Axpy(device, slot, r.nextInt(slots), new float[] {1, -1, 2}[r.nextInt(3)]);
                case 8 -> new Prefetch(slot, first, floats, r.nextInt(4) == 0 ? -1 : device);
                case 9, 10 -> new Migrate(slot, first, floats, r.nextInt(3) == 0 ? -1 : device);
                case 11 -> new Evacuate(device);
                default -> new Free(slot);
            });
        }
        return ops;
    }

    /**
     * {@link #randomOps} with {@link Advise} ops mixed in (about one op in six): the same kinds of ops otherwise, so
     * the advice's effects meet every other rule.
     */
    public static List<Op> randomOpsWithAdvice(long seed, int count, int slots, int length, int devices) {
        Random r = new Random(seed ^ 0x5eed);
        List<Op> ops = new ArrayList<>(randomOps(seed, count, slots, length, devices));
        for (int i = 0; i < count / 6; i++) {
            int first = r.nextInt(length);
            int kind = r.nextInt(4);
            int device = kind == 1 && r.nextInt(3) == 0 ? -1 : r.nextInt(devices);
            ops.add(r.nextInt(ops.size() + 1),
                    new Advise(r.nextInt(slots), first, 1 + r.nextInt(length - first), kind, device));
        }
        return ops;
    }

    /**
     * Random operations like {@link #randomOps}, with range launches (FILL, SCALE, AXPY over a random part of the
     * arrays) and split launches on two devices mixed in.
     */
    public static List<Op> randomRangeOps(long seed, int count, int slots, int length, int devices) {
        Random r = new Random(seed);
        List<Op> base = randomOps(seed ^ 0x5DEECE66DL, count, slots, length, devices);
        List<Op> ops = new ArrayList<>(count);
        for (Op op : base) {
            int slot = r.nextInt(slots);
            int device = r.nextInt(devices);
            int first = r.nextInt(length);
            int floats = 1 + r.nextInt(length - first);
            ops.add(switch (r.nextInt(8)) {
                case 0 -> new RangeFill(device, slot, first, floats, r.nextInt(21) - 10);
                case 1 -> new RangeScale(device, slot, first, floats, new float[] {2, -1, 1}[r.nextInt(3)]);
                case 2 -> new RangeAxpy(device, r.nextInt(slots), slot, first, floats, new float[] {1, -1, 2}[r.nextInt(3)]);
                case 3 -> new SplitScale(slot, r.nextInt(length + 1), device,
                        devices == 1 ? device : (device + 1 + r.nextInt(devices - 1)) % devices,
                        new float[] {2, -1, 1}[r.nextInt(3)]);
                default -> op;
            });
        }
        return ops;
    }

    /** Where one array's blocks are valid, as the rules say. */
    private static final class Places {
        final BlockState[] states;
        final long[] masks;
        final TreeSet<Integer> devices = new TreeSet<>();
        /** Advice per block: read-mostly, the preferred location (-2 none, -1 host), accessed-by device bits. */
        final boolean[] readMostly;
        final int[] preferred;
        final long[] accessedBy;

        Places(int blocks) {
            states = new BlockState[blocks];
            Arrays.fill(states, BlockState.HOST);
            masks = new long[blocks];
            readMostly = new boolean[blocks];
            preferred = new int[blocks];
            Arrays.fill(preferred, -2);
            accessedBy = new long[blocks];
        }

        void advise(int b, int kind, int d) {
            switch (kind) {
                case 0 -> readMostly[b] = true;
                case 1 -> preferred[b] = d;
                case 2 -> accessedBy[b] |= 1L << d;
                default -> {
                    readMostly[b] = false;
                    preferred[b] = -2;
                    accessedBy[b] = 0;
                }
            }
        }

        /**
         * After a launch that used the array (and after an accessed-by advice): written blocks preferring the host come
         * home (read: SHARED, the device copy stays), then every accessed-by device gets a copy (the heap has room).
         */
        void launchCompleted(boolean written) {
            if (written && !devices.isEmpty())
                for (int b = 0; b < states.length; b++)
                    if (preferred[b] == -1)
                        hostRead(b);
            keepAccessedCopies();
        }

        void keepAccessedCopies() {
            for (int b = 0; b < states.length; b++)
                for (long bits = accessedBy[b]; bits != 0; bits &= bits - 1) {
                    int d = Long.numberOfTrailingZeros(bits);
                    devices.add(d);
                    deviceRead(b, d);
                }
        }

        void hostRead(int b) {
            if (states[b] == BlockState.DEVICE)
                states[b] = BlockState.SHARED;
        }

        void hostWrite(int b) {
            states[b] = BlockState.HOST;
            masks[b] = 0;
        }

        void deviceRead(int b, int d) {
            if (states[b] == BlockState.HOST)
                states[b] = BlockState.SHARED;
            masks[b] |= 1L << d;
        }

        void deviceWrite(int b, int d) {
            states[b] = BlockState.DEVICE;
            masks[b] = 1L << d;
        }

        void evacuate(int d) {
            if (!devices.remove(d))
                return;
            for (int b = 0; b < states.length; b++) {
                if (masks[b] == 1L << d)
                    hostWrite(b);
                else
                    masks[b] &= ~(1L << d);
            }
        }
    }

    private static Location location(int device) {
        return device < 0 ? Location.HOST : Location.device(device);
    }

    /**
     * Runs {@code ops}, checking every read and, where {@code checkPlaces} (a backend whose blocks migrate), every
     * array's residency after every step; then compares every array with its model.
     */
    public static void run(ManagedHeap heap, List<Op> ops, int slots, int length, boolean checkPlaces) {
        long blockSize = heap.blockSize();
        int blocks = (int) ((length * 4L + blockSize - 1) / blockSize);
        FloatArray[] arrays = new FloatArray[slots];
        byte[][] models = new byte[slots][];
        Places[] places = new Places[slots];
        for (int s = 0; s < slots; s++) {
            arrays[s] = heap.allocateFloats(length);
            models[s] = new byte[length * 4];
            places[s] = new Places(blocks);
        }
        long n = length;
        int step = 0;
        for (Op op : ops) {
            step++;
            String where = "step " + step + " " + op;
            switch (op) {
                case HostWrite(int s, int first, int floats, float v) -> {
                    for (int i = first; i < first + floats; i++) {
                        arrays[s].set(i, v);
                        ByteModel.put(models[s], i, v);
                    }
                    forBlocks(blockSize, first, floats, places[s]::hostWrite);
                }
                case HostRead(int s, int first, int floats) -> {
                    for (int i = first; i < first + floats; i++)
                        assertThat(arrays[s].get(i)).as("%s, float %d", where, i)
                                .isEqualTo(ByteModel.get(models[s], i));
                    forBlocks(blockSize, first, floats, places[s]::hostRead);
                }
                case Fill(int d, int s, float v) -> {
                    heap.launchOn(d, BuiltinKernel.FILL, n, Arg.write(arrays[s]), Arg.of(v), Arg.of(n)).await();
                    for (int i = 0; i < length; i++)
                        ByteModel.put(models[s], i, v);
                    written(places[s], d);
                    places[s].launchCompleted(true);
                }
                case Scale(int d, int s, float f) -> {
                    if (ByteModel.maxAbs(models[s]) * Math.abs(f) < LIMIT) {
                        heap.launchOn(d, BuiltinKernel.SCALE, n, Arg.readWrite(arrays[s]), Arg.of(f), Arg.of(n))
                                .await();
                        for (int i = 0; i < length; i++)
                            ByteModel.put(models[s], i, ByteModel.get(models[s], i) * f);
                        written(places[s], d);
                        places[s].launchCompleted(true);
                    }
                }
                case Axpy(int d, int x, int y, float a) -> {
                    if (ByteModel.maxAbs(models[x]) * 2 + ByteModel.maxAbs(models[y]) < LIMIT) {
                        heap.launchOn(d, BuiltinKernel.AXPY, n, Arg.read(arrays[x]), Arg.readWrite(arrays[y]),
                                Arg.of(a), Arg.of(n)).await();
                        for (int i = 0; i < length; i++)
                            ByteModel.put(models[y], i, a * ByteModel.get(models[x], i) + ByteModel.get(models[y], i));
                        if (x != y) {
                            places[x].devices.add(d);
                            for (int b = 0; b < blocks; b++)
                                places[x].deviceRead(b, d);
                        }
                        written(places[y], d);
                        if (x != y)
                            places[x].launchCompleted(false);
                        places[y].launchCompleted(true);
                    }
                }
                case Prefetch(int s, int first, int floats, int d) -> {
                    heap.prefetch(arrays[s], first * 4L, floats * 4L, location(d));
                    if (d >= 0) {
                        places[s].devices.add(d);
                        forBlocks(blockSize, first, floats, b -> places[s].deviceRead(b, d));
                    } else {
                        forBlocks(blockSize, first, floats, places[s]::hostRead);
                    }
                }
                case Migrate(int s, int first, int floats, int d) -> {
                    heap.migrate(arrays[s], first * 4L, floats * 4L, location(d));
                    // Read-mostly blocks gain a copy at the destination instead of moving.
                    if (d >= 0) {
                        places[s].devices.add(d);
                        forBlocks(blockSize, first, floats, b -> {
                            if (places[s].readMostly[b])
                                places[s].deviceRead(b, d);
                            else
                                places[s].deviceWrite(b, d);
                        });
                    } else {
                        forBlocks(blockSize, first, floats, b -> {
                            if (places[s].readMostly[b])
                                places[s].hostRead(b);
                            else
                                places[s].hostWrite(b);
                        });
                    }
                }
                case Advise(int s, int first, int floats, int kind, int d) -> {
                    heap.advise(arrays[s], first * 4L, floats * 4L, switch (kind) {
                        case 0 -> Advice.readMostly();
                        case 1 -> Advice.preferredLocation(location(d));
                        case 2 -> Advice.accessedBy(d);
                        default -> Advice.none();
                    });
                    forBlocks(blockSize, first, floats, b -> places[s].advise(b, kind, d));
                    if (kind == 2)
                        places[s].keepAccessedCopies();
                }
                case RangeFill(int d, int s, int first, int floats, float v) -> {
                    heap.launchOn(d, BuiltinKernel.FILL, first, floats, Arg.write(arrays[s], first, floats), Arg.of(v),
                            Arg.of((long) floats)).await();
                    for (int i = first; i < first + floats; i++)
                        ByteModel.put(models[s], i, v);
                    rangeWritten(places[s], d, blockSize, first, floats);
                }
                case RangeScale(int d, int s, int first, int floats, float f) -> {
                    if (ByteModel.maxAbs(models[s]) * Math.abs(f) < LIMIT) {
                        heap.launchOn(d, BuiltinKernel.SCALE, first, floats, Arg.readWrite(arrays[s], first, floats),
                                Arg.of(f), Arg.of((long) floats)).await();
                        for (int i = first; i < first + floats; i++)
                            ByteModel.put(models[s], i, ByteModel.get(models[s], i) * f);
                        rangeWritten(places[s], d, blockSize, first, floats);
                    }
                }
                case RangeAxpy(int d, int x, int y, int first, int floats, float a) -> {
                    if (ByteModel.maxAbs(models[x]) * 2 + ByteModel.maxAbs(models[y]) < LIMIT) {
                        heap.launchOn(d, BuiltinKernel.AXPY, first, floats, Arg.read(arrays[x], first, floats),
                                Arg.readWrite(arrays[y], first, floats), Arg.of(a), Arg.of((long) floats)).await();
                        for (int i = first; i < first + floats; i++)
                            ByteModel.put(models[y], i, a * ByteModel.get(models[x], i) + ByteModel.get(models[y], i));
                        if (x != y) {
                            places[x].devices.add(d);
                            forBlocks(blockSize, first, floats, b -> places[x].deviceRead(b, d));
                        }
                        rangeWritten(places[y], d, blockSize, first, floats);
                    }
                }
                case SplitScale(int s, int split, int d0, int d1, float f) -> {
                    if (ByteModel.maxAbs(models[s]) * Math.abs(f) < LIMIT) {
                        List<io.hmm4j.Launch> launches = new ArrayList<>(2);
                        if (split > 0)
                            launches.add(heap.launchOn(d0, BuiltinKernel.SCALE, 0, split,
                                    Arg.readWrite(arrays[s], 0, split), Arg.of(f), Arg.of((long) split)));
                        if (split < length)
                            launches.add(heap.launchOn(d1, BuiltinKernel.SCALE, split, length - split,
                                    Arg.readWrite(arrays[s], split, length - split), Arg.of(f),
                                    Arg.of((long) (length - split))));
                        for (io.hmm4j.Launch launch : launches)
                            launch.await();
                        for (int i = 0; i < length; i++)
                            ByteModel.put(models[s], i, ByteModel.get(models[s], i) * f);
                        if (split > 0)
                            rangeWritten(places[s], d0, blockSize, 0, split);
                        if (split < length)
                            rangeWritten(places[s], d1, blockSize, split, length - split);
                    }
                }
                case Evacuate(int d) -> {
                    heap.evacuate(d);
                    for (Places p : places)
                        p.evacuate(d);
                }
                case Free(int s) -> {
                    arrays[s].close();
                    arrays[s] = heap.allocateFloats(length);
                    models[s] = new byte[length * 4];
                    places[s] = new Places(blocks);
                }
            }
            if (checkPlaces)
                for (int s = 0; s < slots; s++)
                    assertPlaces(heap.residency(arrays[s]), places[s], where + ", slot " + s);
        }
        for (int s = 0; s < slots; s++)
            assertThat(arrays[s].segment().toArray(ValueLayout.JAVA_BYTE)).as("final contents of slot %d", s)
                    .isEqualTo(models[s]);
        for (FloatArray array : arrays)
            array.close();
    }

    private static void written(Places p, int d) {
        p.devices.add(d);
        for (int b = 0; b < p.states.length; b++)
            p.deviceWrite(b, d);
    }

    /** A range launch wrote floats {@code [first, first + floats)}: every block they touch, edges too, is device d's. */
    private static void rangeWritten(Places p, int d, long blockSize, int first, int floats) {
        p.devices.add(d);
        forBlocks(blockSize, first, floats, b -> p.deviceWrite(b, d));
    }

    private static void forBlocks(long blockSize, int first, int floats, java.util.function.IntConsumer action) {
        int from = (int) (first * 4L / blockSize);
        int to = (int) (((first + floats) * 4L - 1) / blockSize);
        for (int b = from; b <= to; b++)
            action.accept(b);
    }

    private static void assertPlaces(Residency actual, Places expected, String where) {
        Residency wanted = new Residency(actual.blockSize(), expected.states, expected.masks,
                expected.devices.stream().mapToInt(Integer::intValue).toArray());
        assertThat(actual.devicePicture()).as("%s: where blocks are valid", where).isEqualTo(wanted.devicePicture());
        assertThat(actual.devices()).as("%s: devices holding memory", where).isEqualTo(wanted.devices());
    }
}
