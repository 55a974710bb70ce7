package io.hmm4j;

import java.util.Objects;

/**
 * One kernel launch argument: an array with its access mode, a part of an array with its access mode, or a scalar.
 *
 * <p>A {@link Range} says which elements the kernel touches: a launch copies in and hands to the device only the
 * blocks covering them, and launches whose ranges of one array share no block (or that only read them) run at once,
 * on different devices too. Ranges are in elements of the array's type ({@link ManagedArray#length()}), as a
 * kernel's global offset and size are in work items; {@link ManagedHeap#prefetch} and {@link ManagedHeap#migrate}
 * take bytes. A kernel must not touch elements outside the ranges it was given: blocks there may be stale on its
 * device, and what it writes there may be lost. A WRITE range is one the kernel overwrites entirely (nothing of it
 * is copied in); the bytes of the range's first and last blocks outside it are kept (those blocks are copied in).
 */
public sealed interface Arg {

    /** The whole array. */
    record Array(ManagedArray array, Access access) implements Arg {
        public Array {
            Objects.requireNonNull(array, "array");
            Objects.requireNonNull(access, "access");
        }
    }

    /**
     * Elements {@code [offset, offset + length)} of {@code array}.
     *
     * @throws IndexOutOfBoundsException if {@code offset} or {@code length} is negative, their sum overflows or is
     *     above the array's {@link ManagedArray#length()}
     */
    record Range(ManagedArray array, Access access, long offset, long length) implements Arg {
        public Range {
            Objects.requireNonNull(array, "array");
            Objects.requireNonNull(access, "access");
            Objects.checkFromIndexSize(offset, length, array.length());
        }
    }

    record Scalar(Number value) implements Arg {
        public Scalar {
            Objects.requireNonNull(value, "value");
        }
    }

    static Arg read(ManagedArray array) {
        return new Array(array, Access.READ);
    }

    static Arg write(ManagedArray array) {
        return new Array(array, Access.WRITE);
    }

    static Arg readWrite(ManagedArray array) {
        return new Array(array, Access.READ_WRITE);
    }

    /** Elements {@code [offset, offset + length)} of {@code array}, read; see {@link Range}. */
    static Arg read(ManagedArray array, long offset, long length) {
        return new Range(array, Access.READ, offset, length);
    }

    /** Elements {@code [offset, offset + length)} of {@code array}, all overwritten by the kernel; see {@link Range}. */
    static Arg write(ManagedArray array, long offset, long length) {
        return new Range(array, Access.WRITE, offset, length);
    }

    /** Elements {@code [offset, offset + length)} of {@code array}, read and written; see {@link Range}. */
    static Arg readWrite(ManagedArray array, long offset, long length) {
        return new Range(array, Access.READ_WRITE, offset, length);
    }

    static Arg of(int value) {
        return new Scalar(value);
    }

    static Arg of(long value) {
        return new Scalar(value);
    }

    static Arg of(float value) {
        return new Scalar(value);
    }

    static Arg of(double value) {
        return new Scalar(value);
    }
}
