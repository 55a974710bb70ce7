package io.hmm4j.backend.opencl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BlockState;
import io.hmm4j.DeviceException;
import io.hmm4j.FloatArray;
import io.hmm4j.IntArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.UserKernel;
import io.hmm4j.spi.DeviceKind;
import io.hmm4j.spi.KernelBuildException;
import io.hmm4j.spi.KernelSource;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** OpenCL specifics on both placements: user kernels, build logs, CL error names, device kinds. */
class OpenClBackendTest {

    private static final String ADD_ONE = """
            __kernel void add_one(__global int *values, int amount) {
                size_t i = get_global_id(0);
                values[i] += amount;
            }
            """;

    /** Per test, not @BeforeAll: Surefire then lists every test as skipped with the reason, not "Tests run: 0". */
    @BeforeEach
    void requireOpenCl() {
        OpenClBackendProvider provider = new OpenClBackendProvider();
        Assumptions.assumeTrue(provider.isAvailable(), () -> "OpenCL not available: " + provider.unavailabilityCause());
    }

    private static ManagedHeap heap(String placement) {
        return ManagedHeap.builder().backend("opencl").setting("placement", placement).blockSize(4096).build();
    }

    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void userKernelRunsOnManagedArrays(String placement) {
        try (ManagedHeap heap = heap(placement)) {
            IntArray values = heap.allocateInts(10_000);
            for (int i = 0; i < values.length(); i++)
                values.set(i, i);
            UserKernel addOne = heap.load(KernelSource.openCl("add_one", ADD_ONE));
            heap.launch(addOne, values.length(), Arg.readWrite(values), Arg.of(5)).await();
            if (placement.equals("migrate"))
                assertThat(heap.residency(values).all(BlockState.DEVICE)).isTrue();
            else
                assertThat(heap.residency(values).all(BlockState.HOST)).isTrue();
            for (int i = 0; i < values.length(); i += 37)
                assertThat(values.get(i)).isEqualTo(i + 5);
        }
    }

    /** A cl_kernel belongs to its heap's context: on another heap it failed with CL_INVALID_CONTEXT. */
    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void aUserKernelOfAnotherHeapIsRefusedBeforeAnyArrayMoves(String placement) {
        try (ManagedHeap loader = heap(placement); ManagedHeap other = heap(placement)) {
            UserKernel addOne = loader.load(KernelSource.openCl("add_one", ADD_ONE));
            IntArray mine = loader.allocateInts(16);
            loader.launch(addOne, mine.length(), Arg.readWrite(mine), Arg.of(1)).await();
            IntArray values = other.allocateInts(16);
            values.set(3, 7);
            assertThatThrownBy(() -> other.launch(addOne, values.length(), Arg.readWrite(values), Arg.of(1)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("add_one")
                    .hasMessageContaining("another heap");
            assertThat(other.residency(values).all(BlockState.HOST)).isTrue();
            assertThat(values.get(3)).isEqualTo(7);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void placementDecidesTheDeviceKind(String placement) {
        try (ManagedHeap heap = heap(placement)) {
            assertThat(heap.devices().get(0).kind()).isEqualTo(placement.equals("migrate") ? DeviceKind.DISCRETE : DeviceKind.COHERENT);
            assertThat(heap.devices().get(0).id()).isEqualTo("opencl:0");
            assertThat(heap.devices().get(0).capacityBytes()).isPositive();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"migrate"})
    void buildErrorsCarryTheCompilerLog(String placement) {
        try (ManagedHeap heap = heap(placement)) {
            FloatArray a = heap.allocateFloats(4);
            UserKernel broken = heap.load(KernelSource.openCl("broken", "__kernel void broken(__global float *x) { x[0] = undeclared_name; }"));
            assertThatThrownBy(() -> heap.launch(broken, 1, Arg.readWrite(a)))
                    .isInstanceOf(KernelBuildException.class)
                    .hasMessageContaining("clBuildProgram(broken) failed on opencl:0: CL_BUILD_PROGRAM_FAILURE")
                    .hasMessageContaining("undeclared_name");
            assertThat(a.get(0)).isZero();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void clErrorsNameTheCallAndTheError(String placement) {
        try (ManagedHeap heap = heap(placement)) {
            FloatArray a = heap.allocateFloats(4);
            UserKernel twoArgs = heap.load(KernelSource.openCl("two_args", "__kernel void two_args(__global float *x, float v) { x[get_global_id(0)] = v; }"));
            // One argument short: the enqueue is refused with CL_INVALID_KERNEL_ARGS.
            assertThatThrownBy(() -> heap.launch(twoArgs, 4, Arg.write(a)))
                    .isInstanceOf(DeviceException.class)
                    .hasMessageContaining("clEnqueueNDRangeKernel(two_args) failed on opencl:0: CL_INVALID_KERNEL_ARGS");
            UserKernel missing = heap.load(KernelSource.openCl("not_there", "__kernel void present(__global float *x) { }"));
            // A build problem, as CUDA reports a missing entry point: a KernelBuildException, not a device failure.
            assertThatThrownBy(() -> heap.launch(missing, 1, Arg.write(a)))
                    .isInstanceOf(KernelBuildException.class)
                    .hasMessageContaining("no kernel 'not_there' in the program (CL_INVALID_KERNEL_NAME)");
            heap.launch(twoArgs, 4, Arg.write(a), Arg.of(2f)).await();
            assertThat(a.get(3)).isEqualTo(2f);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"migrate", "coherent"})
    void onlyOpenClSourceIsAccepted(String placement) {
        try (ManagedHeap heap = heap(placement)) {
            UserKernel ptx = heap.load(KernelSource.ptx("k", ".version 7.0"));
            assertThatThrownBy(() -> heap.launch(ptx, 1)).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("OpenCL C");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"sideways"})
    void badPlacementIsRefused(String placement) {
        assertThatThrownBy(() -> heap(placement)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("placement must be auto, migrate or coherent");
    }
}
