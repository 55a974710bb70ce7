package io.hmm4j.conformance;

import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;

/**
 * What the multi-device kits (placement, advice, range launches) share: a heap of the backend under test with at
 * least {@code n} migrating devices, or a skip that says why not, closed after each case. A backend subclasses each
 * kit and says how to ask for {@code n} devices.
 */
public abstract class MultiDeviceKit {

    protected static final long BLOCK = 4096;
    protected static final int BLOCK_FLOATS = (int) (BLOCK / Float.BYTES);

    protected ManagedHeap heap;

    protected abstract String backend();

    /** Settings that give the heap {@code devices} devices where the backend can (emulated: {@code devices=n}). */
    protected abstract Map<String, String> settings(int devices);

    /** {@code null} when the backend can run here, else why not (the skip reason). */
    protected abstract String unavailabilityCause();

    /** More heap settings (e.g. userfaultfd), on top of the backend's and each case's. */
    protected ManagedHeap.Builder configure(ManagedHeap.Builder builder) {
        return builder;
    }

    /** A heap with at least {@code devices} migrating devices, or the case is skipped saying why. */
    protected ManagedHeap heap(int devices, ManagedHeap.Builder builder) {
        String cause = unavailabilityCause();
        Assumptions.assumeTrue(cause == null, () -> backend() + " not available: " + cause);
        builder.backend(backend());
        settings(devices).forEach(builder::setting);
        // The models say where every block is valid; thrash control moves arrays to zero-copy on purpose
        // (ThrashControlTest, ZeroCopyConformanceTest cover it).
        heap = configure(builder.thrashControl(false)).build();
        int has = heap.devices().size();
        Assumptions.assumeTrue(has >= devices,
                () -> backend() + " has " + has + " device(s) here; this case needs " + devices);
        Assumptions.assumeFalse(heap.devices().getFirst().coherent(),
                () -> backend() + ": coherent devices, nothing is placed per device");
        return heap;
    }

    protected ManagedHeap heap(int devices) {
        return heap(devices, ManagedHeap.builder().blockSize(BLOCK).prefetchBlocks(0));
    }

    @AfterEach
    void closeHeap() {
        if (heap != null)
            heap.close();
    }

    protected FloatArray filled(int floats, float value) {
        FloatArray a = heap.allocateFloats(floats);
        for (int i = 0; i < floats; i++)
            a.set(i, value);
        return a;
    }
}
