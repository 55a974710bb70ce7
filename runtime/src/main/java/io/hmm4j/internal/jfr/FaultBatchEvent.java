package io.hmm4j.internal.jfr;

import io.hmm4j.internal.engine.Engine;
import io.hmm4j.internal.ffm.hmm4j_h;
import io.hmm4j.internal.ffm.hmm4j_stats;
import java.lang.foreign.MemorySegment;
import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.FlightRecorder;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.Period;
import jdk.jfr.StackTrace;
import jdk.jfr.Timespan;

/**
 * Host faults served since the previous event, process-wide. The fault handler cannot call Java, so faults are
 * counted in C and this periodic event samples the counters.
 */
@Name("io.hmm4j.FaultBatch")
@Label("hmm4j Fault Batch")
@Category({"hmm4j"})
@Description("Host faults on managed memory served since the previous sample")
@Period("1 s")
@StackTrace(false)
public final class FaultBatchEvent extends Event {

    @Label("Read Faults")
    public long readFaults;

    @Label("Write Faults")
    public long writeFaults;

    @Label("Bytes To Host")
    @DataAmount
    public long bytesToHost;

    @Label("Prefetched Blocks")
    public long prefetchedBlocks;

    @Label("Time In Faults")
    @Timespan
    public long faultNanos;

    private static long lastRead;
    private static long lastWrite;
    private static long lastBytes;
    private static long lastPrefetched;
    private static long lastNanos;
    private static boolean registered;

    /** Registers the periodic sampler once; cheap when no recording is running. */
    public static synchronized void register() {
        if (registered)
            return;
        registered = true;
        FlightRecorder.addPeriodicEvent(FaultBatchEvent.class, FaultBatchEvent::sample);
    }

    private static synchronized void sample() {
        MemorySegment stats = Engine.globalStats();
        long read = hmm4j_stats.read_faults(stats);
        long write = hmm4j_stats.write_faults(stats);
        long bytes = hmm4j_stats.bytes_to_host(stats, hmm4j_h.HMM4J_CAUSE_FAULT)
                + hmm4j_stats.bytes_to_host(stats, hmm4j_h.HMM4J_CAUSE_PREFETCH);
        long prefetched = hmm4j_stats.prefetched_blocks(stats);
        long nanos = hmm4j_stats.fault_ns(stats);
        FaultBatchEvent event = new FaultBatchEvent();
        event.readFaults = read - lastRead;
        event.writeFaults = write - lastWrite;
        event.bytesToHost = bytes - lastBytes;
        event.prefetchedBlocks = prefetched - lastPrefetched;
        event.faultNanos = nanos - lastNanos;
        lastRead = read;
        lastWrite = write;
        lastBytes = bytes;
        lastPrefetched = prefetched;
        lastNanos = nanos;
        if (event.readFaults + event.writeFaults > 0)
            event.commit();
    }
}
