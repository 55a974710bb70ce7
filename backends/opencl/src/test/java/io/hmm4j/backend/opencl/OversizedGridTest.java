package io.hmm4j.backend.opencl;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.conformance.ChildJvm;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * STENCIL_2D over a 2^31-1 x 2^31-1 grid: its byte count wraps a long negative, a naive size check passed it, and
 * PoCL ran the kernel out of bounds and killed the JVM in both placements. Runs in a child JVM, so a regression is
 * a failed test rather than a dead test run.
 */
class OversizedGridTest {

    public static void main(String[] args) {
        for (String placement : List.of("migrate", "coherent")) {
            try (ManagedHeap heap = ManagedHeap.builder().backend("opencl").setting("placement", placement).build()) {
                FloatArray in = heap.allocateFloats(16);
                FloatArray out = heap.allocateFloats(16);
                try {
                    heap.launch(BuiltinKernel.STENCIL_2D, 16, Arg.read(in), Arg.write(out), Arg.of(Integer.MAX_VALUE),
                            Arg.of(Integer.MAX_VALUE), Arg.of(0.1f)).await();
                    System.out.println("LAUNCHED " + placement);
                } catch (IllegalArgumentException e) {
                    System.out.println("REJECTED " + placement + ": " + e.getMessage());
                }
            }
        }
    }

    @Test
    void anOverflowingGridIsRejectedNotRunOutOfBounds() throws Exception {
        OpenClBackendProvider provider = new OpenClBackendProvider();
        Assumptions.assumeTrue(provider.isAvailable(), () -> "OpenCL not available: " + provider.unavailabilityCause());
        ChildJvm.Result result = ChildJvm.run(OversizedGridTest.class, List.of(), 120);
        assertThat(result.output()).as(result.output()).contains("REJECTED migrate").contains("REJECTED coherent");
        assertThat(result.exitCode()).as(result.output()).isZero();
    }
}
