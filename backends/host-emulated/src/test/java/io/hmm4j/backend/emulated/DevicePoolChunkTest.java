package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import org.junit.jupiter.api.Test;

/**
 * The device pool sub-allocates arrays from upstream chunks; on a device only a few chunks large, a chunk's unused
 * tail could make a launch whose arrays fit the device's budget fail. Found by {@link RandomOperationsSoakTest}.
 */
class DevicePoolChunkTest {

    private static final long BLOCK = 16 * 1024;

    @Test
    void aLaunchWhoseArraysFitTheDeviceIsNotRefusedForThePoolsChunks() {
        // 1.6 MiB: the default 64 MiB chunk backs off to 1 MiB; x (600 KiB) takes it, y (770 KiB) fits neither the
        // chunk's rest nor the device beside it, though both fit the device.
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").setting("capacity", Long.toString(100 * BLOCK))
                .blockSize(BLOCK).thrashControl(false).build()) {
            FloatArray x = heap.allocateFloats(600 * 1024 / Float.BYTES);
            FloatArray y = heap.allocateFloats(770 * 1024 / Float.BYTES);
            long n = x.length();
            for (long i = 0; i < n; i++) {
                x.set(i, 1f);
                y.set(i, 2f);
            }
            heap.launch(BuiltinKernel.AXPY, n, Arg.read(x), Arg.readWrite(y), Arg.of(3f), Arg.of(n)).await();
            assertThat(y.get(0)).isEqualTo(5f);
            assertThat(y.get(n - 1)).isEqualTo(5f);
            assertThat(y.get(n)).as("past the launch's n").isEqualTo(0f);
        }
    }
}
