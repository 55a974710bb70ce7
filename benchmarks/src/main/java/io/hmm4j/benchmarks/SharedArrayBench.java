package io.hmm4j.benchmarks;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.io.IOException;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * What the coherence protocol of arrays shared between processes costs on top of the same migrations. One operation:
 * a FILL launch writes the whole array on the device (write-only: nothing is copied in), then one float of every
 * block is read on the host, which brings every block home.
 *
 * <p>{@code local}: an array of this process alone (the baseline: the launch, the faults, the copies home).
 * {@code shared}: the launch writes through one handle of a shared array and the reads go through a second handle of
 * the same array opened in this heap (a second attachment, the way another process would). Each launch therefore
 * claims the blocks back from the reader and waits for its acknowledgement (the shootdown), and the first read asks
 * the launcher's responder thread to bring the blocks home and give them back; the same bytes are copied as in
 * {@code local}. Both attachments live in one process, so the futex round trips are this process's threads; across
 * processes they are the same futexes on the shared mapping.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class SharedArrayBench {

    private static final long BLOCK = 64 * 1024;
    private static final int BLOCK_FLOATS = (int) (BLOCK / Float.BYTES);

    @Param("emulated")
    public String backend;

    @Param("16")
    public int blocks;

    private ManagedHeap heap;
    private FloatArray local;
    private FloatArray launcher;
    private FloatArray reader;
    private String name;
    private long n;

    @Setup(Level.Trial)
    public void setUp() throws IOException {
        heap = ManagedHeap.builder().backend(backend).blockSize(BLOCK).build();
        n = (long) blocks * BLOCK_FLOATS;
        name = "bench-" + ProcessHandle.current().pid();
        local = heap.allocateFloats(n);
        launcher = heap.shareFloats(name, n);
        reader = heap.openSharedFloats(name);
    }

    @TearDown(Level.Trial)
    public void tearDown() throws IOException {
        heap.close();
        ManagedHeap.unlinkShared(name);
    }

    private float fillThenRead(FloatArray written, FloatArray read) {
        heap.launch(BuiltinKernel.FILL, n, Arg.write(written), Arg.of(1f), Arg.of(n)).await();
        float sum = 0;
        for (long i = 0; i < n; i += BLOCK_FLOATS)
            sum += read.get(i);
        if (sum != blocks)
            throw new IllegalStateException("read " + sum + " instead of " + blocks);
        return sum;
    }

    @Benchmark
    public float local() {
        return fillThenRead(local, local);
    }

    @Benchmark
    public float shared() {
        return fillThenRead(launcher, reader);
    }
}
