package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.DeviceException;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.NativeCopyEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Copies that leave their modelled bus time to the caller ({@link NativeCopyEngine#copyToDeviceUnpaced}): the bytes
 * have moved when the call returns, the time returned is when the plain copy would have returned, and
 * {@link NativeCopyEngine#pace} waits until then. The emulated bus here: 2 ms per copy plus 1 GB/s.
 */
class UnpacedCopyTest {

    private static final long LATENCY = 2_000_000;
    private static final long BANDWIDTH = 1_000_000_000;
    private static final long BYTES = 64 * 1024;
    /** The bus's price for BYTES: latency plus bytes at the bandwidth, in nanoseconds. */
    private static final long COST = LATENCY + BYTES * 1_000_000_000 / BANDWIDTH;

    private static EmulatedBackend open() {
        return (EmulatedBackend) new EmulatedBackendProvider().open(new BackendConfig(Map.of("latency.ns",
                Long.toString(LATENCY), "bandwidth", Long.toString(BANDWIDTH))));
    }

    @Test
    void theBytesMoveAtOnceAndPaceWaitsOutTheBusTime() {
        EmulatedBackend backend = open();
        try (Arena arena = Arena.ofConfined()) {
            Device device = backend.devices().getFirst();
            NativeCopyEngine engine = device.copyEngine();
            long address = device.memory().allocate(BYTES);
            MemorySegment out = arena.allocate(BYTES);
            MemorySegment back = arena.allocate(BYTES);
            for (long i = 0; i < BYTES; i++)
                out.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
            long copiesBefore = engine.unpacedCopies();

            long before = System.nanoTime();
            long pacedUntil = engine.copyToDeviceUnpaced(address, out);
            long after = System.nanoTime();
            assertThat(pacedUntil).isBetween(before + COST, after + COST);
            NativeCopyEngine.pace(pacedUntil);
            assertThat(System.nanoTime()).isGreaterThanOrEqualTo(pacedUntil);

            before = System.nanoTime();
            pacedUntil = engine.copyToHostUnpaced(back, address);
            after = System.nanoTime();
            assertThat(back.mismatch(out)).as("the bytes came home before the bus time passed").isEqualTo(-1);
            assertThat(pacedUntil).isBetween(before + COST, after + COST);
            NativeCopyEngine.pace(pacedUntil);
            assertThat(System.nanoTime()).isGreaterThanOrEqualTo(pacedUntil);
            assertThat(engine.unpacedCopies() - copiesBefore).isEqualTo(2);
            assertThatThrownBy(() -> NativeCopyEngine.pace(-1)).isInstanceOf(IllegalArgumentException.class);
            device.memory().deallocate(address, BYTES);
        } finally {
            backend.close();
        }
    }

    @Test
    void aLostDeviceOrAClosedEngineRefusesAsPlainCopiesDo() {
        EmulatedBackend backend = open();
        try (Arena arena = Arena.ofConfined()) {
            EmulatedDevice device = (EmulatedDevice) backend.devices().getFirst();
            NativeCopyEngine engine = device.copyEngine();
            long address = device.memory().allocate(BYTES);
            MemorySegment host = arena.allocate(BYTES);
            engine.inject(NativeCopyEngine.Injection.COPY_TO_HOST, 100);
            assertThatThrownBy(() -> engine.copyToHostUnpaced(host, address)).isInstanceOf(DeviceException.class)
                    .hasMessageContaining("hmm4j_device_copy_unpaced");
            device.loseDevice();
            assertThatThrownBy(() -> engine.copyToDeviceUnpaced(address, host)).isInstanceOf(DeviceException.class);
            device.memory().deallocate(address, BYTES);
            backend.close();
            assertThatThrownBy(() -> engine.copyToHostUnpaced(host, address))
                    .isInstanceOf(IllegalStateException.class);
        } finally {
            backend.close();
        }
    }
}
