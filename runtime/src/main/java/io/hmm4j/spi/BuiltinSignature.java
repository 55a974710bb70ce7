package io.hmm4j.spi;

import io.hmm4j.BuiltinKernel;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * The parameters of a {@link BuiltinKernel} and the one check a launch of it passes on every backend. The runtime
 * applies it before any array is placed (a refused launch leaves every array as it was), and each backend's
 * {@link Device#launch} applies the same check to what it is handed, so a caller of the SPI alone is refused the
 * same way. Backends keep only the conversion of the checked values to their C types.
 *
 * <p>Conversion rule: a scalar must have its parameter's Java type ({@code Float} for {@code float},
 * {@code Integer} for {@code int}, {@code Long} for {@code long}), with one exception: an {@code Integer} where a
 * {@code long} is expected is widened, which is exact. Nothing is rounded or narrowed: an {@code Integer} or a
 * {@code Double} where a {@code float} is expected is refused.
 *
 * <p>Sizes are compared in elements (a count against {@code byteSize / Float.BYTES}) with overflow-checked
 * arithmetic, so no count can wrap around and pass: a 2^31-1 x 2^31-1 grid is refused, not run out of bounds.
 * Every refusal is an {@link IllegalArgumentException} whose message names the kernel and the argument, e.g.
 * {@code FILL argument 1 (value) must be a float, got Integer 1}.
 */
public final class BuiltinSignature {

    /** What a parameter takes. */
    public enum Type {
        FLOAT_ARRAY("a float array"),
        FLOAT("a float"),
        INT("an int"),
        LONG("a long");

        private final String description;

        Type(String description) {
            this.description = description;
        }

        boolean isArray() {
            return this == FLOAT_ARRAY;
        }
    }

    /** How many floats an array parameter must hold. */
    public enum Extent {
        /** A scalar. */
        NONE,
        /** The kernel's {@code n}. */
        N,
        /** One float: a reduction's result. */
        ONE,
        /** {@code width * height}. */
        GRID
    }

    /** One formal parameter. */
    public record Parameter(String name, Type type, Extent extent) {
        public Parameter {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(type, "type");
            Objects.requireNonNull(extent, "extent");
        }

        @Override
        public String toString() {
            return name + ": " + type.name().toLowerCase(Locale.ROOT).replace('_', ' ');
        }
    }

    /** One actual argument as the check sees it. */
    public sealed interface Actual {
        /**
         * An array argument.
         *
         * @param elementType its Java element type ({@code float.class} for a float array), or {@code null} where
         *     only its bytes are known (a backend's {@link KernelArgument.Buffer})
         */
        record Array(long byteSize, Class<?> elementType) implements Actual {}

        record Scalar(Number value) implements Actual {
            public Scalar {
                Objects.requireNonNull(value, "value");
            }
        }
    }

    private static final Map<BuiltinKernel, BuiltinSignature> SIGNATURES = new EnumMap<>(BuiltinKernel.class);

    static {
        Parameter n = new Parameter("n", Type.LONG, Extent.NONE);
        define(BuiltinKernel.FILL, floats("out", Extent.N), scalar("value", Type.FLOAT), n);
        define(BuiltinKernel.SCALE, floats("x", Extent.N), scalar("a", Type.FLOAT), n);
        define(BuiltinKernel.AXPY, floats("x", Extent.N), floats("y", Extent.N), scalar("a", Type.FLOAT), n);
        define(BuiltinKernel.DOT, floats("x", Extent.N), floats("y", Extent.N), floats("out", Extent.ONE), n);
        define(BuiltinKernel.SUM, floats("x", Extent.N), floats("out", Extent.ONE), n);
        define(BuiltinKernel.STENCIL_2D, floats("in", Extent.GRID), floats("out", Extent.GRID),
                scalar("width", Type.INT), scalar("height", Type.INT), scalar("alpha", Type.FLOAT));
    }

    private static Parameter floats(String name, Extent extent) {
        return new Parameter(name, Type.FLOAT_ARRAY, extent);
    }

    private static Parameter scalar(String name, Type type) {
        return new Parameter(name, type, Extent.NONE);
    }

    private static void define(BuiltinKernel kernel, Parameter... parameters) {
        SIGNATURES.put(kernel, new BuiltinSignature(kernel, List.of(parameters)));
    }

    private final BuiltinKernel kernel;
    private final List<Parameter> parameters;

    private BuiltinSignature(BuiltinKernel kernel, List<Parameter> parameters) {
        this.kernel = kernel;
        this.parameters = parameters;
    }

    public static BuiltinSignature of(BuiltinKernel kernel) {
        return SIGNATURES.get(Objects.requireNonNull(kernel, "kernel"));
    }

    public BuiltinKernel kernel() {
        return kernel;
    }

    public List<Parameter> parameters() {
        return parameters;
    }

    /**
     * Whether the kernel is element-wise over {@code n}: element {@code i} of its output depends only on element
     * {@code i} of its inputs, so any range {@code [start, start + len)} of its arrays can run on its own with
     * {@code n = len} (a tiled launch). True when every array parameter has extent {@link Extent#N}; reductions
     * (an {@link Extent#ONE} result) and grids are not.
     */
    public boolean elementWise() {
        boolean any = false;
        for (Parameter parameter : parameters) {
            if (parameter.type().isArray()) {
                if (parameter.extent() != Extent.N)
                    return false;
                any = true;
            }
        }
        return any && countParameter() >= 0;
    }

    /**
     * Position of the one-float result of a reduction whose result over elements {@code [0, n)} is the sum of its
     * results over the parts of any split of that range (DOT, SUM), so that a tiled launch may run it per tile and add
     * the partial results; -1 for every other kernel.
     */
    public int sumResult() {
        if (kernel != BuiltinKernel.DOT && kernel != BuiltinKernel.SUM)
            return -1;
        for (int i = 0; i < parameters.size(); i++)
            if (parameters.get(i).extent() == Extent.ONE)
                return i;
        return -1;
    }

    /** Position of the {@code n} parameter, or -1 where the kernel has none. */
    public int countParameter() {
        for (int i = 0; i < parameters.size(); i++)
            if (parameters.get(i).name().equals("n") && !parameters.get(i).type().isArray())
                return i;
        return -1;
    }

    /**
     * Checks actual arguments against this signature.
     *
     * @return the scalar arguments converted to their parameters' types, by position ({@code null} at arrays)
     * @throws IllegalArgumentException naming the kernel and the argument: wrong count, wrong type, a negative
     *     count or a dimension, an array that holds fewer floats than the launch needs
     */
    public Number[] check(List<? extends Actual> arguments) {
        Objects.requireNonNull(arguments, "arguments");
        if (arguments.size() != parameters.size())
            throw new IllegalArgumentException(kernel + " takes " + parameters.size() + " arguments " + this
                    + ", got " + arguments.size());
        Number[] scalars = new Number[parameters.size()];
        Map<String, Long> counts = new HashMap<>();
        for (int i = 0; i < parameters.size(); i++) {
            Parameter parameter = parameters.get(i);
            Actual actual = arguments.get(i);
            if (actual == null)
                throw new IllegalArgumentException(kernel + " argument " + i + " (" + parameter.name() + ") is null");
            if (parameter.type().isArray()) {
                if (!(actual instanceof Actual.Array array) || !(array.elementType() == null || array.elementType() == float.class))
                    throw mismatch(i, parameter, actual);
            } else {
                Number converted = actual instanceof Actual.Scalar(Number value) ? converted(parameter.type(), value) : null;
                if (converted == null)
                    throw mismatch(i, parameter, actual);
                if (parameter.type() != Type.FLOAT && converted.longValue() < 0)
                    throw new IllegalArgumentException(kernel + " argument " + i + " (" + parameter.name()
                            + ") must be >= 0: " + converted);
                scalars[i] = converted;
                counts.put(parameter.name(), converted.longValue());
            }
        }
        for (int i = 0; i < parameters.size(); i++) {
            Parameter parameter = parameters.get(i);
            if (!parameter.type().isArray())
                continue;
            long needed = switch (parameter.extent()) {
                case N -> counts.get("n");
                case ONE -> 1;
                // Two non-negative ints: the product fits a long; multiplyExact says so should the types change.
                case GRID -> Math.multiplyExact(counts.get("width"), counts.get("height"));
                case NONE -> throw new IllegalStateException(kernel + " array parameter " + parameter + " has no extent");
            };
            long holds = ((Actual.Array) arguments.get(i)).byteSize() / Float.BYTES;
            if (holds < needed)
                throw new IllegalArgumentException(kernel + " argument " + i + " (" + parameter.name() + ") holds "
                        + holds + " floats, the launch needs " + needed + " (" + describe(parameter.extent(), counts) + ")");
        }
        return scalars;
    }

    /**
     * {@link #check(List)} on a backend's view of a launch.
     *
     * @return the arguments with their scalars converted to the parameters' types
     */
    public List<KernelArgument> checkLaunch(List<KernelArgument> arguments) {
        Objects.requireNonNull(arguments, "arguments");
        List<Actual> actuals = new ArrayList<>(arguments.size());
        for (KernelArgument argument : arguments) {
            actuals.add(switch (Objects.requireNonNull(argument, "argument")) {
                case KernelArgument.Buffer b -> new Actual.Array(b.byteSize(), null);
                case KernelArgument.Scalar(Number value) -> new Actual.Scalar(value);
            });
        }
        Number[] scalars = check(actuals);
        List<KernelArgument> converted = new ArrayList<>(arguments);
        for (int i = 0; i < scalars.length; i++)
            if (scalars[i] != null)
                converted.set(i, new KernelArgument.Scalar(scalars[i]));
        return List.copyOf(converted);
    }

    /**
     * {@link #checkLaunch(List)} of a launch at global offset {@code globalOffset}, for backends whose buffers are
     * addresses (emulated, CUDA): an element-wise kernel's buffers start {@code globalOffset} floats further, so that
     * it processes elements {@code [globalOffset, globalOffset + n)}.
     *
     * @throws IllegalArgumentException for a non-zero offset to a kernel that is not element-wise, or a buffer
     *     shorter than the offset
     */
    public List<KernelArgument> checkLaunch(long globalOffset, List<KernelArgument> arguments) {
        Objects.requireNonNull(arguments, "arguments");
        if (globalOffset == 0)
            return checkLaunch(arguments);
        if (globalOffset < 0 || !elementWise())
            throw new IllegalArgumentException(kernel + " " + this + " takes no global offset: " + globalOffset);
        List<KernelArgument> shifted = new ArrayList<>(arguments.size());
        for (KernelArgument argument : arguments) {
            if (argument instanceof KernelArgument.Buffer(long address, long byteSize, var access, var host)) {
                if (globalOffset > byteSize / Float.BYTES)
                    throw new IllegalArgumentException(kernel + ": a buffer of " + byteSize / Float.BYTES
                            + " floats cannot start at global offset " + globalOffset);
                long skip = globalOffset * Float.BYTES;
                shifted.add(new KernelArgument.Buffer(address + skip, byteSize - skip, access,
                        host.asSlice(Math.min(skip, host.byteSize()))));
            } else {
                shifted.add(argument);
            }
        }
        return checkLaunch(shifted);
    }

    /** The value as the parameter's type, or {@code null} where the conversion rule refuses it. */
    private static Number converted(Type type, Number value) {
        return switch (type) {
            case FLOAT -> value instanceof Float ? value : null;
            case INT -> value instanceof Integer ? value : null;
            case LONG -> value instanceof Long ? value : value instanceof Integer i ? Long.valueOf(i) : null;
            case FLOAT_ARRAY -> null;
        };
    }

    private IllegalArgumentException mismatch(int index, Parameter parameter, Actual actual) {
        String got = switch (actual) {
            case Actual.Array a when a.elementType() != null -> "a " + a.elementType().getName() + " array";
            case Actual.Array a -> "an array";
            case Actual.Scalar(Number value) -> value.getClass().getSimpleName() + " " + value;
        };
        return new IllegalArgumentException(kernel + " argument " + index + " (" + parameter.name() + ") must be "
                + parameter.type().description + ", got " + got);
    }

    private static String describe(Extent extent, Map<String, Long> counts) {
        return switch (extent) {
            case N -> "n = " + counts.get("n");
            case ONE -> "one result";
            case GRID -> "width x height = " + counts.get("width") + " x " + counts.get("height");
            case NONE -> "";
        };
    }

    @Override
    public String toString() {
        return parameters.stream().map(Parameter::toString).collect(Collectors.joining(", ", "(", ")"));
    }
}
