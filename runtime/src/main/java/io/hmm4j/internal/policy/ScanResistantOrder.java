package io.hmm4j.internal.policy;

import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * A device tier's eviction order: least recently used first, until the items evicted keep coming back. Then the
 * access is a cycle larger than the tier (every step of an iterative loop over more arrays than fit), the one pattern
 * where LRU is the worst choice (it evicts exactly the item needed next), and the order turns most recently used
 * first, which keeps the older residents until the cycle reaches them again. It remembers the items it evicted
 * lately (a ghost list, as ARC's) and a score of how many placements were of such items; the score decays, so the
 * order turns back to LRU once evicted items stop returning. Not thread-safe: its owner's lock guards it.
 *
 * @param <T> what is placed (an array); compared by identity
 */
public final class ScanResistantOrder<T> implements VictimOrder<T> {

    /** The score's unit: each placement keeps 7/8 of it and a returning item adds one whole unit. */
    private static final int SCALE = 8;
    /** Score beyond which the access is cyclic: about half of the recent placements were of items evicted lately. */
    private static final int CYCLIC_SCORE = 4 * SCALE;
    /** Evicted items remembered. */
    private static final int GHOSTS = 64;

    /** The items placed, least recently used first; the score decides which end is evicted from. */
    private final Recency<T> order = new Recency<>();
    private final LinkedHashSet<T> ghosts = new LinkedHashSet<>();
    /** Decaying count, in eighths, of placements of items that had been evicted lately. */
    private int score;

    /** Whether the order is most recently used first now. */
    public boolean cyclic() {
        return score >= CYCLIC_SCORE;
    }

    @Override
    public boolean touch(T item) {
        boolean placed = order.touch(item);
        if (placed) {
            // A placement: of an item evicted lately (LRU's mistake if the access cycles), or of a new one.
            score -= score / SCALE;
            if (ghosts.remove(item))
                score += SCALE;
        }
        return placed;
    }

    @Override
    public void touchAsOldest(T item) {
        order.touchAsOldest(item);
    }

    /** {@code item} was evicted: it leaves the order and is remembered for a while. */
    public void evicted(T item) {
        if (!order.forget(item))
            return;
        ghosts.remove(item);
        ghosts.add(item);
        if (ghosts.size() > GHOSTS) {
            Iterator<T> oldest = ghosts.iterator();
            oldest.next();
            oldest.remove();
        }
    }

    @Override
    public boolean forget(T item) {
        ghosts.remove(item);
        return order.forget(item);
    }

    @Override
    public Optional<T> victim(Predicate<? super T> eligible) {
        for (T item : victimsInOrder())
            if (eligible.test(item))
                return Optional.of(item);
        return Optional.empty();
    }

    @Override
    public List<T> victimsInOrder() {
        List<T> items = order.oldestFirst();
        return cyclic() ? items.reversed() : items;
    }

    @Override
    public int size() {
        return order.size();
    }
}
