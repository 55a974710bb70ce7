package io.hmm4j;

import io.hmm4j.spi.BuiltinSignature;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The checks of a launch's arguments that need no device, run before any array is placed or migrated, so that a
 * refused launch leaves every array exactly as it was. Built-ins are checked against their
 * {@link BuiltinSignature} (the same check every backend applies); user kernels, whose parameters only the device
 * knows, against their heap and the scalar types a backend can pass.
 */
abstract sealed class LaunchArguments {

    static LaunchArguments of(BuiltinKernel kernel) {
        return new Builtin(BuiltinSignature.of(kernel));
    }

    static LaunchArguments of(UserKernel kernel) {
        return new User(kernel);
    }

    /**
     * Each array argument's access, arguments that name the same array merged (READ and WRITE make READ_WRITE).
     *
     * @throws IllegalArgumentException for an array of another heap or a write to a READ_ONLY file mapping
     */
    static Map<ManagedArray, Access> accessOf(ManagedHeap heap, Arg[] args) {
        Objects.requireNonNull(args, "args");
        Map<ManagedArray, Access> access = new LinkedHashMap<>();
        for (Arg arg : args) {
            if (arg instanceof Arg.Array(ManagedArray array, Access mode)) {
                heap.checkOwned(array);
                if (mode.writes() && array.region.isReadOnly())
                    throw new IllegalArgumentException(array + " maps a file READ_ONLY: a kernel cannot write it ("
                            + mode + ")");
                access.merge(array, mode, (a, b) -> a == b ? a : Access.READ_WRITE);
            } else {
                Objects.requireNonNull(arg, "argument");
            }
        }
        return access;
    }

    /**
     * @return {@code args} with scalars converted to the types the kernel takes
     * @throws IllegalArgumentException naming the kernel and the argument
     */
    abstract Arg[] checked(ManagedHeap heap, Arg[] args);

    private static final class Builtin extends LaunchArguments {
        private final BuiltinSignature signature;

        Builtin(BuiltinSignature signature) {
            this.signature = signature;
        }

        @Override
        Arg[] checked(ManagedHeap heap, Arg[] args) {
            List<BuiltinSignature.Actual> actuals = new ArrayList<>(args.length);
            for (Arg arg : args) {
                actuals.add(switch (arg) {
                    case Arg.Array(ManagedArray array, Access access) ->
                            new BuiltinSignature.Actual.Array(array.byteSize(), array.elementLayout().carrier());
                    case Arg.Scalar(Number value) -> new BuiltinSignature.Actual.Scalar(value);
                });
            }
            Number[] scalars = signature.check(actuals);
            Arg[] converted = args.clone();
            for (int i = 0; i < scalars.length; i++)
                if (scalars[i] != null)
                    converted[i] = new Arg.Scalar(scalars[i]);
            return converted;
        }
    }

    private static final class User extends LaunchArguments {
        private final UserKernel kernel;

        User(UserKernel kernel) {
            this.kernel = kernel;
        }

        @Override
        Arg[] checked(ManagedHeap heap, Arg[] args) {
            // Its device kernels belong to the loading heap's devices (on OpenCL, to their contexts).
            if (kernel.heap() != heap)
                throw new IllegalArgumentException("user kernel '" + kernel.name() + "' was loaded by another heap;"
                        + " load its source with this heap's load()");
            for (int i = 0; i < args.length; i++) {
                if (args[i] instanceof Arg.Scalar(Number value) && !(value instanceof Integer || value instanceof Long
                        || value instanceof Float || value instanceof Double))
                    throw new IllegalArgumentException("user kernel '" + kernel.name() + "' argument " + i
                            + " must be an Integer, Long, Float or Double scalar, got " + value.getClass().getName());
            }
            return args;
        }
    }
}
