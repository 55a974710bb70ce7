package io.hmm4j;

/**
 * Kernels that every backend provides, on {@code float} arrays ({@link FloatArray}). The argument order is the one
 * given here; {@code n} is a {@code long} element count, {@code width}/{@code height} are {@code int}s, all
 * {@code >= 0}.
 *
 * <p>Every backend checks a launch the same way, before any array moves ({@link io.hmm4j.spi.BuiltinSignature}):
 * scalars must have the parameter's type ({@code Arg.of(2f)} for a float, {@code Arg.of(4)} for an int), except
 * that an int is accepted where a long is expected (widening is exact); nothing is rounded, so {@code Arg.of(1)}
 * as a FILL value is refused. Arrays must hold what {@code n} (or {@code width * height}) needs, DOT's and SUM's
 * {@code out} one float. A mismatch is an {@link IllegalArgumentException} naming the kernel and the argument.
 *
 * <p>A built-in always processes its whole {@code n} (or grid); the launch's global size does not change the
 * result, each backend splits the work its own way. In a range launch at global offset {@code o}
 * ({@link ManagedHeap#launchOn(int, BuiltinKernel, long, long, Arg...)}) the element-wise ones (FILL, SCALE, AXPY)
 * process elements {@code [o, o + n)}; DOT, SUM and STENCIL_2D take no offset.
 */
public enum BuiltinKernel {
    /** {@code FILL(out: WRITE, value: float, n: long)}: {@code out[i] = value}. */
    FILL,
    /** {@code SCALE(x: READ_WRITE, a: float, n: long)}: {@code x[i] *= a}. */
    SCALE,
    /** {@code AXPY(x: READ, y: READ_WRITE, a: float, n: long)}: {@code y[i] = a * x[i] + y[i]}. */
    AXPY,
    /** {@code DOT(x: READ, y: READ, out: WRITE, n: long)}: {@code out[0] = sum(x[i] * y[i])}. */
    DOT,
    /** {@code SUM(x: READ, out: WRITE, n: long)}: {@code out[0] = sum(x[i])}. */
    SUM,
    /**
     * {@code STENCIL_2D(in: READ, out: WRITE, width: int, height: int, alpha: float)}: one explicit heat-diffusion
     * step on a row-major grid, {@code out = in + alpha * (N + S + E + W - 4 * in)} inside, boundary cells copied.
     */
    STENCIL_2D
}
