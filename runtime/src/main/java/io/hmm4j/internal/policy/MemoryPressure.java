package io.hmm4j.internal.policy;

import io.hmm4j.internal.ffm.hmm4j_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.WeakHashMap;
import java.util.function.Consumer;

/**
 * Tells the open heaps when the system runs short of memory, so their host tiers give back kept pages before the
 * kernel has to. One daemon thread per process waits on a Linux PSI trigger: 500 ms of memory stall within 2 s
 * ({@value #STALL_US} µs in {@value #WINDOW_US} µs; an unprivileged process may only ask for windows that are
 * multiples of 2 s) on this process's cgroup v2 {@code memory.pressure}, else on {@code /proc/pressure/memory}.
 * Fallback where no trigger can be opened (no PSI, or refused): every 2 s, pressure when {@code MemAvailable} is
 * below {@value #LOW_AVAILABLE_PERCENT} % of {@code MemTotal}. The thread holds no lock while it waits and calls each
 * owner's action in turn; owners are held weakly, so a heap that is never closed can still be collected.
 */
public final class MemoryPressure {

    static final long STALL_US = 500_000;
    static final long WINDOW_US = 2_000_000;
    static final int LOW_AVAILABLE_PERCENT = 10;
    private static final int POLL_MILLIS = 2_000;

    private static final Map<Object, Consumer<Object>> OWNERS = new WeakHashMap<>();
    private static Thread watcher; // guarded by OWNERS
    private static volatile String source = "not started";

    private MemoryPressure() {}

    /**
     * Calls {@code action} with {@code owner} on every pressure event until {@link #unregister}. The action must not
     * capture the owner (it is held weakly): pass an unbound method reference such as {@code Heap::reclaim}.
     */
    @SuppressWarnings("unchecked")
    public static <T> void register(T owner, Consumer<? super T> action) {
        synchronized (OWNERS) {
            OWNERS.put(owner, (Consumer<Object>) action);
            if (watcher == null) {
                watcher = Thread.ofPlatform().daemon().name("hmm4j-memory-pressure").unstarted(MemoryPressure::watch);
                watcher.start();
            }
        }
    }

    public static void unregister(Object owner) {
        synchronized (OWNERS) {
            OWNERS.remove(owner);
        }
    }

    /** Where pressure comes from: the PSI file, the MemAvailable fallback, or "not started". */
    public static String source() {
        return source;
    }

    /** Runs every registered action once, as an event does (tests call it to stand in for the kernel). */
    public static void signal() {
        List<Map.Entry<Object, Consumer<Object>>> owners;
        synchronized (OWNERS) {
            owners = new ArrayList<>(OWNERS.entrySet());
        }
        for (Map.Entry<Object, Consumer<Object>> e : owners) {
            try {
                e.getValue().accept(e.getKey());
            } catch (RuntimeException closedMeanwhile) {
                System.getLogger("io.hmm4j").log(System.Logger.Level.DEBUG, "memory pressure action failed", closedMeanwhile);
            }
        }
    }

    private static void watch() {
        int fd = openTrigger();
        if (fd < 0) {
            source = "MemAvailable < " + LOW_AVAILABLE_PERCENT + " % of MemTotal, every " + POLL_MILLIS + " ms";
            pollMemAvailable();
            return;
        }
        while (true) {
            int rc = hmm4j_h.hmm4j_pressure_wait(fd, POLL_MILLIS);
            if (rc > 0) {
                signal();
            } else if (rc < 0) {
                hmm4j_h.hmm4j_pressure_close(fd);
                source = "MemAvailable (the PSI trigger failed: " + rc + ")";
                pollMemAvailable();
                return;
            }
        }
    }

    private static int openTrigger() {
        List<Path> candidates = new ArrayList<>();
        cgroupV2Dir().ifPresent(dir -> candidates.add(dir.resolve("memory.pressure")));
        candidates.add(Path.of("/proc/pressure/memory"));
        for (Path path : candidates) {
            if (!Files.exists(path))
                continue;
            try (Arena arena = Arena.ofConfined()) {
                int fd = hmm4j_h.hmm4j_pressure_open(arena.allocateFrom(path.toString()), STALL_US, WINDOW_US);
                if (fd >= 0) {
                    source = path.toString();
                    return fd;
                }
            }
        }
        return -1;
    }

    private static java.util.Optional<Path> cgroupV2Dir() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/cgroup")))
                if (line.startsWith("0::") && !line.equals("0::/"))
                    return java.util.Optional.of(Path.of("/sys/fs/cgroup").resolve(line.substring(3).replaceFirst("^/", "")));
        } catch (java.io.IOException | SecurityException unreadable) {
            // /proc/pressure/memory is tried next.
        }
        return java.util.Optional.empty();
    }

    private static void pollMemAvailable() {
        OptionalLong total = HostMemory.memTotal(Path.of("/proc/meminfo"));
        if (total.isEmpty())
            return; // not Linux: no pressure signal at all
        while (true) {
            try {
                Thread.sleep(POLL_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
            OptionalLong available = HostMemory.memAvailable(Path.of("/proc/meminfo"));
            if (available.isPresent() && available.getAsLong() < total.getAsLong() / 100 * LOW_AVAILABLE_PERCENT)
                signal();
        }
    }
}
