package io.hmm4j.backend.emulated;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The engine's SIGSEGV handler shares the signal with the JVM: implicit null checks, stack banging and
 * safepoint polls must keep working while other threads fault on hmm4j memory as fast as they can.
 */
class SignalCoexistenceTest {

    private static final long BLOCK = 4096;
    private static final int N = (int) (64 * BLOCK / 4);

    private static int depth;

    private static void recurse() {
        depth++;
        recurse();
    }

    @SuppressWarnings("null")
    private static int nullLength(String s) {
        return s.length();
    }

    @Test
    void npeStackOverflowAndGcDuringAFaultStorm() throws Exception {
        try (ManagedHeap heap = ManagedHeap.builder().backend("emulated").blockSize(BLOCK).prefetchBlocks(0).build()) {
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicLong faultRounds = new AtomicLong();
            List<Thread> storm = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                FloatArray a = heap.allocateFloats(N);
                Thread thread = Thread.ofPlatform().name("fault-storm-" + t).start(() -> {
                    try {
                        float round = 0;
                        while (!stop.get()) {
                            round++;
                            heap.launch(BuiltinKernel.FILL, N, Arg.write(a), Arg.of(round), Arg.of((long) N)).await();
                            for (int i = 0; i < N; i += (int) (BLOCK / 4))
                                if (a.get(i) != round)
                                    throw new AssertionError("read " + a.get(i) + " in round " + round);
                            faultRounds.incrementAndGet();
                        }
                    } catch (Throwable e) {
                        failure.set(e);
                    }
                });
                storm.add(thread);
            }
            long npes = 0;
            long overflows = 0;
            long deadline = System.nanoTime() + 3_000_000_000L;
            while (System.nanoTime() < deadline) {
                try {
                    nullLength(null);
                } catch (NullPointerException expected) {
                    npes++;
                }
                if (npes % 1000 == 0) {
                    try {
                        depth = 0;
                        recurse();
                    } catch (StackOverflowError expected) {
                        overflows++;
                    }
                    System.gc();
                }
            }
            stop.set(true);
            for (Thread thread : storm)
                thread.join(30_000);
            assertThat(failure.get()).isNull();
            assertThat(npes).isGreaterThan(1000);
            assertThat(overflows).isPositive();
            assertThat(faultRounds.get()).isPositive();
            assertThat(heap.stats().readFaults()).isGreaterThan(64);
        }
    }
}
