package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** File I/O on managed memory (invariant 7), several emulated devices, and the emulated bus knobs. */
class HostIoAndDevicesTest {

    private static final long BLOCK = 4096;

    @Test
    void writeSyscallFromDeviceResidentMemoryAfterPrefetchHome(@TempDir Path dir) throws IOException {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build()) {
            FloatArray a = heap.allocateFloats(2 * BLOCK / 4);
            heap.launch(BuiltinKernel.FILL, a.length(), Arg.write(a), Arg.of(2.5f), Arg.of(a.length())).await();
            heap.prefetch(a, Location.HOST);
            Path file = dir.resolve("out.bin");
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                assertThat(channel.write(a.segment().asByteBuffer())).isEqualTo((int) a.byteSize());
            }
            ByteBuffer back = ByteBuffer.wrap(Files.readAllBytes(file)).order(java.nio.ByteOrder.nativeOrder());
            assertThat(back.getFloat((int) a.byteSize() - 4)).isEqualTo(2.5f);
        }
    }

    @Test
    void arraysMoveBetweenDevices() {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").setting("devices", "2").blockSize(BLOCK).build()) {
            assertThat(heap.devices()).hasSize(2);
            FloatArray a = heap.allocateFloats(3 * BLOCK / 4);
            heap.launchOn(0, BuiltinKernel.FILL, a.length(), Arg.write(a), Arg.of(3f), Arg.of(a.length())).await();
            assertThat(heap.residency(a).devices()).containsExactly(0);
            heap.launchOn(1, BuiltinKernel.SCALE, a.length(), Arg.readWrite(a), Arg.of(2f), Arg.of(a.length())).await();
            // Device 0's copy came over peer to peer, nothing through the host; the kernel's write left device 1 alone.
            assertThat(heap.residency(a).devices()).containsExactly(0, 1);
            assertThat(heap.residency(a).devicePicture()).isEqualTo("D1 D1 D1");
            assertThat(heap.stats().bytesPeer()).isEqualTo(a.byteSize());
            assertThat(heap.stats().bytesToHost()).isZero();
            heap.evacuate(0);
            assertThat(heap.deviceBytesUsed(0)).isZero();
            assertThat(heap.stats().bytesToHost()).isZero();
            assertThat(a.get(a.length() - 1)).isEqualTo(6f);
        }
    }

    @Test
    void emulatedBandwidthKnobSlowsCopiesDown() {
        long bytesPerSecond = 100L << 20; // 100 MiB/s: 4 MiB takes at least 40 ms
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").setting("bandwidth", String.valueOf(bytesPerSecond))
                .setting("latency.ns", "1000").build()) {
            FloatArray a = heap.allocateFloats(1 << 20);
            long start = System.nanoTime();
            heap.prefetch(a, Location.device(0));
            long elapsed = System.nanoTime() - start;
            assertThat(elapsed).isGreaterThanOrEqualTo((long) ((4.0 * (1 << 20)) / bytesPerSecond * 1e9));
            assertThat(heap.stats().migrateNanos()).isGreaterThanOrEqualTo(40_000_000L);
        }
    }

    @Test
    void closingTheHeapFreesDeviceMemory() {
        ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build();
        EmulatedDevice device = (EmulatedDevice) heap.devices().get(0);
        FloatArray a = heap.allocateFloats(1 << 16);
        heap.prefetch(a, Location.device(0));
        assertThat(device.rawBytesUsed()).isPositive();
        heap.close();
        assertThat(device.rawBytesUsed()).isZero();
        assertThatThrownBy(() -> a.get(0)).isInstanceOf(IllegalStateException.class);
    }
}
