package io.hmm4j.backend.cuda;

import io.hmm4j.BuiltinKernel;
import io.hmm4j.spi.KernelArgument;
import java.util.List;

/**
 * Checks a built-in launch's arguments against {@link BuiltinKernel}'s documented signature before it reaches the
 * GPU, so a wrong argument is an IllegalArgumentException rather than CUDA_ERROR_ILLEGAL_ADDRESS (which would
 * poison the context for every later call).
 */
final class BuiltinSignatures {

    private enum Slot { BUFFER, FLOAT, INT, LONG }

    private BuiltinSignatures() {}

    private static List<Slot> signature(BuiltinKernel kernel) {
        return switch (kernel) {
            case FILL, SCALE -> List.of(Slot.BUFFER, Slot.FLOAT, Slot.LONG);
            case AXPY -> List.of(Slot.BUFFER, Slot.BUFFER, Slot.FLOAT, Slot.LONG);
            case DOT -> List.of(Slot.BUFFER, Slot.BUFFER, Slot.BUFFER, Slot.LONG);
            case SUM -> List.of(Slot.BUFFER, Slot.BUFFER, Slot.LONG);
            case STENCIL_2D -> List.of(Slot.BUFFER, Slot.BUFFER, Slot.INT, Slot.INT, Slot.FLOAT);
        };
    }

    static void check(BuiltinKernel kernel, List<KernelArgument> arguments) {
        List<Slot> signature = signature(kernel);
        if (arguments.size() != signature.size())
            throw new IllegalArgumentException(kernel + " takes " + signature.size() + " arguments " + signature
                    + ", got " + arguments.size());
        for (int i = 0; i < signature.size(); i++) {
            KernelArgument argument = arguments.get(i);
            boolean ok = switch (signature.get(i)) {
                case BUFFER -> argument instanceof KernelArgument.Buffer;
                case FLOAT -> argument instanceof KernelArgument.Scalar(Float f);
                case INT -> argument instanceof KernelArgument.Scalar(Integer v);
                case LONG -> argument instanceof KernelArgument.Scalar(Long v);
            };
            if (!ok)
                throw new IllegalArgumentException(kernel + " argument " + i + " must be " + signature.get(i) + ": "
                        + argument);
        }
        long floats;
        List<Integer> buffers;
        if (kernel == BuiltinKernel.STENCIL_2D) {
            int width = intAt(arguments, 2);
            int height = intAt(arguments, 3);
            if (width < 0 || height < 0)
                throw new IllegalArgumentException("STENCIL_2D width and height must be >= 0: " + width + " x " + height);
            floats = (long) width * height;
            buffers = List.of(0, 1);
        } else {
            floats = ((Long) ((KernelArgument.Scalar) arguments.getLast()).value());
            if (floats < 0)
                throw new IllegalArgumentException(kernel + " n must be >= 0: " + floats);
            buffers = switch (kernel) {
                case FILL, SCALE -> List.of(0);
                case AXPY, DOT -> List.of(0, 1);
                default -> List.of(0);
            };
        }
        for (int i : buffers)
            requireFloats(kernel, arguments, i, floats);
        if (kernel == BuiltinKernel.DOT)
            requireFloats(kernel, arguments, 2, 1);
        if (kernel == BuiltinKernel.SUM)
            requireFloats(kernel, arguments, 1, 1);
    }

    private static int intAt(List<KernelArgument> arguments, int index) {
        return (Integer) ((KernelArgument.Scalar) arguments.get(index)).value();
    }

    private static void requireFloats(BuiltinKernel kernel, List<KernelArgument> arguments, int index, long floats) {
        KernelArgument.Buffer buffer = (KernelArgument.Buffer) arguments.get(index);
        if (floats > buffer.byteSize() / Float.BYTES)
            throw new IllegalArgumentException(kernel + " argument " + index + " holds " + buffer.byteSize() / Float.BYTES
                    + " floats, the launch needs " + floats);
    }
}
