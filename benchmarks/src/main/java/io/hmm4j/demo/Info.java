package io.hmm4j.demo;

import io.hmm4j.ManagedHeap;
import io.hmm4j.RuntimeInfo;
import io.hmm4j.spi.BackendProvider;
import io.hmm4j.spi.Device;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * {@code ./hmm4j info}: what hmm4j finds on this machine, as {@code clinfo} or {@code nvidia-smi} would say it. Every
 * backend on the class path in the order of the automatic choice, with its devices (name, kind, memory, placement)
 * or the reason it was skipped; the fault engine's library and settings; the host memory. Devices are listed by
 * opening each available backend the way a heap would, with the same {@code hmm4j.<backend>.*} settings.
 */
public final class Info {

    private final PrintStream out;

    Info(PrintStream out) {
        this.out = out;
    }

    public static void main(String[] args) {
        new Info(System.out).print();
    }

    void print() {
        out.println("hmm4j info");
        String requested = RuntimeInfo.requestedBackend();
        List<BackendProvider> providers = RuntimeInfo.backendProviders();
        out.printf(Locale.ROOT, "requested backend: %s (-Dhmm4j.backend or HMM4J_BACKEND; auto takes the first available"
                + " of %s)%n", requested, providers.stream().map(BackendProvider::name).collect(Collectors.joining(", ")));
        out.println();
        backends(requested, providers);
        out.println();
        engine();
        out.println();
        hostMemory();
    }

    private void backends(String requested, List<BackendProvider> providers) {
        out.println("backends");
        if (providers.isEmpty())
            out.println("  none on the class path (add hmm4j-backend-emulated, -opencl or -cuda)");
        boolean chosen = false;
        for (BackendProvider provider : providers) {
            if (!provider.isAvailable()) {
                out.printf(Locale.ROOT, "  %-10s skipped: %s%n", provider.name(), provider.unavailabilityCause());
                continue;
            }
            String mark = "";
            if (requested.equals(provider.name())) {
                mark = " (requested)";
            } else if (requested.equals("auto") && !chosen) {
                mark = " (automatic choice)";
                chosen = true;
            }
            out.printf(Locale.ROOT, "  %-10s available%s%n", provider.name(), mark);
            devices(provider);
        }
    }

    /** Opens the backend as a heap would and lists its devices; a failure to open is reported, not hidden. */
    private void devices(BackendProvider provider) {
        try (ManagedHeap heap = ManagedHeap.builder().backend(provider.name()).build()) {
            List<Device> devices = heap.devices();
            for (Device device : devices) {
                out.printf(Locale.ROOT, "    %-10s %s%n", device.id(), device.name());
                out.printf(Locale.ROOT, "    %-10s kind %s, memory %s, placement %s%n", "", device.kind(),
                        Demo.human(device.capacityBytes()), device.coherent()
                                ? "coherent (zero-copy: kernels use the arrays' own pages, nothing migrates)"
                                : "migrating (device budget " + Demo.human(heap.deviceBudget(device.index())) + ")");
                if (device.coherent() && provider.name().equals("opencl"))
                    out.printf(Locale.ROOT, "    %-10s -Dhmm4j.opencl.placement=migrate gives it buffers of its own%n", "");
            }
        } catch (RuntimeException e) {
            out.printf(Locale.ROOT, "    could not open: %s%n", e.getMessage());
        }
    }

    private void engine() {
        out.println("engine");
        if (!RuntimeInfo.engineAvailable()) {
            out.printf(Locale.ROOT, "  not available: %s%n", RuntimeInfo.engineUnavailabilityCause());
            return;
        }
        setting("library", RuntimeInfo.engineLibrary().toString());
        setting("ABI", Integer.toString(RuntimeInfo.engineAbiVersion()));
        setting("page size", RuntimeInfo.pageSize() + " B");
        setting("block size", Demo.human(ManagedHeap.DEFAULT_BLOCK_SIZE)
                + " (default; ManagedHeap.builder().blockSize(bytes), a power of two >= the page size)");
        setting("prefetch", "up to " + ManagedHeap.DEFAULT_PREFETCH_BLOCKS
                + " blocks ahead of sequential host faults (default; prefetchBlocks(n), 0 turns it off)");
        setting("pool chunk", Demo.human(ManagedHeap.DEFAULT_POOL_CHUNK)
                + " per device allocation the pool sub-allocates from (default; poolChunkBytes(bytes))");
    }

    private void hostMemory() {
        out.println("host memory");
        setting("RAM", ram());
        setting("release", "no (default): a block that lives only on a device keeps its host RAM (reclaimable);"
                + " releaseHostMemory(true) gives it back at once");
        setting("budget", Demo.human(ManagedHeap.defaultHostBudget()) + " per heap before kept pages are reclaimed"
                + " (default: cgroup limit, else half of MemTotal; hostBudget(bytes))");
    }

    private void setting(String name, String value) {
        out.printf(Locale.ROOT, "  %-12s %s%n", name, value);
    }

    /** Total and available RAM as the kernel reports them in /proc/meminfo (the engine is Linux-only). */
    private static String ram() {
        Path meminfo = Path.of("/proc/meminfo");
        try {
            long total = -1;
            long available = -1;
            for (String line : Files.readAllLines(meminfo)) {
                if (line.startsWith("MemTotal:"))
                    total = kibibytes(line);
                else if (line.startsWith("MemAvailable:"))
                    available = kibibytes(line);
            }
            if (total < 0)
                return "unknown (no MemTotal in " + meminfo + ")";
            return Demo.human(total) + " total" + (available < 0 ? "" : ", " + Demo.human(available) + " available")
                    + " (" + meminfo + ")";
        } catch (IOException e) {
            return "unknown (" + meminfo + ": " + e.getMessage() + ")";
        }
    }

    /** A /proc/meminfo line's value, e.g. {@code MemTotal:  16314500 kB}, in bytes. */
    private static long kibibytes(String line) {
        String[] fields = line.trim().split("\\s+");
        return Long.parseLong(fields[1]) * 1024;
    }
}
