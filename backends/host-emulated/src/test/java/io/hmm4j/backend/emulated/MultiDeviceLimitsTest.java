package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Where several devices meet the engine's limits: its binding slots, shared arrays (one device), file mappings. */
class MultiDeviceLimitsTest {

    private static final long BLOCK = 4096;
    private static final int N = 2 * (int) (BLOCK / Float.BYTES);

    private static ManagedHeap devices(int count) {
        return ManagedHeap.builder().backend("emulated").setting("devices", String.valueOf(count)).blockSize(BLOCK)
                .prefetchBlocks(0).build();
    }

    @Test
    void anArrayUsedOnMoreDevicesThanTheEngineBindsGivesUpItsOldestBinding() {
        try (ManagedHeap heap = devices(10)) {
            FloatArray a = heap.allocateFloats(N);
            heap.launchOn(0, BuiltinKernel.FILL, N, Arg.write(a), Arg.of(1f), Arg.of((long) N)).await();
            for (int d = 1; d < 10; d++)
                heap.launchOn(d, BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(2f), Arg.of((long) N)).await();
            assertThat(heap.residency(a).devices()).hasSize(8).contains(9).doesNotContain(0, 1);
            assertThat(heap.deviceBytesUsed(0)).isZero();
            assertThat(heap.residency(a).devicePicture()).isEqualTo("D9 D9");
            assertThat(a.get(N - 1)).isEqualTo(512f);
        }
    }

    @Test
    void aSharedArrayLivesOnOneDeviceAtATime() throws Exception {
        String name = "md-" + UUID.randomUUID().toString().substring(0, 8);
        try (ManagedHeap heap = devices(2)) {
            FloatArray a = heap.shareFloats(name, N);
            try {
                heap.launchOn(0, BuiltinKernel.FILL, N, Arg.write(a), Arg.of(3f), Arg.of((long) N)).await();
                heap.launchOn(1, BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(2f), Arg.of((long) N)).await();
                assertThat(heap.residency(a).devices()).containsExactly(1);
                assertThat(heap.stats().bytesPeer()).isZero();
                assertThat(a.get(0)).isEqualTo(6f);
            } finally {
                a.close();
                ManagedHeap.unlinkShared(name);
            }
        }
    }

    @Test
    void forceWritesBlocksThatOnlyAnotherDeviceHolds(@TempDir Path dir) throws Exception {
        Path file = Files.write(dir.resolve("data.bin"), new byte[N * 4]);
        try (ManagedHeap heap = devices(2)) {
            FloatArray a = heap.mapFloats(file, 0, N, FileChannel.MapMode.READ_WRITE);
            heap.launchOn(0, BuiltinKernel.FILL, N, Arg.write(a), Arg.of(5f), Arg.of((long) N)).await();
            heap.launchOn(1, BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(3f), Arg.of((long) N)).await();
            assertThat(heap.residency(a).devicePicture()).isEqualTo("D1 D1");
            a.force();
            assertThat(heap.residency(a).devicePicture()).isEqualTo("S1 S1");
            ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.nativeOrder());
            assertThat(bytes.getFloat(0)).isEqualTo(15f);
            assertThat(bytes.getFloat((N - 1) * 4)).isEqualTo(15f);
            a.close();
        }
    }
}
