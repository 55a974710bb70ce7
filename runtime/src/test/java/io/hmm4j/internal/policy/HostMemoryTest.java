package io.hmm4j.internal.policy;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The default host budget: cgroup v2 limits first, MemTotal otherwise. */
class HostMemoryTest {

    private static Path cgroup(Path root, String high, String max) throws IOException {
        Path dir = Files.createDirectories(root.resolve("sys/user.slice/job"));
        if (high != null)
            Files.writeString(dir.resolve("memory.high"), high + "\n");
        if (max != null)
            Files.writeString(dir.resolve("memory.max"), max + "\n");
        Path self = root.resolve("cgroup");
        Files.writeString(self, "0::/user.slice/job\n");
        return self;
    }

    @Test
    void theSmallerOfMemoryHighAndMemoryMaxIsTheBudget(@TempDir Path root) throws IOException {
        Path self = cgroup(root, "3000000000", "4000000000");
        assertThat(HostMemory.cgroupLimit(self, root.resolve("sys")).getAsLong()).isEqualTo(3_000_000_000L);
    }

    @Test
    void maxMeansNoLimit(@TempDir Path root) throws IOException {
        Path self = cgroup(root, "max", "2000000000");
        assertThat(HostMemory.cgroupLimit(self, root.resolve("sys")).getAsLong()).isEqualTo(2_000_000_000L);
        Path unlimited = cgroup(root, "max", "max");
        assertThat(HostMemory.cgroupLimit(unlimited, root.resolve("sys"))).isEmpty();
    }

    @Test
    void withoutCgroupV2TheMemTotalFallbackApplies(@TempDir Path root) throws IOException {
        Path self = Files.writeString(root.resolve("cgroup"), "12:memory:/legacy\n");
        assertThat(HostMemory.cgroupLimit(self, root)).isEmpty();
        Path meminfo = Files.writeString(root.resolve("meminfo"), "MemTotal:       24000000 kB\nMemFree: 1 kB\n");
        assertThat(HostMemory.memTotal(meminfo).getAsLong()).isEqualTo(24_000_000L * 1024);
    }

    @Test
    void cgroupV1LimitInBytesCountsAndItsHugeDefaultDoesNot(@TempDir Path root) throws IOException {
        Path dir = Files.createDirectories(root.resolve("sys/memory/job"));
        Files.writeString(dir.resolve("memory.limit_in_bytes"), "1073741824\n");
        Path self = Files.writeString(root.resolve("cgroup"), "4:memory:/job\n0::/\n");
        assertThat(HostMemory.cgroupLimit(self, root.resolve("sys")).getAsLong()).isEqualTo(1L << 30);
        Files.writeString(dir.resolve("memory.limit_in_bytes"), "9223372036854771712\n");
        assertThat(HostMemory.cgroupLimit(self, root.resolve("sys"))).isEmpty();
    }
}
