package io.hmm4j.spark;

import com.codahale.metrics.Gauge;
import com.codahale.metrics.MetricRegistry;
import io.hmm4j.HeapStats;
import io.hmm4j.ManagedHeap;
import io.hmm4j.MigrationCause;
import io.hmm4j.spi.Device;
import java.util.Locale;
import java.util.function.ToLongFunction;

/**
 * Dropwizard gauges over a heap's {@link ManagedHeap#stats()} and device memory, for Spark's metrics system.
 * Names follow hmm4j's Micrometer meters with the tags folded into the name (Dropwizard has no tags):
 * {@code hmm4j.faults.read}, {@code hmm4j.migrated.to_device.launch} (bytes),
 * {@code hmm4j.memory.used.device.cuda_0} (bytes), ...
 */
final class HeapGauges {

    private final ManagedHeap heap;
    /** The counters as the heap closed: reporters still sample the gauges after the executor stopped. */
    private volatile HeapStats finalStats;

    private HeapGauges(ManagedHeap heap) {
        this.heap = heap;
    }

    static HeapGauges register(MetricRegistry registry, ManagedHeap heap) {
        HeapGauges gauges = new HeapGauges(heap);
        gauges.stat(registry, "hmm4j.faults.read", HeapStats::readFaults);
        gauges.stat(registry, "hmm4j.faults.write", HeapStats::writeFaults);
        gauges.stat(registry, "hmm4j.faults.time_ns", HeapStats::faultNanos);
        for (MigrationCause cause : MigrationCause.values()) {
            String name = cause.name().toLowerCase(Locale.ROOT);
            gauges.stat(registry, "hmm4j.migrated.to_device." + name, s -> s.bytesToDevice(cause));
            gauges.stat(registry, "hmm4j.migrated.to_host." + name, s -> s.bytesToHost(cause));
        }
        gauges.stat(registry, "hmm4j.evictions", HeapStats::evictions);
        gauges.stat(registry, "hmm4j.launches", HeapStats::launches);
        gauges.stat(registry, "hmm4j.arrays.live", HeapStats::liveArrays);
        for (Device device : heap.devices()) {
            int index = device.index();
            String id = device.id().replace(':', '_');
            registry.register("hmm4j.memory.used.device." + id,
                    (Gauge<Long>) () -> heap.isOpen() ? heap.deviceBytesUsed(index) : 0L);
            long budget = heap.deviceBudget(index);
            registry.register("hmm4j.memory.budget.device." + id, (Gauge<Long>) () -> budget);
        }
        return gauges;
    }

    private void stat(MetricRegistry registry, String name, ToLongFunction<HeapStats> value) {
        registry.register(name, (Gauge<Long>) () -> value.applyAsLong(current()));
    }

    private HeapStats current() {
        HeapStats last = finalStats;
        if (last != null)
            return last;
        try {
            return heap.stats();
        } catch (IllegalStateException closedMeanwhile) {
            // close() snapshots before the heap closes, so a heap closed under us has left its final counters.
            return finalStats;
        }
    }

    /** Keeps the heap's last counters for reporters that sample after {@link ManagedHeap#close()}. */
    void freeze() {
        finalStats = heap.stats();
    }
}
