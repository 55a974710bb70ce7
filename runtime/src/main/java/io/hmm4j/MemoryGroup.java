package io.hmm4j;

import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Accounting and a limit for a set of arrays, like a memory cgroup: an array is charged its logical size when it
 * is allocated, wherever its blocks later live, and uncharged when it is freed. Groups nest; a charge must fit
 * the group and every ancestor. Allocate through the group to charge it.
 */
public final class MemoryGroup {

    /**
     * Whether the host tier may put the group's arrays on a device on its own, when the heap is over its host budget
     * and nothing is reclaimable (emergency memory). Launches and prefetches place arrays on devices whatever the
     * policy; this is only about the host tier's own moves, so that a device that must be evacuated or taken offline
     * holds nothing the application did not put there.
     */
    public enum DevicePolicy {
        /** Never moved to a device by the host tier. */
        NEVER,
        /** Moved, least recently used first, once the host budget is exhausted (the default). */
        EMERGENCY,
        /** Moved before any EMERGENCY group's arrays. */
        PREFERRED
    }

    private volatile DevicePolicy devicePolicy; // null: the parent's, EMERGENCY at the top

    private final ManagedHeap heap;
    private final MemoryGroup parent;
    private final String name;
    private final long limit;
    private final AtomicLong used = new AtomicLong();
    private final AtomicLong peak = new AtomicLong();

    MemoryGroup(ManagedHeap heap, MemoryGroup parent, String name, long limit) {
        if (limit <= 0)
            throw new IllegalArgumentException("memory group limit must be > 0: " + limit);
        this.heap = heap;
        this.parent = parent;
        this.name = Objects.requireNonNull(name, "name");
        this.limit = limit;
    }

    /** A child group; its charges count against this group too. */
    public MemoryGroup createChild(String childName, long childLimit) {
        heap.ensureOpen();
        return new MemoryGroup(heap, this, childName, childLimit);
    }

    /** Sets the group's device policy (children without their own follow it). Returns this group. */
    public MemoryGroup devicePolicy(DevicePolicy policy) {
        this.devicePolicy = Objects.requireNonNull(policy, "policy");
        if (heap.isOpen())
            heap.devicePolicyChanged();
        return this;
    }

    /** The policy in force: the group's own, else its parent's, else {@link DevicePolicy#EMERGENCY}. */
    public DevicePolicy devicePolicy() {
        DevicePolicy own = devicePolicy;
        if (own != null)
            return own;
        return parent == null ? DevicePolicy.EMERGENCY : parent.devicePolicy();
    }

    public String name() {
        return parent == null ? name : parent.name() + "/" + name;
    }

    public long limit() {
        return limit;
    }

    /** Bytes charged now (whole blocks per array). */
    public long used() {
        return used.get();
    }

    /** The most bytes ever charged at once. */
    public long peak() {
        return peak.get();
    }

    public ByteArray allocateBytes(long length) {
        return heap.allocateBytes(length, this);
    }

    public IntArray allocateInts(long length) {
        return heap.allocateInts(length, this);
    }

    public LongArray allocateLongs(long length) {
        return heap.allocateLongs(length, this);
    }

    public FloatArray allocateFloats(long length) {
        return heap.allocateFloats(length, this);
    }

    public DoubleArray allocateDoubles(long length) {
        return heap.allocateDoubles(length, this);
    }

    /**
     * Charges this group and its ancestors, all or nothing. A charge is counted only once it fits (compare and
     * set): adding first and undoing on failure let a request that could never fit refuse concurrent ones that did.
     */
    void charge(long bytes) {
        long before;
        do {
            before = used.get();
            if (bytes > limit - before)
                throw new MemoryLimitExceededException("memory group " + name() + " limit of " + limit
                        + " bytes exceeded: " + bytes + " requested, " + before + " in use", name(), limit);
        } while (!used.compareAndSet(before, before + bytes));
        if (parent != null) {
            try {
                parent.charge(bytes);
            } catch (MemoryLimitExceededException e) {
                used.addAndGet(-bytes);
                throw e;
            }
        }
        long after = before + bytes;
        peak.accumulateAndGet(after, Math::max);
    }

    void uncharge(long bytes) {
        used.addAndGet(-bytes);
        if (parent != null)
            parent.uncharge(bytes);
    }

    @Override
    public String toString() {
        return "MemoryGroup[" + name() + " " + used() + "/" + limit + "]";
    }
}
