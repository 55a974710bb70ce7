// In the shape jextract produces for struct hmm4j_stats (native-headers/hmm4j.h).
package io.hmm4j.internal.ffm;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SequenceLayout;
import java.lang.foreign.ValueLayout;

/**
 * {@snippet lang=c :
 * struct hmm4j_stats {
 *     uint64_t read_faults, write_faults, spurious_faults, fault_ns;
 *     uint64_t blocks_to_device, blocks_to_host;
 *     uint64_t bytes_to_device[HMM4J_CAUSE_COUNT];
 *     uint64_t bytes_to_host[HMM4J_CAUSE_COUNT];
 *     uint64_t prefetched_blocks, copy_errors, migrate_ns, migrations, batched_faults;
 *     uint64_t host_reclaimed_bytes, host_reserve_failures;
 *     uint64_t blocks_peer, bytes_peer;
 * }
 * }
 */
public final class hmm4j_stats {

    private hmm4j_stats() {}

    private static final SequenceLayout BY_CAUSE = MemoryLayout.sequenceLayout(hmm4j_h.HMM4J_CAUSE_COUNT, hmm4j_h.C_LONG);

    public static final GroupLayout $LAYOUT = MemoryLayout.structLayout(
            hmm4j_h.C_LONG.withName("read_faults"),
            hmm4j_h.C_LONG.withName("write_faults"),
            hmm4j_h.C_LONG.withName("spurious_faults"),
            hmm4j_h.C_LONG.withName("fault_ns"),
            hmm4j_h.C_LONG.withName("blocks_to_device"),
            hmm4j_h.C_LONG.withName("blocks_to_host"),
            BY_CAUSE.withName("bytes_to_device"),
            BY_CAUSE.withName("bytes_to_host"),
            hmm4j_h.C_LONG.withName("prefetched_blocks"),
            hmm4j_h.C_LONG.withName("copy_errors"),
            hmm4j_h.C_LONG.withName("migrate_ns"),
            hmm4j_h.C_LONG.withName("migrations"),
            hmm4j_h.C_LONG.withName("batched_faults"),
            hmm4j_h.C_LONG.withName("host_reclaimed_bytes"),
            hmm4j_h.C_LONG.withName("host_reserve_failures"),
            hmm4j_h.C_LONG.withName("blocks_peer"),
            hmm4j_h.C_LONG.withName("bytes_peer"))
        .withName("hmm4j_stats");

    public static GroupLayout layout() {
        return $LAYOUT;
    }

    /** Field names in declaration order, as hmm4j_layout_describe reports their offsets. */
    public static final String[] FIELDS = {
        "read_faults", "write_faults", "spurious_faults", "fault_ns", "blocks_to_device", "blocks_to_host",
        "bytes_to_device", "bytes_to_host", "prefetched_blocks", "copy_errors", "migrate_ns", "migrations",
        "batched_faults", "host_reclaimed_bytes", "host_reserve_failures",
        "blocks_peer", "bytes_peer"
    };

    public static long offsetOf(String field) {
        return $LAYOUT.byteOffset(groupElement(field));
    }

    private static final long read_faults$OFFSET = offsetOf("read_faults");
    private static final long write_faults$OFFSET = offsetOf("write_faults");
    private static final long spurious_faults$OFFSET = offsetOf("spurious_faults");
    private static final long fault_ns$OFFSET = offsetOf("fault_ns");
    private static final long blocks_to_device$OFFSET = offsetOf("blocks_to_device");
    private static final long blocks_to_host$OFFSET = offsetOf("blocks_to_host");
    private static final long bytes_to_device$OFFSET = offsetOf("bytes_to_device");
    private static final long bytes_to_host$OFFSET = offsetOf("bytes_to_host");
    private static final long prefetched_blocks$OFFSET = offsetOf("prefetched_blocks");
    private static final long copy_errors$OFFSET = offsetOf("copy_errors");
    private static final long migrate_ns$OFFSET = offsetOf("migrate_ns");
    private static final long migrations$OFFSET = offsetOf("migrations");
    private static final long batched_faults$OFFSET = offsetOf("batched_faults");
    private static final long host_reclaimed_bytes$OFFSET = offsetOf("host_reclaimed_bytes");
    private static final long host_reserve_failures$OFFSET = offsetOf("host_reserve_failures");
    private static final long blocks_peer$OFFSET = offsetOf("blocks_peer");
    private static final long bytes_peer$OFFSET = offsetOf("bytes_peer");

    // The engine adds with atomics; volatile loads see the latest values from any thread.
    private static long load(MemorySegment struct, long offset) {
        return (long) ValueLayout.JAVA_LONG.varHandle().getVolatile(struct, offset);
    }

    public static long read_faults(MemorySegment struct) { return load(struct, read_faults$OFFSET); }
    public static long write_faults(MemorySegment struct) { return load(struct, write_faults$OFFSET); }
    public static long spurious_faults(MemorySegment struct) { return load(struct, spurious_faults$OFFSET); }
    public static long fault_ns(MemorySegment struct) { return load(struct, fault_ns$OFFSET); }
    public static long blocks_to_device(MemorySegment struct) { return load(struct, blocks_to_device$OFFSET); }
    public static long blocks_to_host(MemorySegment struct) { return load(struct, blocks_to_host$OFFSET); }
    public static long bytes_to_device(MemorySegment struct, int cause) {
        return load(struct, bytes_to_device$OFFSET + (long) cause * Long.BYTES);
    }
    public static long bytes_to_host(MemorySegment struct, int cause) {
        return load(struct, bytes_to_host$OFFSET + (long) cause * Long.BYTES);
    }
    public static long prefetched_blocks(MemorySegment struct) { return load(struct, prefetched_blocks$OFFSET); }
    public static long copy_errors(MemorySegment struct) { return load(struct, copy_errors$OFFSET); }
    public static long migrate_ns(MemorySegment struct) { return load(struct, migrate_ns$OFFSET); }
    public static long migrations(MemorySegment struct) { return load(struct, migrations$OFFSET); }
    public static long batched_faults(MemorySegment struct) { return load(struct, batched_faults$OFFSET); }
    public static long host_reclaimed_bytes(MemorySegment struct) { return load(struct, host_reclaimed_bytes$OFFSET); }
    public static long host_reserve_failures(MemorySegment struct) { return load(struct, host_reserve_failures$OFFSET); }
    public static long blocks_peer(MemorySegment struct) { return load(struct, blocks_peer$OFFSET); }
    public static long bytes_peer(MemorySegment struct) { return load(struct, bytes_peer$OFFSET); }
}
