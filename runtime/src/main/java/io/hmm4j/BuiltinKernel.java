package io.hmm4j;

/**
 * Kernels that every backend provides, on {@code float} arrays. The argument order is the one given
 * here; {@code n} is a {@code long} element count, {@code width}/{@code height} are {@code int}s.
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
