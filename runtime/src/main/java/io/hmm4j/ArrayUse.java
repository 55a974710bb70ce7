package io.hmm4j;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The blocks of one array a launch reads, writes and copies in, from the element ranges its arguments name
 * ({@link Arg.Range}; a whole-array argument is the range of all of it). Block sets are sorted, disjoint
 * {@code [from, to)} intervals, flattened into {@code long[]} pairs. A write range copies in its partly covered first
 * and last blocks: the kernel overwrites only part of them, and the rest of their bytes must survive on the device,
 * which becomes their only holder.
 */
final class ArrayUse {

    /** The arguments' modes merged (READ and WRITE make READ_WRITE). */
    final Access access;
    final long[] reads;
    final long[] writes;
    /** Blocks valid on the device before the kernel: those it reads, and those a write covers only in part. */
    final long[] copyIn;
    /** Every block the launch reads or writes. */
    final long[] touched;

    private ArrayUse(Access access, long[] reads, long[] writes, long[] copyIn) {
        this.access = access;
        this.reads = reads;
        this.writes = writes;
        this.copyIn = copyIn;
        this.touched = union(reads, writes);
    }

    /** Whether the two launches' uses of one array need one to wait for the other: one writes a block the other touches. */
    boolean conflictsWith(ArrayUse other) {
        return intersects(writes, other.touched) || intersects(other.writes, touched);
    }

    /** The one interval from the set's first block to its last (empty for an empty set). */
    static long[] hull(long[] blocks) {
        return blocks.length == 0 ? blocks : new long[] {blocks[0], blocks[blocks.length - 1]};
    }

    /** Collects the byte ranges of one array's arguments; {@link #build} turns them into block sets. */
    static final class Builder {
        private final long arrayBytes;
        private final long regionBytes;
        private final long blockSize;
        private Access access;
        private final List<long[]> reads = new ArrayList<>();
        private final List<long[]> writes = new ArrayList<>();
        private final List<long[]> writeOnly = new ArrayList<>();
        private final List<long[]> overwritten = new ArrayList<>();

        Builder(ManagedArray array) {
            this.arrayBytes = array.byteSize();
            this.regionBytes = array.region.size();
            this.blockSize = array.region.blockSize();
        }

        /** Elements {@code [offset, offset + length)} (checked against the array by {@link Arg.Range}). */
        Builder add(Access mode, long offset, long length, long elementBytes) {
            access = access == null || access == mode ? mode : Access.READ_WRITE;
            // Within the array's length: the products fit, the array's byte size being a long.
            long from = offset * elementBytes;
            long to = from + length * elementBytes;
            if (from == to)
                return this;
            // The region's tail past the array holds nothing anyone reads: a range to the array's end covers it.
            if (to == arrayBytes)
                to = regionBytes;
            long[] blocks = {from / blockSize, Math.ceilDiv(to, blockSize)};
            if (mode.reads())
                reads.add(blocks);
            if (mode.writes()) {
                writes.add(blocks);
                if (!mode.reads()) {
                    writeOnly.add(blocks);
                    long whole = Math.ceilDiv(from, blockSize);
                    long wholeEnd = to / blockSize;
                    if (whole < wholeEnd)
                        overwritten.add(new long[] {whole, wholeEnd});
                }
            }
            return this;
        }

        ArrayUse build() {
            long[] r = normalize(reads);
            long[] w = normalize(writes);
            long[] partlyWritten = subtract(normalize(writeOnly), normalize(overwritten));
            return new ArrayUse(access, r, w, union(r, partlyWritten));
        }
    }

    /** Sorted, merged intervals. */
    static long[] normalize(List<long[]> intervals) {
        List<long[]> sorted = new ArrayList<>(intervals);
        sorted.sort((a, b) -> Long.compare(a[0], b[0]));
        long[] out = new long[sorted.size() * 2];
        int n = 0;
        for (long[] iv : sorted) {
            if (iv[0] >= iv[1])
                continue;
            if (n > 0 && iv[0] <= out[n - 1])
                out[n - 1] = Math.max(out[n - 1], iv[1]);
            else {
                out[n++] = iv[0];
                out[n++] = iv[1];
            }
        }
        return Arrays.copyOf(out, n);
    }

    static long[] union(long[] a, long[] b) {
        List<long[]> all = new ArrayList<>();
        for (int i = 0; i < a.length; i += 2)
            all.add(new long[] {a[i], a[i + 1]});
        for (int i = 0; i < b.length; i += 2)
            all.add(new long[] {b[i], b[i + 1]});
        return normalize(all);
    }

    /** {@code a} without the blocks of {@code b}; both normalized. */
    static long[] subtract(long[] a, long[] b) {
        List<long[]> out = new ArrayList<>();
        for (int i = 0; i < a.length; i += 2) {
            long from = a[i];
            long to = a[i + 1];
            for (int j = 0; j < b.length && from < to; j += 2) {
                if (b[j + 1] <= from || b[j] >= to)
                    continue;
                if (b[j] > from)
                    out.add(new long[] {from, b[j]});
                from = Math.max(from, b[j + 1]);
            }
            if (from < to)
                out.add(new long[] {from, to});
        }
        return normalize(out);
    }

    /** The blocks in both; both normalized. */
    static long[] intersect(long[] a, long[] b) {
        return subtract(a, subtract(a, b));
    }

    static boolean intersects(long[] a, long[] b) {
        int i = 0;
        int j = 0;
        while (i < a.length && j < b.length) {
            if (a[i + 1] <= b[j])
                i += 2;
            else if (b[j + 1] <= a[i])
                j += 2;
            else
                return true;
        }
        return false;
    }
}
