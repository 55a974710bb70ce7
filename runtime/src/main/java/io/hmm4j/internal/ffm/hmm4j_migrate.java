// In the shape jextract produces for struct hmm4j_migrate (native-headers/hmm4j.h).
package io.hmm4j.internal.ffm;

import static java.lang.foreign.MemoryLayout.PathElement.groupElement;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;

/**
 * {@snippet lang=c :
 * struct hmm4j_migrate {
 *     struct hmm4j_region *region;
 *     uint64_t first_block, nblocks;
 *     int32_t direction, intent, cause, binding;
 *     uint8_t *state;
 *     uint64_t moved_blocks, moved_bytes;
 * }
 * }
 */
public final class hmm4j_migrate {

    private hmm4j_migrate() {}

    public static final GroupLayout $LAYOUT = MemoryLayout.structLayout(
            hmm4j_h.C_POINTER.withName("region"),
            hmm4j_h.C_LONG.withName("first_block"),
            hmm4j_h.C_LONG.withName("nblocks"),
            hmm4j_h.C_INT.withName("direction"),
            hmm4j_h.C_INT.withName("intent"),
            hmm4j_h.C_INT.withName("cause"),
            hmm4j_h.C_INT.withName("binding"),
            hmm4j_h.C_POINTER.withName("state"),
            hmm4j_h.C_LONG.withName("moved_blocks"),
            hmm4j_h.C_LONG.withName("moved_bytes"))
        .withName("hmm4j_migrate");

    public static GroupLayout layout() {
        return $LAYOUT;
    }

    public static final String[] FIELDS = {
        "region", "first_block", "nblocks", "direction", "intent", "cause", "binding", "state", "moved_blocks",
        "moved_bytes"
    };

    public static long offsetOf(String field) {
        return $LAYOUT.byteOffset(groupElement(field));
    }

    private static final long region$OFFSET = offsetOf("region");
    private static final long first_block$OFFSET = offsetOf("first_block");
    private static final long nblocks$OFFSET = offsetOf("nblocks");
    private static final long direction$OFFSET = offsetOf("direction");
    private static final long intent$OFFSET = offsetOf("intent");
    private static final long cause$OFFSET = offsetOf("cause");
    private static final long binding$OFFSET = offsetOf("binding");
    private static final long state$OFFSET = offsetOf("state");
    private static final long moved_blocks$OFFSET = offsetOf("moved_blocks");
    private static final long moved_bytes$OFFSET = offsetOf("moved_bytes");

    public static MemorySegment allocate(java.lang.foreign.SegmentAllocator allocator) {
        return allocator.allocate($LAYOUT);
    }

    public static void region(MemorySegment struct, MemorySegment value) { struct.set(hmm4j_h.C_POINTER, region$OFFSET, value); }
    public static void first_block(MemorySegment struct, long value) { struct.set(hmm4j_h.C_LONG, first_block$OFFSET, value); }
    public static void nblocks(MemorySegment struct, long value) { struct.set(hmm4j_h.C_LONG, nblocks$OFFSET, value); }
    public static void direction(MemorySegment struct, int value) { struct.set(hmm4j_h.C_INT, direction$OFFSET, value); }
    public static void intent(MemorySegment struct, int value) { struct.set(hmm4j_h.C_INT, intent$OFFSET, value); }
    public static void cause(MemorySegment struct, int value) { struct.set(hmm4j_h.C_INT, cause$OFFSET, value); }
    public static void binding(MemorySegment struct, int value) { struct.set(hmm4j_h.C_INT, binding$OFFSET, value); }
    public static void state(MemorySegment struct, MemorySegment value) { struct.set(hmm4j_h.C_POINTER, state$OFFSET, value); }
    public static long moved_blocks(MemorySegment struct) { return struct.get(hmm4j_h.C_LONG, moved_blocks$OFFSET); }
    public static long moved_bytes(MemorySegment struct) { return struct.get(hmm4j_h.C_LONG, moved_bytes$OFFSET); }
}
