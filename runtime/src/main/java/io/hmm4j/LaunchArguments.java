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
        Map<ManagedArray, Access> access = new LinkedHashMap<>();
        usesOf(heap, args).forEach((array, use) -> access.put(array, use.access));
        return access;
    }

    /**
     * Each array argument's blocks: what the launch reads, writes and copies in ({@link ArrayUse}), arguments that
     * name the same array merged.
     *
     * @throws IllegalArgumentException for an array of another heap or a write to a READ_ONLY file mapping
     */
    static Map<ManagedArray, ArrayUse> usesOf(ManagedHeap heap, Arg[] args) {
        Objects.requireNonNull(args, "args");
        Map<ManagedArray, ArrayUse.Builder> uses = new LinkedHashMap<>();
        for (Arg arg : args) {
            switch (Objects.requireNonNull(arg, "argument")) {
                case Arg.Array(ManagedArray array, Access mode) -> use(heap, uses, array, mode)
                        .add(mode, 0, array.length(), array.elementLayout().byteSize());
                case Arg.Range(ManagedArray array, Access mode, long offset, long length) -> use(heap, uses, array, mode)
                        .add(mode, offset, length, array.elementLayout().byteSize());
                case Arg.Scalar s -> { }
            }
        }
        Map<ManagedArray, ArrayUse> built = new LinkedHashMap<>();
        uses.forEach((array, use) -> built.put(array, use.build()));
        return built;
    }

    private static ArrayUse.Builder use(ManagedHeap heap, Map<ManagedArray, ArrayUse.Builder> uses, ManagedArray array,
            Access mode) {
        heap.checkOwned(array);
        if (mode.writes() && array.region.isReadOnly())
            throw new IllegalArgumentException(array + " maps a file READ_ONLY: a kernel cannot write it (" + mode + ")");
        return uses.computeIfAbsent(array, ArrayUse.Builder::new);
    }

    /**
     * @return {@code args} with scalars converted to the types the kernel takes
     * @throws IllegalArgumentException naming the kernel and the argument
     */
    abstract Arg[] checked(ManagedHeap heap, Arg[] args, long globalOffset);

    private static final class Builtin extends LaunchArguments {
        private final BuiltinSignature signature;

        Builtin(BuiltinSignature signature) {
            this.signature = signature;
        }

        /**
         * An element-wise built-in (FILL, SCALE, AXPY) at global offset {@code o} processes elements
         * {@code [o, o + n)} of each of its arrays: they must hold {@code o + n} floats, a range argument must cover
         * those elements, and a whole array it only writes is refused at a non-zero offset (WRITE means the kernel
         * overwrites all of it). The others (reductions, grids) take neither an offset nor ranges.
         */
        @Override
        Arg[] checked(ManagedHeap heap, Arg[] args, long globalOffset) {
            BuiltinKernel kernel = signature.kernel();
            boolean elementWise = signature.elementWise();
            if (globalOffset != 0 && !elementWise)
                throw new IllegalArgumentException(kernel + " " + signature + " is not element-wise: it runs over its"
                        + " whole n (or grid) and takes no global offset, got " + globalOffset);
            List<BuiltinSignature.Actual> actuals = new ArrayList<>(args.length);
            for (int i = 0; i < args.length; i++) {
                Arg arg = args[i];
                ManagedArray array = switch (arg) {
                    case Arg.Array a -> a.array();
                    case Arg.Range r -> r.array();
                    case Arg.Scalar s -> null;
                };
                if (array == null) {
                    actuals.add(new BuiltinSignature.Actual.Scalar(((Arg.Scalar) arg).value()));
                    continue;
                }
                if (arg instanceof Arg.Range && !elementWise)
                    throw new IllegalArgumentException(kernel + " " + signature + " argument " + i + ": a range of an"
                            + " array is only for element-wise built-ins (FILL, SCALE, AXPY); pass the whole array");
                if (arg instanceof Arg.Array(ManagedArray whole, Access access) && globalOffset != 0
                        && access == Access.WRITE)
                    throw new IllegalArgumentException(kernel + " argument " + i + " is a whole array written at"
                            + " global offset " + globalOffset + ": WRITE means the kernel overwrites all of it, and"
                            + " it writes only from the offset; pass the range it writes (Arg.write(array, offset, n))");
                long skipped = globalOffset * Float.BYTES;
                if (array.elementLayout().carrier() == float.class && globalOffset > array.length())
                    throw new IllegalArgumentException(kernel + " argument " + i + " holds " + array.length()
                            + " floats, the launch starts at global offset " + globalOffset);
                actuals.add(new BuiltinSignature.Actual.Array(Math.max(0, array.byteSize() - skipped),
                        array.elementLayout().carrier()));
            }
            Number[] scalars = signature.check(actuals);
            Arg[] converted = args.clone();
            for (int i = 0; i < scalars.length; i++)
                if (scalars[i] != null)
                    converted[i] = new Arg.Scalar(scalars[i]);
            if (elementWise) {
                long n = scalars[signature.countParameter()].longValue();
                for (int i = 0; i < args.length; i++)
                    if (args[i] instanceof Arg.Range r
                            && (r.offset() > globalOffset || r.offset() + r.length() < globalOffset + n))
                        throw new IllegalArgumentException(kernel + " argument " + i + " is elements [" + r.offset()
                                + ", " + (r.offset() + r.length()) + ") of its array; the launch processes ["
                                + globalOffset + ", " + (globalOffset + n) + ")");
            }
            return converted;
        }
    }

    private static final class User extends LaunchArguments {
        private final UserKernel kernel;

        User(UserKernel kernel) {
            this.kernel = kernel;
        }

        @Override
        Arg[] checked(ManagedHeap heap, Arg[] args, long globalOffset) {
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
