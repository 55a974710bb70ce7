package io.hmm4j.micrometer;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.Arg;
import io.hmm4j.BuiltinKernel;
import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.FunctionTimer;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** HeapMetrics on the emulated backend with a SimpleMeterRegistry: every meter moves when its event happens. */
class HeapMetricsTest {

    private static final long BLOCK = ManagedHeap.DEFAULT_BLOCK_SIZE;

    private ManagedHeap heap;
    private SimpleMeterRegistry registry;

    @BeforeEach
    void setUp() {
        heap = ManagedHeap.builder().backend("emulated").prefetchBlocks(0).deviceBudget(8 * BLOCK).build();
        registry = new SimpleMeterRegistry();
        new HeapMetrics(heap, Tags.of("heap", "test")).bindTo(registry);
    }

    @AfterEach
    void tearDown() {
        heap.close();
        registry.close();
    }

    private double counter(String name, String... tags) {
        return registry.get(name).tags(tags).functionCounter().count();
    }

    private FunctionTimer faults() {
        return registry.get("hmm4j.faults").tag("access", "all").functionTimer();
    }

    private double gauge(String name, String... tags) {
        return registry.get(name).tags(tags).gauge().value();
    }

    /** Four blocks written by a kernel: all DEVICE afterwards. */
    private FloatArray onDevice() {
        FloatArray array = heap.allocateFloats(4 * BLOCK / Float.BYTES);
        heap.launch(BuiltinKernel.FILL, array.length(), Arg.write(array), Arg.of(3.0f), Arg.of(array.length())).await();
        return array;
    }

    @Test
    void aReadFaultMovesTheFaultMetersAndTheBytesHome() {
        FloatArray array = onDevice();
        assertThat(faults().count()).isZero();
        assertThat(counter("hmm4j.launches", "heap", "test")).isEqualTo(1);

        assertThat(array.get(0)).isEqualTo(3.0f);

        assertThat(faults().count()).isEqualTo(1);
        assertThat(faults().totalTime(TimeUnit.NANOSECONDS)).isPositive();
        assertThat(counter("hmm4j.faults.count", "access", "read")).isEqualTo(1);
        assertThat(counter("hmm4j.faults.count", "access", "write")).isZero();
        assertThat(counter("hmm4j.migrated", "direction", "to_host", "cause", "fault")).isEqualTo(BLOCK);
        assertThat(counter("hmm4j.migrated", "direction", "to_device", "cause", "fault")).isZero();
    }

    @Test
    void aWriteFaultCountsAsWrite() {
        FloatArray array = onDevice();
        array.set(BLOCK / Float.BYTES, 1.0f); // block 1

        assertThat(counter("hmm4j.faults.count", "access", "write")).isEqualTo(1);
        assertThat(counter("hmm4j.faults.count", "access", "read")).isZero();
        assertThat(faults().count()).isEqualTo(1);
    }

    @Test
    void launchesPrefetchesAndMemoryGaugesMove() {
        FloatArray array = heap.allocateFloats(4 * BLOCK / Float.BYTES);
        assertThat(gauge("hmm4j.arrays.live")).isEqualTo(1);
        assertThat(gauge("hmm4j.memory.used", "location", "device", "device", "emulated:0")).isZero();
        assertThat(gauge("hmm4j.memory.budget", "device", "emulated:0")).isEqualTo(8 * BLOCK);
        assertThat(gauge("hmm4j.memory.pinned", "device", "emulated:0")).isZero();

        array.segment().fill((byte) 1);
        heap.launch(BuiltinKernel.SCALE, array.length(), Arg.readWrite(array), Arg.of(2.0f), Arg.of(array.length()));
        assertThat(counter("hmm4j.migrated", "direction", "to_device", "cause", "launch")).isEqualTo(4 * BLOCK);
        assertThat(gauge("hmm4j.memory.used", "device", "emulated:0")).isEqualTo(4 * BLOCK);
        assertThat(registry.get("hmm4j.migrations").functionTimer().count()).isPositive();

        heap.prefetch(array, io.hmm4j.Location.HOST);
        assertThat(counter("hmm4j.migrated", "direction", "to_host", "cause", "prefetch")).isEqualTo(4 * BLOCK);
    }

    @Test
    void aFullDeviceCountsEvictions() {
        FloatArray first = onDevice();
        FloatArray second = heap.allocateFloats(6 * BLOCK / Float.BYTES); // 4 + 6 blocks > budget of 8
        heap.launch(BuiltinKernel.FILL, second.length(), Arg.write(second), Arg.of(1.0f), Arg.of(second.length()));

        assertThat(counter("hmm4j.evictions")).isEqualTo(1);
        assertThat(counter("hmm4j.migrated", "direction", "to_host", "cause", "eviction")).isEqualTo(4 * BLOCK);
        assertThat(first.get(0)).isEqualTo(3.0f);
    }

    @Test
    void theHostTierShowsItsUseBudgetAndReclaimedBytes() {
        SimpleMeterRegistry meters = new SimpleMeterRegistry();
        try (ManagedHeap small = ManagedHeap.builder().backend("emulated").hostBudget(4 * BLOCK).build()) {
            new HeapMetrics(small).bindTo(meters);
            FloatArray first = small.allocateFloats(4 * BLOCK / Float.BYTES);
            FloatArray second = small.allocateFloats(4 * BLOCK / Float.BYTES);
            first.segment().fill((byte) 1);
            small.launch(BuiltinKernel.SCALE, first.length(), Arg.readWrite(first), Arg.of(2f), Arg.of(first.length()))
                    .await();
            second.segment().fill((byte) 1);
            // Over budget (8 blocks held): the first array's kept pages are the least recently used.
            small.launch(BuiltinKernel.SCALE, second.length(), Arg.readWrite(second), Arg.of(2f), Arg.of(second.length()))
                    .await();

            assertThat(meters.get("hmm4j.reclaimed").functionCounter().count()).isEqualTo(4 * BLOCK);
            assertThat(meters.get("hmm4j.reclaimed").functionCounter().getId().getBaseUnit()).isEqualTo("bytes");
            assertThat(meters.get("hmm4j.memory.used").tags("location", "host").gauge().value()).isEqualTo(4 * BLOCK);
            assertThat(meters.get("hmm4j.memory.budget").tags("location", "host").gauge().value()).isEqualTo(4 * BLOCK);
        } finally {
            meters.close();
        }
    }

    @Test
    void thrashControlCountsArraysItPlacedZeroCopy() {
        FloatArray x = heap.allocateFloats(BLOCK / Float.BYTES);
        FloatArray out = heap.allocateFloats(1);
        for (int i = 0; i < 8 && !heap.isZeroCopy(x); i++) {
            x.set(i, 1f);
            heap.launch(BuiltinKernel.SUM, x.length(), Arg.read(x), Arg.write(out), Arg.of(x.length())).await();
        }
        assertThat(heap.isZeroCopy(x)).isTrue();
        assertThat(counter("hmm4j.thrashing")).isEqualTo(1);
        heap.close();
        assertThat(counter("hmm4j.thrashing")).isEqualTo(1);
    }

    @Test
    void everyMeterIsUnderHmm4jAndCarriesTheBinderTags() {
        assertThat(registry.getMeters()).isNotEmpty().allSatisfy(meter -> {
            assertThat(meter.getId().getName()).startsWith("hmm4j.");
            assertThat(meter.getId().getTag("heap")).isEqualTo("test");
        });
        assertThat(registry.getMeters()).extracting(m -> m.getId().getName()).contains(
                "hmm4j.faults", "hmm4j.faults.count", "hmm4j.migrated", "hmm4j.migrations", "hmm4j.memory.used",
                "hmm4j.memory.budget", "hmm4j.memory.pinned", "hmm4j.arrays.live", "hmm4j.evictions", "hmm4j.launches",
                "hmm4j.reclaimed", "hmm4j.thrashing");
        assertThat(registry.get("hmm4j.migrated").functionCounters()).hasSize(8);
        assertThat(registry.get("hmm4j.migrated").functionCounter().getId().getBaseUnit()).isEqualTo("bytes");
    }

    @Test
    void aClosedHeapKeepsItsLastCountsAndDoesNotThrow() {
        FloatArray array = onDevice();
        array.get(0);
        double seen = faults().count();
        heap.close();

        assertThat(faults().count()).isEqualTo(seen);
        assertThat(counter("hmm4j.faults.count", "access", "read")).isEqualTo(1);
        assertThat(gauge("hmm4j.memory.used", "device", "emulated:0")).isNaN();
        for (Meter meter : registry.getMeters())
            meter.measure().forEach(measurement -> measurement.getValue());
        assertThat(registry.get("hmm4j.launches").functionCounter()).isInstanceOf(FunctionCounter.class);
    }
}
