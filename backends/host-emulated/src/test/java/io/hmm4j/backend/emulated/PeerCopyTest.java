package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceException;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.NativeCopyEngine;
import org.junit.jupiter.api.Test;

/** Device-to-device copies between emulated devices: their failure, the device being gone, their own bus setting. */
class PeerCopyTest {

    private static final long BLOCK = 4096;
    private static final int N = 4 * (int) (BLOCK / Float.BYTES);

    private static ManagedHeap twoDevices(String... settings) {
        ManagedHeap.Builder builder = ManagedHeap.builder().backend("emulated").setting("devices", "2")
                .blockSize(BLOCK).prefetchBlocks(0);
        for (int i = 0; i < settings.length; i += 2)
            builder.setting(settings[i], settings[i + 1]);
        return builder.build();
    }

    @Test
    void aPeerCopyFailingLeavesEveryBlockWhereItWas() {
        try (ManagedHeap heap = twoDevices()) {
            FloatArray a = heap.allocateFloats(N);
            heap.launchOn(0, BuiltinKernel.FILL, N, Arg.write(a), Arg.of(4f), Arg.of((long) N)).await();
            ((EmulatedDevice) heap.devices().get(1)).copyEngine().inject(NativeCopyEngine.Injection.COPY_TO_DEVICE, 0);
            assertThatThrownBy(() -> heap.launchOn(1, BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(2f),
                    Arg.of((long) N))).isInstanceOf(DeviceException.class).hasMessageContaining("emulated:1");
            assertThat(heap.residency(a).devicePicture()).isEqualTo("D0 D0 D0 D0");
            assertThat(heap.stats().bytesPeer()).isZero();
            heap.launchOn(1, BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(2f), Arg.of((long) N)).await();
            assertThat(heap.residency(a).devicePicture()).isEqualTo("D1 D1 D1 D1");
            for (int i = 0; i < N; i += 100)
                assertThat(a.get(i)).isEqualTo(8f);
        }
    }

    @Test
    void aLostSourceDeviceFailsThePeerCopyClearly() {
        try (ManagedHeap heap = twoDevices()) {
            FloatArray a = heap.allocateFloats(N);
            heap.launchOn(0, BuiltinKernel.FILL, N, Arg.write(a), Arg.of(4f), Arg.of((long) N)).await();
            ((EmulatedDevice) heap.devices().get(0)).copyEngine().inject(NativeCopyEngine.Injection.DEVICE_UNREADABLE, 0);
            assertThatThrownBy(() -> heap.prefetch(a, Location.device(1))).isInstanceOf(DeviceException.class);
            assertThat(heap.residency(a).devicePicture()).isEqualTo("D0 D0 D0 D0");
        }
    }

    @Test
    void peerCopiesArePricedByThePeerSetting() {
        // A lower bound only (the emulated bus waits at least its price): the peer setting reaches the copy.
        try (ManagedHeap heap = twoDevices("peer.latency.ns", "200000000")) {
            FloatArray a = heap.allocateFloats(N);
            heap.launchOn(0, BuiltinKernel.FILL, N, Arg.write(a), Arg.of(4f), Arg.of((long) N)).await();
            long start = System.nanoTime();
            heap.prefetch(a, Location.device(1));
            assertThat(System.nanoTime() - start).isGreaterThanOrEqualTo(200_000_000L);
            assertThat(heap.stats().bytesPeer()).isEqualTo(N * 4L);
        }
    }

    @Test
    void badPeerSettingsAreRefused() {
        assertThatThrownBy(() -> twoDevices("peer.bandwidth", "-1")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("peer.bandwidth");
    }
}
