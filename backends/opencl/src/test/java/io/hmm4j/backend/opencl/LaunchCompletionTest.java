package io.hmm4j.backend.opencl;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.IntArray;
import io.hmm4j.Launch;
import io.hmm4j.ManagedHeap;
import io.hmm4j.UserKernel;
import io.hmm4j.spi.KernelSource;
import io.hmm4j.spi.NativeCopyEngine;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Per-launch completion on the migrating placement (issue 12, item 1): an await waits for the event of its launch,
 * never with clFinish, and a launch once waited is not waited again; a host fault's copy home queues behind the
 * kernels on the in-order queue, so it waits for no event of its own.
 * The engine's wait counters say which wait ran; values are checked too, so a wait that came too early shows.
 */
class LaunchCompletionTest {

    private static final String ADD = """
            __kernel void add(__global int *values, int amount) {
                size_t i = get_global_id(0);
                values[i] += amount;
            }
            """;
    private static final int COUNT = 64 * 1024;

    @BeforeEach
    void requireOpenCl() {
        OpenClBackendProvider provider = new OpenClBackendProvider();
        Assumptions.assumeTrue(provider.isAvailable(), () -> "OpenCL not available: " + provider.unavailabilityCause());
    }

    private static ManagedHeap heap() {
        return ManagedHeap.builder().backend("opencl").setting("placement", "migrate").blockSize(4096).build();
    }

    private static IntArray counting(ManagedHeap heap) {
        IntArray values = heap.allocateInts(COUNT);
        for (int i = 0; i < COUNT; i++)
            values.set(i, i);
        return values;
    }

    @Test
    void aHostFaultGetsTheKernelsBytesAndNothingDrainsTheDevice() {
        try (ManagedHeap heap = heap()) {
            NativeCopyEngine engine = heap.devices().getFirst().copyEngine();
            IntArray values = counting(heap);
            UserKernel add = heap.load(KernelSource.openCl("add", ADD));
            long syncsBefore = engine.synchronizations();
            long waitsBefore = engine.eventWaits();

            Launch launch = heap.launch(add, COUNT, Arg.readWrite(values), Arg.of(3));
            assertThat(values.get(0)).isEqualTo(3);
            assertThat(values.get(COUNT - 1)).isEqualTo(COUNT - 1 + 3);
            launch.await();

            assertThat(engine.synchronizations() - syncsBefore).isZero();
            assertThat(engine.eventWaits() - waitsBefore).isEqualTo(1);
        }
    }

    @Test
    void awaitWaitsForItsOwnLaunchAndLaterFaultsDoNotWaitAgain() {
        try (ManagedHeap heap = heap()) {
            NativeCopyEngine engine = heap.devices().getFirst().copyEngine();
            IntArray values = counting(heap);
            UserKernel add = heap.load(KernelSource.openCl("add", ADD));
            long syncsBefore = engine.synchronizations();
            long waitsBefore = engine.eventWaits();

            heap.launch(add, COUNT, Arg.readWrite(values), Arg.of(5)).await();
            long waitsAfterAwait = engine.eventWaits();
            for (int i = 0; i < COUNT; i += 1000)
                assertThat(values.get(i)).isEqualTo(i + 5);

            assertThat(engine.synchronizations() - syncsBefore).isZero();
            assertThat(waitsAfterAwait - waitsBefore).isEqualTo(1);
            assertThat(engine.eventWaits()).isEqualTo(waitsAfterAwait);
        }
    }

    /**
     * Two launches write two arrays; a fault on the second gets the kernel's bytes without waiting for any event:
     * its copy home queues behind the kernels on the in-order queue. Only awaits wait for events.
     */
    @Test
    void aFaultsCopyHomeFollowsTheKernelsWithoutAWaitOfItsOwn() {
        try (ManagedHeap heap = heap()) {
            NativeCopyEngine engine = heap.devices().getFirst().copyEngine();
            IntArray first = counting(heap);
            IntArray second = counting(heap);
            UserKernel add = heap.load(KernelSource.openCl("add", ADD));
            long syncsBefore = engine.synchronizations();
            long waitsBefore = engine.eventWaits();

            Launch writesFirst = heap.launch(add, COUNT, Arg.readWrite(first), Arg.of(1));
            Launch writesSecond = heap.launch(add, COUNT, Arg.readWrite(second), Arg.of(2));
            assertThat(second.get(7)).isEqualTo(7 + 2);
            assertThat(engine.eventWaits() - waitsBefore).isZero();
            assertThat(writesFirst.isDone()).isFalse();

            writesFirst.await();
            writesSecond.await();
            assertThat(first.get(7)).isEqualTo(7 + 1);
            assertThat(engine.synchronizations() - syncsBefore).isZero();
            assertThat(engine.eventWaits() - waitsBefore).isEqualTo(2);
        }
    }
}
