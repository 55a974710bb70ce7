package io.hmm4j;

import io.hmm4j.internal.engine.Region;
import java.lang.foreign.ValueLayout;

/** A managed array of {@code double}. Element access may fault and migrate the enclosing block home. */
public final class DoubleArray extends ManagedArray {

    private static final ValueLayout.OfDouble LAYOUT = ValueLayout.JAVA_DOUBLE;

    DoubleArray(ManagedHeap heap, Region region, long byteSize, long id) {
        super(heap, region, byteSize, id);
    }

    @Override
    public ValueLayout.OfDouble elementLayout() {
        return LAYOUT;
    }

    /**
     * @throws IndexOutOfBoundsException if {@code index} is outside {@code [0, length())}
     * @throws IllegalStateException if the array or its heap is closed
     */
    public double get(long index) {
        return segment.getAtIndex(LAYOUT, index);
    }

    /**
     * @throws IndexOutOfBoundsException if {@code index} is outside {@code [0, length())}
     * @throws IllegalStateException if the array or its heap is closed
     */
    public void set(long index, double value) {
        segment.setAtIndex(LAYOUT, index, value);
    }

    /** Copies all elements into a new Java array (faulting blocks home as needed). */
    public double[] toArray() {
        return segment.toArray(LAYOUT);
    }

    /** Copies {@code values} into this array starting at element 0. */
    public void copyFrom(double[] values) {
        if (values.length > length())
            throw new IndexOutOfBoundsException(values.length + " values do not fit in " + length() + " elements");
        java.lang.foreign.MemorySegment.copy(values, 0, segment, LAYOUT, 0, values.length);
    }
}
