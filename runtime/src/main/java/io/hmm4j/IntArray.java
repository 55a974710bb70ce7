package io.hmm4j;

import io.hmm4j.internal.engine.Region;
import java.lang.foreign.ValueLayout;

/** A managed array of {@code int}. Element access may fault and migrate the enclosing block home. */
public final class IntArray extends ManagedArray {

    private static final ValueLayout.OfInt LAYOUT = ValueLayout.JAVA_INT;

    IntArray(ManagedHeap heap, Region region, long byteSize, long id) {
        super(heap, region, byteSize, id);
    }

    @Override
    public ValueLayout.OfInt elementLayout() {
        return LAYOUT;
    }

    /**
     * @throws IndexOutOfBoundsException if {@code index} is outside {@code [0, length())}
     * @throws IllegalStateException if the array or its heap is closed
     */
    public int get(long index) {
        return segment.getAtIndex(LAYOUT, index);
    }

    /**
     * @throws IndexOutOfBoundsException if {@code index} is outside {@code [0, length())}
     * @throws IllegalStateException if the array or its heap is closed
     */
    public void set(long index, int value) {
        segment.setAtIndex(LAYOUT, index, value);
    }

    /** Copies all elements into a new Java array (faulting blocks home as needed). */
    public int[] toArray() {
        return segment.toArray(LAYOUT);
    }

    /** Copies {@code values} into this array starting at element 0. */
    public void copyFrom(int[] values) {
        if (values.length > length())
            throw new IndexOutOfBoundsException(values.length + " values do not fit in " + length() + " elements");
        java.lang.foreign.MemorySegment.copy(values, 0, segment, LAYOUT, 0, values.length);
    }
}
