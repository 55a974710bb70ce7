package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.NativeCopyEngine;
import java.io.IOException;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Closing a shared array whose device-only blocks cannot come home (an injected copy failure): the other attachments
 * see the last host copy and count the blocks lost, never the freed device memory, and go on.
 */
class SharedArrayCloseTest {

    private static final int BLOCK = 64 * 1024;
    private static final int BLOCKS = 4;
    private static final int N = BLOCKS * BLOCK / Float.BYTES;
    private final String name = "test-" + ProcessHandle.current().pid() + "-close";
    private final ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build();

    @AfterEach
    void cleanUp() throws IOException {
        heap.close();
        ManagedHeap.unlinkShared(name);
    }

    private static float[] filled(float value) {
        float[] values = new float[N];
        Arrays.fill(values, value);
        return values;
    }

    @Test
    void closingWithBlocksThatCannotComeHomeCountsThemLostForTheOthers() throws IOException {
        FloatArray a = heap.shareFloats(name, N);
        FloatArray b = heap.openSharedFloats(name);
        a.copyFrom(filled(7));
        heap.launch(BuiltinKernel.FILL, N, Arg.write(a), Arg.of(42f), Arg.of((long) N)).await();
        EmulatedDevice device = (EmulatedDevice) heap.devices().get(0);
        device.copyEngine().inject(NativeCopyEngine.Injection.COPY_TO_HOST, 0);
        a.close();
        assertThat(b.toArray()).as("the last host copy, not freed device memory").isEqualTo(filled(7));
        assertThat(b.lostBlocks()).isEqualTo(BLOCKS);
        heap.launch(BuiltinKernel.FILL, N, Arg.write(b), Arg.of(3f), Arg.of((long) N)).await();
        assertThat(b.toArray()).isEqualTo(filled(3));
    }

    @Test
    void closingBringsDeviceOnlyBlocksHomeForTheOthers() throws IOException {
        FloatArray a = heap.shareFloats(name, N);
        FloatArray b = heap.openSharedFloats(name);
        heap.launch(BuiltinKernel.FILL, N, Arg.write(a), Arg.of(42f), Arg.of((long) N)).await();
        a.close();
        assertThat(b.toArray()).isEqualTo(filled(42));
        assertThat(b.lostBlocks()).isZero();
    }
}
