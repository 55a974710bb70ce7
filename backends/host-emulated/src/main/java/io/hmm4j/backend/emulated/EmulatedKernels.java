package io.hmm4j.backend.emulated;

import io.hmm4j.BuiltinKernel;
import io.hmm4j.spi.JavaKernel;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The built-in kernels in Java, over emulated device memory. Reductions accumulate in double. Their arguments have
 * passed {@link io.hmm4j.spi.BuiltinSignature}'s check (EmulatedDevice.launch), so counts fit the arrays.
 */
final class EmulatedKernels {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;

    private EmulatedKernels() {}

    static JavaKernel of(BuiltinKernel which) {
        return switch (which) {
            case FILL -> EmulatedKernels::fill;
            case SCALE -> EmulatedKernels::scale;
            case AXPY -> EmulatedKernels::axpy;
            case DOT -> EmulatedKernels::dot;
            case SUM -> EmulatedKernels::sum;
            case STENCIL_2D -> EmulatedKernels::stencil;
        };
    }

    private static void fill(long globalSize, JavaKernel.Arguments a) {
        MemorySegment out = a.buffer(0);
        float value = a.floatValue(1);
        long n = a.longValue(2);
        for (long i = 0; i < n; i++)
            out.setAtIndex(F, i, value);
    }

    private static void scale(long globalSize, JavaKernel.Arguments a) {
        MemorySegment x = a.buffer(0);
        float factor = a.floatValue(1);
        long n = a.longValue(2);
        for (long i = 0; i < n; i++)
            x.setAtIndex(F, i, x.getAtIndex(F, i) * factor);
    }

    private static void axpy(long globalSize, JavaKernel.Arguments a) {
        MemorySegment x = a.buffer(0);
        MemorySegment y = a.buffer(1);
        float alpha = a.floatValue(2);
        long n = a.longValue(3);
        for (long i = 0; i < n; i++)
            y.setAtIndex(F, i, alpha * x.getAtIndex(F, i) + y.getAtIndex(F, i));
    }

    private static void dot(long globalSize, JavaKernel.Arguments a) {
        MemorySegment x = a.buffer(0);
        MemorySegment y = a.buffer(1);
        MemorySegment out = a.buffer(2);
        long n = a.longValue(3);
        double sum = 0;
        for (long i = 0; i < n; i++)
            sum += (double) x.getAtIndex(F, i) * y.getAtIndex(F, i);
        out.setAtIndex(F, 0, (float) sum);
    }

    private static void sum(long globalSize, JavaKernel.Arguments a) {
        MemorySegment x = a.buffer(0);
        MemorySegment out = a.buffer(1);
        long n = a.longValue(2);
        double sum = 0;
        for (long i = 0; i < n; i++)
            sum += x.getAtIndex(F, i);
        out.setAtIndex(F, 0, (float) sum);
    }

    private static void stencil(long globalSize, JavaKernel.Arguments a) {
        MemorySegment in = a.buffer(0);
        MemorySegment out = a.buffer(1);
        int width = a.intValue(2);
        int height = a.intValue(3);
        float alpha = a.floatValue(4);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                long i = (long) y * width + x;
                float c = in.getAtIndex(F, i);
                if (x == 0 || y == 0 || x == width - 1 || y == height - 1) {
                    out.setAtIndex(F, i, c);
                } else {
                    float around = in.getAtIndex(F, i - 1) + in.getAtIndex(F, i + 1) + in.getAtIndex(F, i - width)
                            + in.getAtIndex(F, i + width);
                    out.setAtIndex(F, i, c + alpha * (around - 4 * c));
                }
            }
        }
    }
}
