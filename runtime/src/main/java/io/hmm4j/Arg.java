package io.hmm4j;

import java.util.Objects;

/** One kernel launch argument: an array with its access mode, or a scalar. */
public sealed interface Arg {

    record Array(ManagedArray array, Access access) implements Arg {
        public Array {
            Objects.requireNonNull(array, "array");
            Objects.requireNonNull(access, "access");
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
