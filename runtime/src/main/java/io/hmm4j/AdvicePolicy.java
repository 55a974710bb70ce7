package io.hmm4j;

import io.hmm4j.internal.ffm.hmm4j_h;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.WeakHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Memory advice ({@link ManagedHeap#advise}): which blocks of which arrays carry which {@link Advice}, and what the
 * advice does at the heap's few decision points, since no device here can fault: an exclusive migrate of read-mostly
 * blocks replicates instead ({@link #runs}), eviction takes arrays kept on a device last ({@link #keepsOn}), and when
 * a launch completes its written blocks preferring the host come home and accessed-by devices get their copies back
 * ({@link #launchCompleted}). Completion runs wherever the launch is waited for (its {@link Launch#await()}, another
 * placement's wait, a synchronous device's launch); for launches that write preferred-host blocks on an asynchronous
 * device a daemon thread waits for them, so the blocks come home without anyone awaiting: never in the fault handler
 * (DESIGN.md, invariant 2).
 *
 * <p>Guarded by the heap's lock; nothing here waits while holding it. Arrays are keys of a weak map: a freed array's
 * advice goes with it and needs no hook in the free path (its {@code destroyed} flag makes it inert until then).
 */
final class AdvicePolicy {

    private static final System.Logger LOG = System.getLogger("io.hmm4j");
    /** How long the waiting thread stays when no launch needs it. */
    private static final long IDLE_MILLIS = 1000;
    private static final int HOST = -1;

    private final HeapLock lock;
    private final LaunchTracker tracker;
    private final Migrator migrator;
    private final PlacementPolicy placement;
    private final List<ManagedHeap.DeviceState> devices;
    private final Map<ManagedArray, ArrayAdvice> advice = new WeakHashMap<>();
    /** Launches whose written blocks go home when they complete, for the waiting thread. */
    private final LinkedBlockingQueue<Launch> homeward = new LinkedBlockingQueue<>();
    /** The thread that waits for {@link #homeward}'s launches; null when none runs. Guarded by the lock. */
    private Thread waiter;

    AdvicePolicy(HeapLock lock, LaunchTracker tracker, Migrator migrator, PlacementPolicy placement,
            List<ManagedHeap.DeviceState> devices) {
        this.lock = lock;
        this.tracker = tracker;
        this.migrator = migrator;
        this.placement = placement;
        this.devices = devices;
    }

    /** Block ranges {@code [first, end)}, disjoint and not adjacent; long-indexed, as arrays may have 2^32 blocks. */
    static final class Ranges {
        private final TreeMap<Long, Long> runs = new TreeMap<>();

        void add(long from, long to) {
            Map.Entry<Long, Long> before = runs.floorEntry(from);
            if (before != null && before.getValue() >= from) {
                from = before.getKey();
                to = Math.max(to, before.getValue());
            }
            for (Map.Entry<Long, Long> e = runs.ceilingEntry(from); e != null && e.getKey() <= to;
                    e = runs.ceilingEntry(from)) {
                to = Math.max(to, e.getValue());
                runs.remove(e.getKey());
            }
            runs.put(from, to);
        }

        void remove(long from, long to) {
            Map.Entry<Long, Long> before = runs.lowerEntry(from);
            if (before != null && before.getValue() > from) {
                runs.put(before.getKey(), from);
                if (before.getValue() > to)
                    runs.put(to, before.getValue());
            }
            for (Map.Entry<Long, Long> e = runs.ceilingEntry(from); e != null && e.getKey() < to;
                    e = runs.ceilingEntry(from)) {
                runs.remove(e.getKey());
                if (e.getValue() > to)
                    runs.put(to, e.getValue());
            }
        }

        boolean contains(long block) {
            Map.Entry<Long, Long> e = runs.floorEntry(block);
            return e != null && e.getValue() > block;
        }

        boolean isEmpty() {
            return runs.isEmpty();
        }

        /** The runs clipped to {@code [from, to)}, as {first, count} pairs. */
        List<long[]> within(long from, long to) {
            List<long[]> out = new ArrayList<>();
            Map.Entry<Long, Long> first = runs.floorEntry(from);
            Long start = first != null && first.getValue() > from ? first.getKey() : runs.ceilingKey(from);
            if (start == null)
                return out;
            for (Map.Entry<Long, Long> e : runs.tailMap(start, true).entrySet()) {
                if (e.getKey() >= to)
                    break;
                long a = Math.max(from, e.getKey());
                long b = Math.min(to, e.getValue());
                out.add(new long[] {a, b - a});
            }
            return out;
        }
    }

    /** One array's advice: read-mostly blocks, each block's one preferred location, and accessed-by sets. */
    private static final class ArrayAdvice {
        final Ranges readMostly = new Ranges();
        /** By location: {@link #HOST} or a device index. */
        final Map<Integer, Ranges> preferred = new HashMap<>();
        final Map<Integer, Ranges> accessedBy = new HashMap<>();

        boolean isEmpty() {
            return readMostly.isEmpty() && preferred.values().stream().allMatch(Ranges::isEmpty)
                    && accessedBy.values().stream().allMatch(Ranges::isEmpty);
        }

        boolean any(Map<Integer, Ranges> byPlace, int place) {
            Ranges r = byPlace.get(place);
            return r != null && !r.isEmpty();
        }
    }

    private static int place(Location location) {
        return location.isHost() ? HOST : location.deviceIndex();
    }

    /**
     * {@link ManagedHeap#advise} ({@code set}) or {@link ManagedHeap#unadvise}, arguments checked: records the advice
     * of blocks {@code [first, first + blocks)}; an accessed-by device gets its copy now where the array is idle and
     * the device has room (else after the array's next launch).
     */
    void advise(ManagedArray array, long first, long blocks, Advice what, boolean set) {
        synchronized (lock) {
            lock.ensureOpen();
            array.ensureAlive();
            long end = first + blocks;
            ArrayAdvice a = advice.computeIfAbsent(array, k -> new ArrayAdvice());
            switch (what) {
                case Advice.ReadMostly r -> {
                    if (set)
                        a.readMostly.add(first, end);
                    else
                        a.readMostly.remove(first, end);
                }
                case Advice.PreferredLocation(Location where) -> {
                    // One preferred location per block, as cudaMemAdvise: setting one replaces the others.
                    for (Ranges r : a.preferred.values())
                        r.remove(first, end);
                    if (set)
                        a.preferred.computeIfAbsent(place(where), k -> new Ranges()).add(first, end);
                }
                case Advice.AccessedBy(int device) -> {
                    if (set)
                        a.accessedBy.computeIfAbsent(device, k -> new Ranges()).add(first, end);
                    else if (a.accessedBy.containsKey(device))
                        a.accessedBy.get(device).remove(first, end);
                }
                case Advice.None n -> {
                    a.readMostly.remove(first, end);
                    for (Ranges r : a.preferred.values())
                        r.remove(first, end);
                    for (Ranges r : a.accessedBy.values())
                        r.remove(first, end);
                }
            }
            if (a.isEmpty()) {
                advice.remove(array);
                return;
            }
            if (set && what instanceof Advice.AccessedBy && array.inFlight.isEmpty())
                keepAccessedCopies(array, a);
        }
    }

    /** {@link ManagedHeap#adviceAt}: the advice of block {@code block}. */
    Set<Advice> adviceAt(ManagedArray array, long block) {
        synchronized (lock) {
            lock.ensureOpen();
            array.ensureAlive();
            Set<Advice> out = new LinkedHashSet<>();
            ArrayAdvice a = advice.get(array);
            if (a == null)
                return out;
            if (a.readMostly.contains(block))
                out.add(Advice.readMostly());
            a.preferred.forEach((where, r) -> {
                if (r.contains(block))
                    out.add(Advice.preferredLocation(where == HOST ? Location.HOST : Location.device(where)));
            });
            a.accessedBy.entrySet().stream().filter(e -> e.getValue().contains(block)).map(Map.Entry::getKey).sorted()
                    .forEach(d -> out.add(Advice.accessedBy(d)));
            return out;
        }
    }

    /**
     * Blocks {@code [first, first + blocks)} as runs {first, count, readMostly (1 or 0)}: an exclusive
     * {@link ManagedHeap#migrate} replicates the read-mostly runs (read intent) and moves the others.
     */
    List<long[]> runs(ManagedArray array, long first, long blocks) {
        synchronized (lock) {
            ArrayAdvice a = advice.get(array);
            List<long[]> out = new ArrayList<>();
            long at = first;
            long end = first + blocks;
            if (a != null) {
                for (long[] run : a.readMostly.within(first, end)) {
                    if (run[0] > at)
                        out.add(new long[] {at, run[0] - at, 0});
                    out.add(new long[] {run[0], run[1], 1});
                    at = run[0] + run[1];
                }
            }
            if (at < end)
                out.add(new long[] {at, end - at, 0});
            return out;
        }
    }

    /**
     * Whether eviction from {@code ds} should take {@code array} last: blocks of it prefer {@code ds}, or
     * {@code ds} accesses them. Lock held.
     */
    boolean keepsOn(ManagedArray array, ManagedHeap.DeviceState ds) {
        ArrayAdvice a = advice.get(array);
        if (a == null)
            return false;
        int index = devices.indexOf(ds);
        return a.any(a.preferred, index) || a.any(a.accessedBy, index);
    }

    /**
     * A launch was enqueued (lock held): where it writes blocks that prefer the host on a device that runs it
     * asynchronously, the waiting thread completes it when its kernel is done, which copies them home.
     */
    void launchEnqueued(Launch launch) {
        if (advice.isEmpty() || launch.device.device.launchesAreSynchronous())
            return;
        for (ManagedArray array : launch.written) {
            ArrayAdvice a = advice.get(array);
            if (a != null && a.any(a.preferred, HOST)) {
                homeward.add(launch);
                if (waiter == null)
                    waiter = Thread.ofPlatform().daemon().name("hmm4j-advice-homeward").start(this::waitForLaunches);
                return;
            }
        }
    }

    private void waitForLaunches() {
        while (true) {
            Launch launch;
            try {
                launch = homeward.poll(IDLE_MILLIS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                launch = null;
            }
            if (launch == null) {
                synchronized (lock) {
                    if (homeward.isEmpty() || lock.isClosed()) {
                        homeward.clear();
                        waiter = null;
                        return;
                    }
                }
                continue;
            }
            // Completing it copies the blocks home (launchCompleted); a failure stays in the launch for its await.
            try {
                tracker.awaitLaunch(launch);
            } catch (RuntimeException e) {
                // This thread must outlive one launch's trouble: the next launches' blocks still have to come home.
                LOG.log(System.Logger.Level.WARNING, "completing a launch on " + launch.device.device.id()
                        + " for the host-preferring blocks it wrote failed; they stay where they are", e);
            }
        }
    }

    /**
     * A launch completed (lock held; its arrays are no longer in flight for it): blocks of its written arrays that
     * prefer the host and live only on a device are copied home (read intent: they end SHARED, the device copy stays
     * valid), and every array it used gets valid copies on its accessed-by devices back. Arrays another launch still
     * uses are left to that launch's completion. A copy that fails is logged: advice never fails a launch, and the
     * blocks stay where they were (a host access faults them home as usual).
     */
    void launchCompleted(Launch launch) {
        if (advice.isEmpty() || lock.isClosed())
            return;
        for (ManagedArray array : launch.arrays) {
            ArrayAdvice a = advice.get(array);
            // An array being closed waits for this launch before it is freed: moving its blocks would be wasted.
            if (a == null || array.destroyed || !array.isAlive() || !array.inFlight.isEmpty()
                    || array.region.isZeroCopy())
                continue;
            try {
                if (launch.failure == null && launch.written.contains(array) && a.any(a.preferred, HOST)
                        && !array.bindings.isEmpty())
                    for (long[] run : a.preferred.get(HOST).within(0, array.region.blockCount()))
                        migrator.migrate(array, null, run[0], run[1], hmm4j_h.HMM4J_TO_HOST, hmm4j_h.HMM4J_INTENT_READ,
                                MigrationCause.PREFETCH, null);
                keepAccessedCopies(array, a);
            } catch (DeviceException | HostOutOfMemoryException e) {
                LOG.log(System.Logger.Level.WARNING, "advice for " + array + " after a launch on "
                        + launch.device.device.id() + " could not move its blocks; they stay where they are", e);
            }
        }
    }

    /**
     * Makes the accessed-by blocks of {@code array} valid on their devices (read intent: from the host or another
     * device, every other copy stays valid), on devices where the array has memory or the budget has room for it
     * without evicting anything. Lock held; the array is idle.
     */
    private void keepAccessedCopies(ManagedArray array, ArrayAdvice a) {
        if (array.region.isZeroCopy())
            return;
        for (Map.Entry<Integer, Ranges> e : a.accessedBy.entrySet()) {
            if (e.getValue().isEmpty())
                continue;
            ManagedHeap.DeviceState ds = devices.get(e.getKey());
            if (!placement.bindIfRoom(array, ds))
                continue;
            for (long[] run : e.getValue().within(0, array.region.blockCount()))
                migrator.migrate(array, ds, run[0], run[1], hmm4j_h.HMM4J_TO_DEVICE, hmm4j_h.HMM4J_INTENT_READ,
                        MigrationCause.PREFETCH, null);
        }
    }
}
