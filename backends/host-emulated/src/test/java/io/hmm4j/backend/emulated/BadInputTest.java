package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.Location;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.KernelSource;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every kind of bad input and the exception it gets: a table, one row per case. */
class BadInputTest {

    private ManagedHeap heap;
    private ManagedHeap otherHeap;

    @BeforeEach
    void open() {
        heap = ManagedHeap.builder().backend("emulated").build();
        otherHeap = ManagedHeap.builder().backend("emulated").build();
    }

    @AfterEach
    void close() {
        heap.close();
        otherHeap.close();
    }

    record Case(String name, Class<? extends Throwable> expected, String message, Consumer<BadInputTest> action) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static Case row(String name, Class<? extends Throwable> expected, String message, Consumer<BadInputTest> action) {
        return new Case(name, expected, message, action);
    }

    static Stream<Arguments> cases() {
        return Stream.of(
                row("negative length", IllegalArgumentException.class, "must be > 0", t -> t.heap.allocateFloats(-1)),
                row("zero length", IllegalArgumentException.class, "must be > 0", t -> t.heap.allocateBytes(0)),
                row("huge length", IllegalArgumentException.class, "exceeds the maximum", t -> t.heap.allocateDoubles(Long.MAX_VALUE / 4)),
                row("overflowing length", IllegalArgumentException.class, "exceeds the maximum", t -> t.heap.allocateLongs(Long.MAX_VALUE)),
                row("misaligned block size", IllegalArgumentException.class, "power of two", t -> ManagedHeap.builder().blockSize(5000)),
                row("block size below a page", IllegalArgumentException.class, "page size", t -> ManagedHeap.builder().blockSize(512)),
                row("negative device budget", IllegalArgumentException.class, "budget", t -> ManagedHeap.builder().deviceBudget(-5)),
                row("unknown backend", IllegalArgumentException.class, "unknown hmm4j backend", t -> ManagedHeap.builder().backend("quantum").build()),
                row("bad backend setting", IllegalArgumentException.class, "devices", t -> ManagedHeap.builder().backend("emulated").setting("devices", "many").build()),
                row("index below zero", IndexOutOfBoundsException.class, null, t -> t.heap.allocateFloats(10).get(-1)),
                row("index past the end", IndexOutOfBoundsException.class, null, t -> t.heap.allocateFloats(10).set(10, 1f)),
                row("closed array read", IllegalStateException.class, null, t -> closed(t).get(0)),
                row("closed array launch", IllegalStateException.class, "closed", t -> t.heap.launch(BuiltinKernel.FILL, 1, Arg.write(closed(t)), Arg.of(1f), Arg.of(1L))),
                row("closed array prefetch", IllegalStateException.class, "closed", t -> t.heap.prefetch(closed(t), Location.device(0))),
                row("closed heap allocate", IllegalStateException.class, "heap is closed", t -> closedHeap().allocateFloats(1)),
                row("closed heap launch", IllegalStateException.class, "heap is closed", t -> closedHeap().launch(BuiltinKernel.FILL, 1)),
                row("array of another heap", IllegalArgumentException.class, "another heap", t -> t.heap.launch(BuiltinKernel.FILL, 1, Arg.write(t.otherHeap.allocateFloats(1)), Arg.of(1f), Arg.of(1L))),
                row("device index out of range", IllegalArgumentException.class, "no device 3", t -> t.heap.launchOn(3, BuiltinKernel.FILL, 1)),
                row("prefetch to a missing device", IllegalArgumentException.class, "no device 1", t -> t.heap.prefetch(t.heap.allocateFloats(4), Location.device(1))),
                row("negative location", IllegalArgumentException.class, ">= 0", t -> Location.device(-2)),
                row("zero global size", IllegalArgumentException.class, "global size", t -> t.heap.launch(BuiltinKernel.FILL, 0)),
                row("prefetch range outside the array", IndexOutOfBoundsException.class, null, t -> t.heap.prefetch(t.heap.allocateFloats(4), 8, 16, Location.HOST)),
                row("kernel reads past its array", IllegalArgumentException.class, "FILL argument 0 (out) holds 10 floats, the launch needs 100", t -> t.heap.launch(BuiltinKernel.FILL, 100, Arg.write(t.heap.allocateFloats(10)), Arg.of(1f), Arg.of(100L))),
                row("scalar where an array is expected", IllegalArgumentException.class, "FILL argument 0 (out) must be a float array", t -> t.heap.launch(BuiltinKernel.FILL, 1, Arg.of(1f), Arg.of(1f), Arg.of(1L))),
                row("user kernel of another heap", IllegalArgumentException.class, "another heap", t -> t.heap.launch(t.otherHeap.load(KernelSource.java("noop", (n, a) -> {})), 1)),
                // OpenCL and CUDA pass a Long as a 64-bit value, which an int parameter refuses; emulated must not truncate it.
                row("Java kernel reading a Long as an int", IllegalArgumentException.class, "argument 0 is a Long, not an Integer", t -> t.heap.launch(t.heap.load(KernelSource.java("narrow", (n, a) -> a.intValue(0))), 1, Arg.of(1L << 40))),
                row("OpenCL source on the emulated backend", IllegalArgumentException.class, "Java kernels only", t -> t.heap.launch(t.heap.load(KernelSource.openCl("k", "kernel void k(){}")), 1)),
                row("blank kernel name", IllegalArgumentException.class, "blank", t -> KernelSource.ptx(" ", ".version 7.0")),
                row("null array argument", NullPointerException.class, "array", t -> Arg.read(null))
        ).map(Arguments::of);
    }

    private static FloatArray closed(BadInputTest t) {
        FloatArray a = t.heap.allocateFloats(4);
        a.close();
        return a;
    }

    private static ManagedHeap closedHeap() {
        ManagedHeap h = ManagedHeap.builder().backend("emulated").build();
        h.close();
        return h;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void badInputGetsAClearException(Case c) {
        ThrowingCallable call = () -> c.action().accept(this);
        var assertion = assertThatThrownBy(call).isInstanceOf(c.expected());
        if (c.message() != null)
            assertion.hasMessageContaining(c.message());
    }
}
