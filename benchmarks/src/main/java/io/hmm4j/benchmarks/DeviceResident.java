package io.hmm4j.benchmarks;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;

/** Puts a whole array on the device the cheapest way: a write-only FILL, which copies nothing in. */
public final class DeviceResident {

    private DeviceResident() {}

    public static void fill(ManagedHeap heap, FloatArray array, float value) {
        heap.launch(BuiltinKernel.FILL, array.length(), Arg.write(array), Arg.of(value), Arg.of(array.length())).await();
    }

    /** {@link #fill}, then fails fast where a benchmark would measure nothing (a coherent device moves no bytes). */
    public static void fillAndCheck(ManagedHeap heap, FloatArray array, float value) {
        fill(heap, array, value);
        if (!heap.residency(array).all(BlockState.DEVICE))
            throw new IllegalStateException("FILL did not leave the array on the device (coherent device?): "
                    + heap.residency(array));
    }
}
