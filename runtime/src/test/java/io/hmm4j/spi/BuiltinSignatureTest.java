package io.hmm4j.spi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Access;
import io.hmm4j.BuiltinKernel;
import java.lang.foreign.MemorySegment;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The built-in argument check on a backend's view (buffers with bytes only), as every Device.launch applies it. */
class BuiltinSignatureTest {

    private static KernelArgument.Buffer floats(long n) {
        return new KernelArgument.Buffer(0x1000, n * Float.BYTES, Access.READ_WRITE, MemorySegment.NULL);
    }

    private static KernelArgument.Scalar of(Number v) {
        return new KernelArgument.Scalar(v);
    }

    private static List<KernelArgument> check(BuiltinKernel kernel, KernelArgument... arguments) {
        return BuiltinSignature.of(kernel).checkLaunch(List.of(arguments));
    }

    @Test
    void everyBuiltinHasASignatureInTheDocumentedOrder() {
        for (BuiltinKernel kernel : BuiltinKernel.values())
            assertThat(BuiltinSignature.of(kernel).kernel()).isEqualTo(kernel);
        assertThat(BuiltinSignature.of(BuiltinKernel.STENCIL_2D)).hasToString(
                "(in: float array, out: float array, width: int, height: int, alpha: float)");
        check(BuiltinKernel.FILL, floats(10), of(1f), of(10L));
        check(BuiltinKernel.SCALE, floats(10), of(1f), of(0L));
        check(BuiltinKernel.AXPY, floats(10), floats(10), of(2f), of(10L));
        check(BuiltinKernel.DOT, floats(10), floats(10), floats(1), of(10L));
        check(BuiltinKernel.SUM, floats(10), floats(1), of(10L));
        check(BuiltinKernel.STENCIL_2D, floats(12), floats(12), of(4), of(3), of(0.2f));
        check(BuiltinKernel.STENCIL_2D, floats(1), floats(1), of(0), of(0), of(0.2f));
    }

    @Test
    void anIntCountIsWidenedToLongAndNothingElseIsConverted() {
        assertThat(check(BuiltinKernel.FILL, floats(10), of(1f), of(10)).get(2)).isEqualTo(of(10L));
        assertThatThrownBy(() -> check(BuiltinKernel.FILL, floats(10), of(1), of(10L)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("FILL argument 1 (value) must be a float, got Integer 1");
        assertThatThrownBy(() -> check(BuiltinKernel.FILL, floats(10), of(1.0), of(10L)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("got Double 1.0");
        assertThatThrownBy(() -> check(BuiltinKernel.STENCIL_2D, floats(12), floats(12), of(4L), of(3), of(0.2f)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("STENCIL_2D argument 2 (width) must be an int, got Long 4");
    }

    @Test
    void refusalsNameTheKernelAndTheArgument() {
        assertThatThrownBy(() -> check(BuiltinKernel.FILL, floats(10), of(1f), of(11L)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("FILL argument 0 (out) holds 10 floats, the launch needs 11 (n = 11)");
        assertThatThrownBy(() -> check(BuiltinKernel.AXPY, floats(10), of(1f), of(10L)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("AXPY takes 4 arguments (x: float array, y: float array, a: float, n: long), got 3");
        assertThatThrownBy(() -> check(BuiltinKernel.SUM, floats(10), floats(0), of(10L)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("SUM argument 1 (out) holds 0 floats, the launch needs 1 (one result)");
        assertThatThrownBy(() -> check(BuiltinKernel.SCALE, floats(10), of(1f), of(-1L)))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("SCALE argument 2 (n) must be >= 0: -1");
        assertThatThrownBy(() -> check(BuiltinKernel.DOT, floats(10), of(1f), floats(1), of(10L)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("DOT argument 1 (y) must be a float array, got Float 1.0");
        assertThatThrownBy(() -> check(BuiltinKernel.SCALE, floats(10), floats(10), of(10L)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("SCALE argument 1 (a) must be a float, got an array");
    }

    @Test
    void sizesThatWouldOverflowALongByteCountAreRefused() {
        // 4 * (2^31 - 1)^2 wraps to a negative long: a check in bytes let this grid through.
        assertThatThrownBy(() -> check(BuiltinKernel.STENCIL_2D, floats(16), floats(16), of(Integer.MAX_VALUE),
                of(Integer.MAX_VALUE), of(0.1f)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("STENCIL_2D argument 0 (in) holds 16 floats, the launch needs 4611686014132420609");
        assertThatThrownBy(() -> check(BuiltinKernel.FILL, floats(16), of(1f), of(Long.MAX_VALUE)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("FILL argument 0 (out)");
        assertThatThrownBy(() -> check(BuiltinKernel.FILL, floats(Long.MAX_VALUE / Float.BYTES), of(1f), of(Long.MAX_VALUE)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("FILL argument 0 (out)");
    }
}
