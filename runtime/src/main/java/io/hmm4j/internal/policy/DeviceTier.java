package io.hmm4j.internal.policy;

import io.hmm4j.DeviceException;
import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.internal.memory.BudgetMemoryResource;
import io.hmm4j.internal.memory.PoolMemoryResource;
import io.hmm4j.spi.Device;
import io.hmm4j.spi.NativeCopyEngine;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.Predicate;

/**
 * One device as a tier of memory: its copy table, its memory resource stack (pool under a budget, RMM's layering),
 * and the order in which the arrays placed on it are evicted. A coherent device (kernels use the arrays' own pages)
 * has neither pool nor budget: nothing is placed on it.
 *
 * <p>Not thread-safe: the heap calls it with its lock held. The mechanism of moving bytes (bind, unbind, migrate)
 * stays with the heap and the engine; this class decides and accounts.
 *
 * @param <A> the heap's array type
 */
public class DeviceTier<A> {

    public final Device device;
    /** The engine's copy table; {@code null} for a coherent device. */
    public final NativeCopyEngine engine;
    public final PoolMemoryResource pool;
    public final BudgetMemoryResource budget;
    /**
     * Arrays by last placement on this device: eviction's victims, first victim first (least recently used, most
     * recently used while evicted arrays keep coming back: a cycle larger than the device).
     */
    private final ScanResistantOrder<A> residents = new ScanResistantOrder<>();

    public DeviceTier(Device device, long budget, long poolChunk) {
        this.device = device;
        this.engine = device.coherent() ? null : device.copyEngine();
        this.pool = device.coherent() ? null
                : new PoolMemoryResource(device.memory(), chunkFor(device.capacityBytes(), poolChunk));
        this.budget = device.coherent() ? null : new BudgetMemoryResource(pool, budget, device.id());
    }

    /**
     * At most an eighth of the device's memory: a chunk's unused tail is memory no allocation larger than it can use,
     * so on a device only a few chunks large, arrays that fit it together would not fit the chunks and the rest. Of
     * the device, not of the budget: the budget counts the arrays' bytes, not the chunks', and a small budget on a
     * large device keeps its arrays in one chunk.
     */
    static long chunkFor(long capacity, long poolChunk) {
        return Math.max(MIN_POOL_CHUNK, Math.min(poolChunk, capacity / 8));
    }

    private static final long MIN_POOL_CHUNK = 64 * 1024;

    /** Whether the device's budget has {@code bytes} free now (never for a coherent device). */
    public boolean hasRoomFor(long bytes) {
        return budget != null && budget.limit() - budget.used() >= bytes;
    }

    /**
     * Device memory for {@code bytes}, or empty where the budget (or the pool's upstream) is full: the caller decides
     * whether to evict, wait or give up.
     */
    public OptionalLong tryAllocate(long bytes) {
        try {
            return OptionalLong.of(budget.allocate(bytes));
        } catch (DeviceOutOfMemoryException full) {
            return OptionalLong.empty();
        }
    }

    /**
     * Gives memory back, zeroed first so that no data leaks from one array to the next. A device that cannot zero
     * keeps the memory out of the pool rather than leak its contents.
     */
    public void free(long address, long bytes) {
        try {
            engine.zero(address, bytes);
        } catch (DeviceException e) {
            return;
        }
        budget.deallocate(address, bytes);
    }

    /** {@code array} is (about to be) placed here for use: it becomes the last victim. */
    public void used(A array) {
        residents.touch(array);
    }

    /** {@code array} was placed here cold (emergency memory): it becomes the first victim. */
    public void placedCold(A array) {
        residents.touchAsOldest(array);
    }

    /** {@code array} was evicted from this device (its memory freed): remembered, in case it comes back soon. */
    public void evicted(A array) {
        residents.evicted(array);
    }

    /** Whether eviction here takes the most recently used arrays first now (a cyclic access was seen). */
    public boolean evictsMostRecentFirst() {
        return residents.cyclic();
    }

    /** {@code array} left the heap. */
    public void forget(A array) {
        residents.forget(array);
    }

    /**
     * The array to evict for room on this device: the first victim that {@code evictable} accepts and that is not
     * {@code keptHere} (advice keeps it on this device), else the first one that is: kept arrays go last.
     */
    public Optional<A> victim(Predicate<? super A> evictable, Predicate<? super A> keptHere) {
        Optional<A> unkept = residents.victim(candidate -> evictable.test(candidate) && !keptHere.test(candidate));
        return unkept.isPresent() ? unkept : residents.victim(evictable);
    }

    /**
     * The first of {@code tiers} whose budget has room for {@code bytes} now, without evicting anything (where the
     * host tier puts cold arrays as emergency memory).
     */
    public static <T extends DeviceTier<?>> List<T> withRoomFor(List<T> tiers, long bytes) {
        return tiers.stream().filter(tier -> tier.hasRoomFor(bytes)).toList();
    }
}
