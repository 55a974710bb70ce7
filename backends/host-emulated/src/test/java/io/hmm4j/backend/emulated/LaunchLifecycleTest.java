package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.UserKernel;
import io.hmm4j.spi.KernelSource;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Freeing an array, or the heap, while a kernel runs on it waits for the kernel: device memory is never freed under it. */
class LaunchLifecycleTest {

    @Test
    void closingAnArrayWaitsForTheKernelThatUsesIt() throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").build()) {
            FloatArray a = heap.allocateFloats(1 << 16);
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicReference<Float> seenAtEnd = new AtomicReference<>();
            UserKernel slow = heap.load(KernelSource.java("slow", (n, args) -> {
                MemorySegment device = args.buffer(0);
                started.countDown();
                try {
                    release.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                // Still our memory: the array's close() must not have freed or zeroed it.
                device.setAtIndex(ValueLayout.JAVA_FLOAT, 7, 42f);
                seenAtEnd.set(device.getAtIndex(ValueLayout.JAVA_FLOAT, 7));
            }));
            Thread launcher = Thread.ofPlatform().start(() -> heap.launch(slow, 1, Arg.readWrite(a)));
            assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
            Thread closer = Thread.ofPlatform().start(a::close);
            closer.join(300);
            assertThat(closer.isAlive()).as("close() returned while the kernel still ran").isTrue();
            release.countDown();
            launcher.join(10_000);
            closer.join(10_000);
            assertThat(closer.isAlive()).isFalse();
            assertThat(seenAtEnd.get()).isEqualTo(42f);
            assertThat(heap.liveArrays()).isZero();
        }
    }

    @Test
    void closingTheHeapWaitsForRunningKernels() throws Exception {
        ManagedHeap heap = ManagedHeap.builder().backend("emulated").build();
        FloatArray a = heap.allocateFloats(1 << 16);
        CountDownLatch started = new CountDownLatch(1);
        AtomicReference<Float> seenAtEnd = new AtomicReference<>();
        UserKernel slow = heap.load(KernelSource.java("slow", (n, args) -> {
            started.countDown();
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            MemorySegment device = args.buffer(0);
            device.setAtIndex(ValueLayout.JAVA_FLOAT, 3, 9f);
            seenAtEnd.set(device.getAtIndex(ValueLayout.JAVA_FLOAT, 3));
        }));
        Thread launcher = Thread.ofPlatform().start(() -> heap.launch(slow, 1, Arg.readWrite(a)));
        assertThat(started.await(10, TimeUnit.SECONDS)).isTrue();
        heap.close();
        launcher.join(10_000);
        assertThat(seenAtEnd.get()).isEqualTo(9f);
    }
}
