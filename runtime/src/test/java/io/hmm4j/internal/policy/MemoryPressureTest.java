package io.hmm4j.internal.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hmm4j.internal.engine.Engine;
import io.hmm4j.internal.ffm.hmm4j_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The process-wide pressure watcher: registered owners are told of each event until they unregister. */
class MemoryPressureTest {

    /** Stands in for a heap: counts the events it was told of. */
    static final class Owner {
        final AtomicInteger events = new AtomicInteger();

        void onPressure() {
            events.incrementAndGet();
        }
    }

    @Test
    void registeredOwnersAreToldUntilTheyUnregister() {
        Owner owner = new Owner();
        MemoryPressure.register(owner, Owner::onPressure);
        try {
            MemoryPressure.signal();
            assertThat(owner.events).hasValue(1);
        } finally {
            MemoryPressure.unregister(owner);
        }
        MemoryPressure.signal();
        assertThat(owner.events).hasValue(1);
    }

    @Test
    void theEngineOpensTheTriggerTheWatcherAsksFor() {
        Path psi = Path.of("/proc/pressure/memory");
        assumeTrue(Files.exists(psi), "no PSI on this kernel (" + psi + " missing): the MemAvailable fallback applies");
        Engine.ensureInitialized();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment path = arena.allocateFrom(psi.toString());
            int fd = hmm4j_h.hmm4j_pressure_open(path, MemoryPressure.STALL_US, MemoryPressure.WINDOW_US);
            assertThat(fd).as("an unprivileged process may open a 2 s window").isGreaterThanOrEqualTo(0);
            assertThat(hmm4j_h.hmm4j_pressure_wait(fd, 0)).isBetween(0, 1);
            hmm4j_h.hmm4j_pressure_close(fd);
            assertThat(hmm4j_h.hmm4j_pressure_open(path, 2 * MemoryPressure.WINDOW_US, MemoryPressure.WINDOW_US))
                    .as("a stall longer than its window").isEqualTo(-22);
        }
    }
}
