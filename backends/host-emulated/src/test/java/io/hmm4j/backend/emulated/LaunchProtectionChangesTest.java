package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedArray;
import io.hmm4j.ManagedHeap;
import java.lang.reflect.Field;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * How often a launch changes the protection of its arrays' host pages. On a virtualised host taking access away
 * from present pages costs a TLB shootdown per page (tens of microseconds for a 64 KiB block), the largest serial
 * cost of an iterative step; each test makes every change after the ones it allows fail, as at the mapping limit,
 * so an extra change fails the launch. The region's failure injection is a test hook the heap does not export:
 * reached by reflection (tests run on the class path).
 */
class LaunchProtectionChangesTest {

    private static final long BLOCK = 64 * 1024;
    private static final int N = (int) (4 * BLOCK / Float.BYTES);

    private ManagedHeap heap;

    @BeforeEach
    void open() {
        heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build();
    }

    @AfterEach
    void close() {
        heap.close();
    }

    /** The next {@code count} protection changes of {@code array}'s host pages after {@code skip} fail. */
    private static void injectProtectFailure(ManagedArray array, int skip, int count) throws ReflectiveOperationException {
        Field field = ManagedArray.class.getDeclaredField("region");
        field.setAccessible(true);
        Object region = field.get(array);
        region.getClass().getMethod("injectProtectFailure", int.class, int.class).invoke(region, skip, count);
    }

    private void scale(FloatArray a, float factor) {
        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(factor), Arg.of((long) N)).await();
    }

    @Test
    void aBlockTheHostWroteLosesAccessOnceWhenTheNextKernelReadsAndWritesIt() throws Exception {
        FloatArray a = heap.allocateFloats(N);
        for (int i = 0; i < N; i++)
            a.set(i, i);
        scale(a, 2f);
        int inBlock2 = (int) (2 * BLOCK / Float.BYTES) + 5;
        a.set(inBlock2, -1f); // block 2 comes home writable: HOST
        injectProtectFailure(a, 1, Integer.MAX_VALUE);
        try {
            // A second change would fail as at the mapping limit: an OutOfMemoryError, caught to be reported.
            assertThatCode(() -> scale(a, 3f)).doesNotThrowAnyException();
        } finally {
            injectProtectFailure(a, 0, 0);
        }
        for (int i = 0; i < N; i++)
            assertThat(a.get(i)).as("element %d", i).isEqualTo(i == inBlock2 ? -3f : i * 6f);
    }
}
