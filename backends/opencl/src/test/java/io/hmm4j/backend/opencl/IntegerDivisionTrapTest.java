package io.hmm4j.backend.opencl;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.IntArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.KernelSource;
import io.hmm4j.conformance.ChildJvm;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * PoCL installs a SIGFPE handler that steps over integer division traps, so that an OpenCL kernel dividing by
 * zero does not kill the process. The JVM's compiled code relies on that trap for ArithmeticException: in front
 * of the JVM, PoCL's handler made {@code x / 0} in JIT-compiled Java code silently return garbage. Java's traps
 * must reach the JVM, and kernels' traps PoCL. In a child JVM (a wrong routing is a crash).
 */
class IntegerDivisionTrapTest {

    private static final int ITERATIONS = 200_000;

    private static int divide(int a, int b) {
        return a / b;
    }

    /** Runs in the child JVM. */
    public static void main(String[] args) {
        try (ManagedHeap heap = ManagedHeap.builder().backend("opencl").build()) {
            IntArray values = heap.allocateInts(64);
            IntArray divisors = heap.allocateInts(64); // all zero
            heap.launch(heap.load(KernelSource.openCl("divide", """
                    __kernel void divide(__global int *x, __global const int *d) {
                        size_t i = get_global_id(0);
                        x[i] = 100 / d[i];
                    }
                    """)), values.length(), Arg.write(values), Arg.read(divisors)).await();
            System.out.println("KERNEL SURVIVED");
            // Enough calls for the JIT to compile divide() with its implicit (trapping) zero check.
            long sum = 0;
            int thrown = 0;
            for (int i = 0; i < ITERATIONS; i++) {
                try {
                    sum += divide(i, i % 2 == 0 ? 0 : 1);
                } catch (ArithmeticException e) {
                    thrown++;
                }
            }
            System.out.println("THROWN " + thrown + " SUM " + sum);
        }
    }

    @Test
    void javaDivisionByZeroStillThrowsAndKernelsStillSurviveIt() throws Exception {
        OpenClBackendProvider provider = new OpenClBackendProvider();
        Assumptions.assumeTrue(provider.isAvailable(), () -> "OpenCL not available: " + provider.unavailabilityCause());
        // ChildJvm fails the test after 60 s instead of blocking on the child's output forever.
        ChildJvm.Result child = ChildJvm.run(IntegerDivisionTrapTest.class, List.of(), 60);
        String out = child.output();
        assertThat(child.exitCode()).as(out).isZero();
        long odd = ITERATIONS / 2;
        long expectedSum = odd * odd; // the odd numbers below ITERATIONS, each divided by 1
        assertThat(out).as(out).contains("KERNEL SURVIVED").contains("THROWN " + ITERATIONS / 2 + " SUM " + expectedSum);
    }
}
