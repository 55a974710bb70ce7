package io.hmm4j.internal.memory;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.spi.DeviceMemoryResource;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PoolMemoryResourceTest {

    /** Upstream with a capacity, recording calls; addresses are never reused so overlaps show. */
    static final class CountingUpstream implements DeviceMemoryResource {
        final long capacity;
        final Map<Long, Long> live = new HashMap<>();
        long next = 1L << 20;
        int allocations;

        CountingUpstream(long capacity) {
            this.capacity = capacity;
        }

        @Override
        public long allocate(long bytes) {
            long used = live.values().stream().mapToLong(Long::longValue).sum();
            if (used + bytes > capacity)
                throw new DeviceOutOfMemoryException("upstream full", "test:0");
            long address = next;
            next += bytes + (1 << 20);
            live.put(address, bytes);
            allocations++;
            return address;
        }

        @Override
        public void deallocate(long address, long bytes) {
            assertThat(live.remove(address)).as("free of a live upstream allocation").isEqualTo(bytes);
        }
    }

    @Test
    void subAllocatesFromOneChunkAndReleasesIt() {
        CountingUpstream upstream = new CountingUpstream(1L << 30);
        PoolMemoryResource pool = new PoolMemoryResource(upstream, 1 << 20);
        long a = pool.allocate(1000);
        long b = pool.allocate(5000);
        assertThat(upstream.allocations).isEqualTo(1);
        assertThat(b).isGreaterThanOrEqualTo(a + 1000);
        assertThat(a % pool.alignment()).isZero();
        assertThat(b % pool.alignment()).isZero();
        pool.deallocate(a, 1000);
        pool.deallocate(b, 5000);
        assertThat(pool.allocate(1 << 20)).as("coalesced back into one hole").isEqualTo(a);
        pool.close();
        assertThat(upstream.live).isEmpty();
    }

    @Test
    void largeRequestsGetDedicatedAllocations() {
        CountingUpstream upstream = new CountingUpstream(1L << 30);
        PoolMemoryResource pool = new PoolMemoryResource(upstream, 1 << 20);
        long big = pool.allocate(3 << 20);
        assertThat(upstream.live).containsEntry(big, 3L << 20);
        pool.deallocate(big, 3 << 20);
        assertThat(upstream.live).isEmpty();
    }

    @Test
    void backsOffToSmallerChunksWhenTheDeviceIsNearlyFull() {
        CountingUpstream upstream = new CountingUpstream(600 * 1024);
        PoolMemoryResource pool = new PoolMemoryResource(upstream, 1 << 20);
        long a = pool.allocate(100 * 1024);
        assertThat(upstream.live.values()).allMatch(size -> size <= 600 * 1024);
        pool.deallocate(a, 100 * 1024);
        assertThatThrownBy(() -> pool.allocate(700 * 1024)).isInstanceOf(DeviceOutOfMemoryException.class);
    }

    /**
     * The pool keeps its first chunk when it empties (the next allocation is cheap), but not at the price of an
     * allocation the device could serve: a request that neither fits the pool's chunks nor the rest of the device
     * gets the wholly free chunks back first.
     */
    @Test
    void anIdleChunkIsGivenBackBeforeTheDeviceIsCalledFull() {
        CountingUpstream upstream = new CountingUpstream(1600 * 1024);
        PoolMemoryResource pool = new PoolMemoryResource(upstream, 1 << 20);
        long small = pool.allocate(64 * 1024);
        pool.deallocate(small, 64 * 1024);
        assertThat(pool.reservedBytes()).as("the first chunk stays, empty").isEqualTo(1 << 20);
        // Does not fit beside a kept chunk of 1 MiB in 1.6 MiB; fits once it is given back.
        long dedicated = pool.allocate(1200 * 1024);
        pool.deallocate(dedicated, 1200 * 1024);
        long inChunk = pool.allocate(700 * 1024);
        assertThatThrownBy(() -> pool.allocate(1200 * 1024)).as("700 KiB in use: the device is full")
                .isInstanceOf(DeviceOutOfMemoryException.class);
        pool.deallocate(inChunk, 700 * 1024);
        long whole = pool.allocate(1500 * 1024);
        pool.deallocate(whole, 1500 * 1024);
        pool.close();
        assertThat(upstream.live).isEmpty();
    }

    @Test
    void randomAllocationsNeverOverlapAndAllMemoryReturns() {
        CountingUpstream upstream = new CountingUpstream(1L << 32);
        PoolMemoryResource pool = new PoolMemoryResource(upstream, 256 * 1024);
        Random random = new Random(42);
        List<long[]> live = new ArrayList<>();
        for (int step = 0; step < 5000; step++) {
            if (live.isEmpty() || random.nextInt(3) > 0) {
                long size = 1 + random.nextInt(300 * 1024);
                long address = pool.allocate(size);
                for (long[] other : live)
                    assertThat(address + size <= other[0] || other[0] + other[1] <= address)
                            .as("[%d,+%d) overlaps [%d,+%d)", address, size, other[0], other[1]).isTrue();
                live.add(new long[] {address, size});
            } else {
                long[] victim = live.remove(random.nextInt(live.size()));
                pool.deallocate(victim[0], victim[1]);
            }
        }
        for (long[] block : live)
            pool.deallocate(block[0], block[1]);
        assertThat(pool.reservedBytes()).isLessThanOrEqualTo(256 * 1024);
        pool.close();
        assertThat(upstream.live).isEmpty();
    }

    @Test
    void budgetReservesFirstAndUndoesOnUpstreamFailure() {
        CountingUpstream upstream = new CountingUpstream(1000);
        BudgetMemoryResource budget = new BudgetMemoryResource(upstream, 5000, "test:0");
        assertThatThrownBy(() -> budget.allocate(2000)).isInstanceOf(DeviceOutOfMemoryException.class).hasMessageContaining("upstream full");
        assertThat(budget.used()).isZero();
        assertThatThrownBy(() -> budget.allocate(6000)).isInstanceOf(DeviceOutOfMemoryException.class).hasMessageContaining("budget");
        long a = budget.allocate(800);
        assertThat(budget.used()).isEqualTo(800);
        budget.deallocate(a, 800);
        assertThat(budget.used()).isZero();
    }

    @Test
    void badSizesAndForeignAddressesAreRefused() {
        PoolMemoryResource pool = new PoolMemoryResource(new CountingUpstream(1L << 30), 1 << 20);
        assertThatThrownBy(() -> pool.allocate(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> pool.allocate(-5)).isInstanceOf(IllegalArgumentException.class);
        pool.allocate(10);
        assertThatThrownBy(() -> pool.deallocate(12345, 10)).isInstanceOf(IllegalArgumentException.class);
    }
}
