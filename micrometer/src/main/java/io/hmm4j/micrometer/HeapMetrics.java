package io.hmm4j.micrometer;

import io.hmm4j.HeapStats;
import io.hmm4j.ManagedHeap;
import io.hmm4j.MigrationCause;
import io.hmm4j.spi.Device;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tag;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.concurrent.TimeUnit;
import java.util.function.ToDoubleFunction;
import java.util.function.ToLongFunction;

/**
 * Micrometer meters for one {@link ManagedHeap}. The fault handler cannot call Java, so every meter samples the
 * engine's C counters ({@link ManagedHeap#stats()}) when the registry reads it; nothing is recorded on the fault
 * path. Names are under {@code hmm4j.}, in base units, with tag values from closed sets:
 * <ul>
 *   <li>{@code hmm4j.faults} (function timer, {@code access=all}): host faults served and the time spent serving
 *       them. The engine keeps one total time, so time per access kind is not available; the counts per kind are
 *       {@code hmm4j.faults.count} ({@code access=read|write}); {@code hmm4j.faults.spurious} counts faults that
 *       found their block already valid (another thread served it first).</li>
 *   <li>{@code hmm4j.migrated} (bytes; {@code direction=to_device|to_host},
 *       {@code cause=fault|launch|prefetch|eviction}); {@code hmm4j.migrated.peer} (bytes): copied device to
 *       device (a launch or prefetch on one device of blocks only another device held).</li>
 *   <li>{@code hmm4j.migrations} (function timer): migrate calls and their time; {@code hmm4j.copy.errors}.</li>
 *   <li>{@code hmm4j.memory.used}, {@code hmm4j.memory.budget} (gauges, bytes; {@code location=device},
 *       {@code device=<id>} e.g. {@code emulated:0}, {@code cuda:0}; and {@code location=host}: host RAM the
 *       heap's arrays hold and its host budget).</li>
 *   <li>{@code hmm4j.memory.pinned} (gauge, bytes; {@code device=<id>}): host pages page-locked with the device
 *       (CUDA), at most {@code ManagedHeap.Builder.pinnedHostLimit}.</li>
 *   <li>{@code hmm4j.reclaimed} (bytes): host pages the host tier gave back.</li>
 *   <li>{@code hmm4j.arrays.live} (gauge), {@code hmm4j.evictions}, {@code hmm4j.launches}.</li>
 *   <li>{@code hmm4j.thrashing}: arrays thrash control placed zero-copy because their blocks kept moving between
 *       host and device ({@code ManagedHeap.Builder.thrashControl}); each also a JFR event
 *       {@code io.hmm4j.Thrashing} naming the array.</li>
 * </ul>
 * The meters hold the heap weakly (Micrometer's default); once it is closed, counters keep their last values and
 * gauges read NaN. Two heaps bound to one
 * registry need distinguishing tags, e.g. {@code new HeapMetrics(heap, Tags.of("heap", "training"))}.
 *
 * <pre>{@code
 * MeterRegistry registry = ...;
 * new HeapMetrics(heap).bindTo(registry);
 * }</pre>
 */
public final class HeapMetrics implements MeterBinder {

    private final ManagedHeap heap;
    private final Tags tags;
    /** The last counters read while the heap was open: a closed heap's counters keep their final values. */
    private final LastStats last = new LastStats();

    /** Holds no reference to the heap, so the meters' functions keep the heap only weakly reachable. */
    private static final class LastStats {
        volatile HeapStats value;

        HeapStats read(ManagedHeap heap) {
            if (heap.isOpen()) {
                try {
                    HeapStats now = heap.stats();
                    value = now;
                    return now;
                } catch (IllegalStateException closedMeanwhile) {
                    // fall through to the last values
                }
            }
            return value;
        }
    }

    public HeapMetrics(ManagedHeap heap) {
        this(heap, Tags.empty());
    }

    /** @param tags added to every meter */
    public HeapMetrics(ManagedHeap heap, Iterable<Tag> tags) {
        this.heap = Objects.requireNonNull(heap, "heap");
        this.tags = Tags.of(Objects.requireNonNull(tags, "tags"));
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        Objects.requireNonNull(registry, "registry");

        FunctionTimer.builder("hmm4j.faults", heap, count(HeapStats::faults), stat(HeapStats::faultNanos),
                        TimeUnit.NANOSECONDS)
                .description("Host accesses to device-resident data that faulted, and the time spent serving them")
                .tags(tags).tag("access", "all")
                .register(registry);
        counter(registry, "hmm4j.faults.count", "Host faults by access kind", null,
                stat(HeapStats::readFaults), Tags.of("access", "read"));
        counter(registry, "hmm4j.faults.count", "Host faults by access kind", null,
                stat(HeapStats::writeFaults), Tags.of("access", "write"));
        counter(registry, "hmm4j.faults.spurious", "Faults that found their block already valid", null,
                stat(HeapStats::spuriousFaults), Tags.empty());

        for (MigrationCause cause : MigrationCause.values()) {
            String causeTag = cause.name().toLowerCase(Locale.ROOT);
            counter(registry, "hmm4j.migrated", "Bytes copied between host and device", BaseUnits.BYTES,
                    stat(s -> s.bytesToDevice(cause)), Tags.of("direction", "to_device", "cause", causeTag));
            counter(registry, "hmm4j.migrated", "Bytes copied between host and device", BaseUnits.BYTES,
                    stat(s -> s.bytesToHost(cause)), Tags.of("direction", "to_host", "cause", causeTag));
        }
        counter(registry, "hmm4j.migrated.peer", "Bytes copied device to device", BaseUnits.BYTES,
                stat(HeapStats::bytesPeer), Tags.empty());
        FunctionTimer.builder("hmm4j.migrations", heap, count(HeapStats::migrations), stat(HeapStats::migrateNanos),
                        TimeUnit.NANOSECONDS)
                .description("Explicit migrations (launches, prefetches, evictions) and their time")
                .tags(tags)
                .register(registry);
        counter(registry, "hmm4j.copy.errors", "Host-device copies that failed (data stayed where it was)", null,
                stat(HeapStats::copyErrors), Tags.empty());
        counter(registry, "hmm4j.evictions", "Arrays evicted from a full device", null,
                stat(HeapStats::evictions), Tags.empty());
        counter(registry, "hmm4j.launches", "Kernel launches", null, stat(HeapStats::launches), Tags.empty());
        // Counted in Java and kept after close: read directly, not through the engine's counters.
        counter(registry, "hmm4j.thrashing", "Arrays thrash control placed zero-copy (their blocks kept moving"
                + " between host and device)", null, ManagedHeap::thrashSwitches, Tags.empty());
        counter(registry, "hmm4j.reclaimed", "Host pages of device-valid blocks given back by the host tier",
                BaseUnits.BYTES, stat(HeapStats::reclaimedBytes), Tags.empty());
        Tags hostTags = Tags.of("location", "host");
        gauge(registry, "hmm4j.memory.used", "Host memory held by the heap's arrays", BaseUnits.BYTES,
                ManagedHeap::hostBytesUsed, hostTags);
        gauge(registry, "hmm4j.memory.budget", "Host memory the heap keeps before it reclaims", BaseUnits.BYTES,
                ManagedHeap::hostBudget, hostTags);

        List<Device> devices = heap.devices();
        for (int i = 0; i < devices.size(); i++) {
            int index = i;
            Tags deviceTags = Tags.of("location", "device", "device", devices.get(i).id());
            gauge(registry, "hmm4j.memory.used", "Device memory in use by the heap's arrays", BaseUnits.BYTES,
                    h -> h.deviceBytesUsed(index), deviceTags);
            gauge(registry, "hmm4j.memory.budget", "Device memory the heap may use", BaseUnits.BYTES,
                    h -> h.deviceBudget(index), deviceTags);
            gauge(registry, "hmm4j.memory.pinned", "Host memory page-locked with the device for direct DMA",
                    BaseUnits.BYTES, h -> h.pinnedHostBytes(index), Tags.of("device", devices.get(i).id()));
        }
        gauge(registry, "hmm4j.arrays.live", "Managed arrays not yet closed", null, ManagedHeap::liveArrays,
                Tags.empty());
    }

    private void counter(MeterRegistry registry, String name, String description, String baseUnit,
                         ToDoubleFunction<ManagedHeap> value, Tags extra) {
        FunctionCounter.builder(name, heap, value)
                .description(description)
                .baseUnit(baseUnit)
                .tags(tags).tags(extra)
                .register(registry);
    }

    private void gauge(MeterRegistry registry, String name, String description, String baseUnit,
                       ToLongFunction<ManagedHeap> value, Tags extra) {
        Gauge.builder(name, heap, h -> {
                    if (!h.isOpen())
                        return Double.NaN;
                    try {
                        return value.applyAsLong(h);
                    } catch (IllegalStateException closedMeanwhile) {
                        return Double.NaN;
                    }
                })
                .description(description)
                .baseUnit(baseUnit)
                .tags(tags).tags(extra)
                .register(registry);
    }

    /** A counter of the heap; after the heap is closed, its last value (0 if it was never read while open). */
    private ToLongFunction<ManagedHeap> count(ToLongFunction<HeapStats> counter) {
        LastStats holder = last;
        return h -> {
            HeapStats s = holder.read(h);
            return s == null ? 0 : counter.applyAsLong(s);
        };
    }

    private ToDoubleFunction<ManagedHeap> stat(ToLongFunction<HeapStats> counter) {
        ToLongFunction<ManagedHeap> f = count(counter);
        return f::applyAsLong;
    }

    @Override
    public String toString() {
        return "HeapMetrics[" + heap.backendName() + (tags.stream().findAny().isPresent() ? ", " + tags : "") + "]";
    }
}
