package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.DeviceException;
import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.NativeCopyEngine;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Failed copies, failed allocations and a lost device lose no data and throw clear exceptions. */
class FaultInjectionTest {

    private static final long BLOCK = 64 * 1024;
    private static final int N = (int) (4 * BLOCK / 4);

    private ManagedHeap heap;
    private EmulatedDevice device;

    @BeforeEach
    void open() {
        heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).build();
        device = (EmulatedDevice) heap.devices().get(0);
    }

    /**
     * A heap whose launches copy in the launching thread: a failed copy then fails the launch call itself. With
     * overlap (the default) the upload is queued and its failure reaches the launch's await (OverlapTest).
     */
    private void serializeCopies() {
        heap.close();
        heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).setting("overlap", "false").build();
        device = (EmulatedDevice) heap.devices().get(0);
    }

    @AfterEach
    void close() {
        heap.close();
    }

    private FloatArray pattern() {
        FloatArray a = heap.allocateFloats(N);
        for (int i = 0; i < N; i++)
            a.set(i, i);
        return a;
    }

    private static void assertPattern(FloatArray a, float factor) {
        for (int i = 0; i < N; i++)
            assertThat(a.get(i)).as("element %d", i).isEqualTo(i * factor);
    }

    @Test
    void copyToDeviceFailingHalfwayLosesNothing() {
        serializeCopies();
        FloatArray a = pattern();
        device.copyEngine().inject(NativeCopyEngine.Injection.COPY_TO_DEVICE, 2 * BLOCK + 123);
        assertThatThrownBy(() -> heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(2f), Arg.of((long) N)))
                .isInstanceOf(DeviceException.class)
                .hasMessageContaining("hmm4j_migrate(to device")
                .hasMessageContaining("emulated:0")
                .hasMessageContaining("EIO");
        assertThat(heap.residency(a).all(BlockState.HOST)).isTrue();
        assertPattern(a, 1);
        assertThat(heap.stats().copyErrors()).isEqualTo(1);
        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(2f), Arg.of((long) N)).await();
        assertPattern(a, 2);
    }

    @Test
    void copyHomeFailingDuringPrefetchKeepsDataOnTheDevice() {
        FloatArray a = pattern();
        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(3f), Arg.of((long) N)).await();
        device.copyEngine().inject(NativeCopyEngine.Injection.COPY_TO_HOST, 100);
        assertThatThrownBy(() -> heap.prefetch(a, Location.HOST)).isInstanceOf(DeviceException.class)
                .hasMessageContaining("to host");
        assertThat(heap.residency(a).all(BlockState.DEVICE)).isTrue();
        assertPattern(a, 3);
    }

    @Test
    void aFaultWhoseFirstCopyFailsIsRetried() {
        FloatArray a = pattern();
        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(2f), Arg.of((long) N)).await();
        device.copyEngine().inject(NativeCopyEngine.Injection.COPY_TO_HOST, 0);
        assertThat(a.get(5)).isEqualTo(10f);
        assertThat(heap.stats().copyErrors()).isEqualTo(1);
    }

    @Test
    void allocationFailureWithNothingToEvictIsAClearOutOfMemory() {
        FloatArray a = pattern();
        device.injectAllocationFailures(Integer.MAX_VALUE);
        assertThatThrownBy(() -> heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(2f), Arg.of((long) N)))
                .isInstanceOf(DeviceOutOfMemoryException.class).hasMessageContaining("injected");
        assertThat(heap.residency(a).devices()).isEmpty();
        assertPattern(a, 1);
        device.injectAllocationFailures(0);
        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(2f), Arg.of((long) N)).await();
        assertPattern(a, 2);
    }

    @Test
    void budgetTooSmallForOneArrayIsAClearOutOfMemory() {
        heap.close();
        heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).deviceBudget(BLOCK).build();
        FloatArray a = pattern();
        assertThatThrownBy(() -> heap.prefetch(a, Location.device(0))).isInstanceOf(DeviceOutOfMemoryException.class)
                .hasMessageContaining("budget");
        assertPattern(a, 1);
    }

    @Test
    void lostDeviceFailsLaunchesButDataCanBeEvacuated() {
        FloatArray onDevice = pattern();
        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(onDevice), Arg.of(2f), Arg.of((long) N)).await();
        FloatArray onHost = heap.allocateFloats(N);
        onHost.set(7, 7f);
        device.loseDevice();
        assertThatThrownBy(() -> heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(onHost), Arg.of(2f), Arg.of((long) N)))
                .isInstanceOf(DeviceException.class);
        assertThat(onHost.get(7)).isEqualTo(7f);
        heap.evacuate(0);
        assertThat(heap.residency(onDevice).all(BlockState.HOST)).isTrue();
        assertPattern(onDevice, 2);
    }

    @Test
    void kernelThatThrowsLeavesArraysUsable() {
        FloatArray a = pattern();
        var failing = heap.load(io.hmm4j.spi.KernelSource.java("boom", (n, args) -> {
            throw new IllegalStateException("kernel failed");
        }));
        assertThatThrownBy(() -> heap.launch(failing, 1, Arg.readWrite(a))).hasMessage("kernel failed");
        heap.launch(BuiltinKernel.SCALE, N, Arg.readWrite(a), Arg.of(2f), Arg.of((long) N)).await();
        assertPattern(a, 2);
        a.close();
        assertThat(heap.liveArrays()).isZero();
    }

    /** Issue 9 item 7: a launch that fails before its kernel ran leaves every argument as it was. */
    @Test
    void launchFailingOnAnotherArgumentsCopyKeepsTheWrittenArgument() {
        serializeCopies();
        FloatArray written = pattern();
        FloatArray read = pattern();
        var copy = heap.load(io.hmm4j.spi.KernelSource.java("copy", (n, args) -> {
            throw new AssertionError("the kernel must not run");
        }));
        device.copyEngine().inject(NativeCopyEngine.Injection.COPY_TO_DEVICE, 100);
        assertThatThrownBy(() -> heap.launch(copy, N, Arg.write(written), Arg.read(read)))
                .isInstanceOf(DeviceException.class);
        assertThat(heap.residency(written).all(BlockState.HOST)).isTrue();
        assertPattern(written, 1);
        assertPattern(read, 1);
    }

    /** Issue 9 item 7: arguments the kernel refuses (here: missing scalars) destroy nothing. */
    @Test
    void launchWithBadArgumentsKeepsTheWrittenArgument() {
        FloatArray written = pattern();
        assertThatThrownBy(() -> heap.launch(BuiltinKernel.FILL, N, Arg.write(written)))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(heap.residency(written).all(BlockState.HOST)).isTrue();
        assertPattern(written, 1);
    }

    /** Issue 9 item 7: a device lost before the launch fails it and the written argument keeps its bytes. */
    @Test
    void launchOnALostDeviceKeepsTheWrittenArgument() {
        FloatArray written = pattern();
        device.loseDevice();
        assertThatThrownBy(() -> heap.launch(BuiltinKernel.FILL, N, Arg.write(written), Arg.of(5f), Arg.of((long) N)))
                .isInstanceOf(DeviceException.class);
        assertPattern(written, 1);
    }
}
