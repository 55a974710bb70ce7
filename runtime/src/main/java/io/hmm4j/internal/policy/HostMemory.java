package io.hmm4j.internal.policy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;

/**
 * What the machine lets a heap keep in host memory: the cgroup's limit where one is set (cgroup v2: the smaller of
 * {@code memory.high} and {@code memory.max}; v1: {@code memory.limit_in_bytes}), else {@value #MEM_TOTAL_PERCENT} %
 * of {@code MemTotal}.
 */
public final class HostMemory {

    /** Share of the machine's RAM a heap keeps by default when no cgroup limit applies. */
    public static final int MEM_TOTAL_PERCENT = 50;

    private HostMemory() {}

    /** The default host budget of a heap, from {@code /proc} and {@code /sys/fs/cgroup}. */
    public static long defaultBudget() {
        OptionalLong cgroup = cgroupLimit(Path.of("/proc/self/cgroup"), Path.of("/sys/fs/cgroup"));
        if (cgroup.isPresent())
            return cgroup.getAsLong();
        OptionalLong total = memTotal(Path.of("/proc/meminfo"));
        // Without /proc (not Linux) nothing is known: the budget never triggers a reclaim.
        return total.isPresent() ? total.getAsLong() / 100 * MEM_TOTAL_PERCENT : Long.MAX_VALUE;
    }

    /** v1 reports "no limit" as the largest page-aligned long; anything this large is no limit. */
    private static final long V1_UNLIMITED = 1L << 62;

    /**
     * The smaller of memory.high and memory.max of this process's cgroup (v2), where either is a number; else the
     * v1 memory controller's limit_in_bytes (at the process's path, or at the controller's root where a container
     * sees its own cgroup as the root).
     */
    static OptionalLong cgroupLimit(Path procSelfCgroup, Path cgroupRoot) {
        try {
            for (String line : Files.readAllLines(procSelfCgroup)) {
                String[] fields = line.split(":", 3);
                if (fields.length == 3 && fields[1].equals("memory")) {
                    for (Path dir : List.of(cgroupRoot.resolve("memory").resolve(fields[2].replaceFirst("^/", "")),
                            cgroupRoot.resolve("memory"))) {
                        Path path = dir.resolve("memory.limit_in_bytes");
                        if (Files.isReadable(path)) {
                            long limit = Long.parseLong(Files.readString(path).strip());
                            return limit >= V1_UNLIMITED ? OptionalLong.empty() : OptionalLong.of(limit);
                        }
                    }
                }
                if (!line.startsWith("0::"))
                    continue;
                Path dir = cgroupRoot.resolve(line.substring(3).replaceFirst("^/", ""));
                long limit = Long.MAX_VALUE;
                for (String file : List.of("memory.high", "memory.max")) {
                    Path path = dir.resolve(file);
                    if (!Files.isReadable(path))
                        continue;
                    String value = Files.readString(path).strip();
                    if (!value.equals("max") && !value.isEmpty())
                        limit = Math.min(limit, Long.parseLong(value));
                }
                return limit == Long.MAX_VALUE ? OptionalLong.empty() : OptionalLong.of(limit);
            }
        } catch (IOException | NumberFormatException | SecurityException unreadable) {
            // No cgroup v2 or not readable: the MemTotal fallback applies.
        }
        return OptionalLong.empty();
    }

    static OptionalLong memTotal(Path procMeminfo) {
        return meminfoField(procMeminfo, "MemTotal:");
    }

    static OptionalLong memAvailable(Path procMeminfo) {
        return meminfoField(procMeminfo, "MemAvailable:");
    }

    private static OptionalLong meminfoField(Path procMeminfo, String field) {
        try {
            for (String line : Files.readAllLines(procMeminfo))
                if (line.startsWith(field))
                    return OptionalLong.of(Long.parseLong(line.replaceAll("\\D", "")) * 1024);
        } catch (IOException | NumberFormatException | SecurityException unreadable) {
            // Falls back to no budget.
        }
        return OptionalLong.empty();
    }
}
