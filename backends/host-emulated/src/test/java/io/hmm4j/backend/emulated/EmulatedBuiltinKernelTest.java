package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Access;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.KernelArgument;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The emulated device's C bodies of the element-wise built-ins, which run a vector of floats at a time, against
 * element-by-element Java: lengths that leave a tail, buffers that start off a vector's alignment, and AXPY over
 * overlapping buffers, where the element-by-element order decides what is read.
 */
class EmulatedBuiltinKernelTest {

    private static final int FLOATS = 1000;

    private EmulatedBackend backend;
    private Device device;
    private long address;
    private Arena arena;
    private MemorySegment host;

    @BeforeEach
    void open() {
        backend = (EmulatedBackend) new EmulatedBackendProvider().open(new BackendConfig(Map.of("overlap", "false")));
        device = backend.devices().getFirst();
        address = device.memory().allocate(FLOATS * Float.BYTES);
        arena = Arena.ofConfined();
        host = arena.allocate((long) FLOATS * Float.BYTES, 64);
    }

    @AfterEach
    void close() {
        device.memory().deallocate(address, FLOATS * Float.BYTES);
        backend.close();
        arena.close();
    }

    private float[] upload() {
        float[] values = new float[FLOATS];
        for (int i = 0; i < FLOATS; i++)
            values[i] = i * 0.37f - 11f;
        MemorySegment.copy(values, 0, host, ValueLayout.JAVA_FLOAT, 0, FLOATS);
        device.copyEngine().copyToDevice(address, host);
        return values;
    }

    private float[] download() {
        device.copyEngine().copyToHost(host, address);
        return host.toArray(ValueLayout.JAVA_FLOAT);
    }

    private KernelArgument.Buffer floats(int first, int count, Access access) {
        return new KernelArgument.Buffer(address + (long) first * Float.BYTES, (long) count * Float.BYTES, access,
                host.asSlice((long) first * Float.BYTES, (long) count * Float.BYTES));
    }

    /**
     * y = x + {@code yAfterX} floats: 1 and 3 put y inside x's first vector (4 floats), where an element reads what
     * the one just before it wrote; 0 is the same buffer; the others read nothing written in the same vector.
     */
    @ParameterizedTest
    @ValueSource(ints = {0, 1, 3, 7, 8, 9, 17, -1, -5, -9, 400})
    void axpyOverOverlappingBuffersReadsWhatEarlierElementsWrote(int yAfterX) {
        float[] expected = upload();
        int x = Math.max(0, -yAfterX);
        int y = x + yAfterX;
        int n = FLOATS - Math.max(x, y);
        float alpha = 0.5f;
        for (int i = 0; i < n; i++)
            expected[y + i] = alpha * expected[x + i] + expected[y + i];
        device.launch(device.builtin(BuiltinKernel.AXPY), n, List.of(floats(x, n, Access.READ),
                floats(y, n, Access.READ_WRITE), new KernelArgument.Scalar(alpha), new KernelArgument.Scalar((long) n)));
        assertThat(download()).containsExactly(expected);
    }

    /** Every length from 1 to past four vectors, at every float offset within two vectors. */
    @ParameterizedTest
    @ValueSource(ints = {0, 1, 2, 3, 4, 5, 6, 7})
    void fillScaleAndAxpyCoverTheirTailsAtAnyStart(int first) {
        for (int n = 1; n <= 19; n++) {
            float[] expected = upload();
            for (int i = first; i < first + n; i++)
                expected[i] = 2.5f;
            device.launch(device.builtin(BuiltinKernel.FILL), n, List.of(floats(first, n, Access.WRITE),
                    new KernelArgument.Scalar(2.5f), new KernelArgument.Scalar((long) n)));
            assertThat(download()).as("FILL of %d at %d", n, first).containsExactly(expected);

            expected = upload();
            for (int i = first; i < first + n; i++)
                expected[i] = expected[i] * -1.75f;
            device.launch(device.builtin(BuiltinKernel.SCALE), n, List.of(floats(first, n, Access.READ_WRITE),
                    new KernelArgument.Scalar(-1.75f), new KernelArgument.Scalar((long) n)));
            assertThat(download()).as("SCALE of %d at %d", n, first).containsExactly(expected);

            expected = upload();
            int y = first + 500;
            for (int i = 0; i < n; i++)
                expected[y + i] = 3f * expected[first + i] + expected[y + i];
            device.launch(device.builtin(BuiltinKernel.AXPY), n, List.of(floats(first, n, Access.READ),
                    floats(y, n, Access.READ_WRITE), new KernelArgument.Scalar(3f),
                    new KernelArgument.Scalar((long) n)));
            assertThat(download()).as("AXPY of %d at %d", n, first).containsExactly(expected);
        }
    }
}
