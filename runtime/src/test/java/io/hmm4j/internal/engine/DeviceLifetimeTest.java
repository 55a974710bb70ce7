package io.hmm4j.internal.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.ffm.hmm4j_stats;
import io.hmm4j.spi.NativeCopyEngine;
import io.hmm4j.conformance.ChildJvm;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A native device (copy table) closed while a region is still bound to it stays allocated until the region lets
 * go (invariant 8: freed only when no path can reach it), and refuses copies like a lost device. Before, the
 * region's next migration used the freed struct (glibc aborted the JVM). In a child JVM for that reason.
 */
class DeviceLifetimeTest {

    private static final long BLOCK = 4096;

    /** Runs in the child JVM. */
    public static void main(String[] args) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment stats = arena.allocate(hmm4j_stats.$LAYOUT);
            MemorySegment deviceMemory = arena.allocate(2 * BLOCK, BLOCK);
            NativeCopyEngine closing = NativeCopyEngine.emulated("closing:0", 0, 0);
            Region bound = Region.create(2 * BLOCK, BLOCK, stats);
            bound.bind(closing.handle(), deviceMemory.address());
            MemorySegment user = bound.userView().reinterpret(2 * BLOCK, arena, null);
            user.set(ValueLayout.JAVA_INT, 0, 42);
            int readWrite = hmm4j_h.HMM4J_INTENT_READ | hmm4j_h.HMM4J_INTENT_WRITE;
            System.out.println("TO_DEVICE " + bound.migrate(0, 2, hmm4j_h.HMM4J_TO_DEVICE, readWrite, 1, null));
            closing.close();
            // Many allocations of the freed size: a dangling struct would be overwritten by now.
            for (int i = 0; i < 1000; i++)
                NativeCopyEngine.emulated("filler:" + i, 0, 0).close();
            System.out.println("TO_HOST " + bound.migrate(0, 2, hmm4j_h.HMM4J_TO_HOST, hmm4j_h.HMM4J_INTENT_READ, 2, null));
            System.out.println("UNBIND " + bound.unbind(3));
            System.out.println("BOUND " + bound.isBound());
            bound.destroy();
            System.out.println("DESTROYED");
        }
    }

    @Test
    void aClosedDeviceIsFreedOnlyWhenItsLastRegionLetsGo() throws Exception {
        // ChildJvm fails the test after 60 s instead of blocking on the child's output forever.
        ChildJvm.Result child = ChildJvm.run(DeviceLifetimeTest.class, List.of(), 60);
        String out = child.output();
        assertThat(child.exitCode()).as(out).isZero();
        assertThat(out).as(out).contains("TO_DEVICE 0").contains("TO_HOST -5").contains("UNBIND -5")
                .contains("BOUND true").contains("DESTROYED");
    }
}
