package io.hmm4j.internal.policy;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * Least-recently-used {@link VictimOrder}: eviction picks the array to push off a full device with it, and the host
 * tier the regions whose kept pages go first. Not thread-safe: its owner's lock guards it.
 *
 * @param <T> what is used (an array, a region); compared by identity
 */
public final class Recency<T> implements VictimOrder<T> {

    /** Least recently used first. */
    private final LinkedHashSet<T> order = new LinkedHashSet<>();

    /** {@code item} was just used: it becomes the last candidate. Returns whether it was new. */
    @Override
    public boolean touch(T item) {
        boolean known = order.remove(item);
        order.add(item);
        return !known;
    }

    /** {@code item} was placed without being used (a cold array moved by the host tier): it becomes the first candidate. */
    @Override
    public void touchAsOldest(T item) {
        order.addFirst(item);
    }

    /** {@code item} is gone. Returns whether it was known. */
    @Override
    public boolean forget(T item) {
        return order.remove(item);
    }

    /** The least recently used item that {@code eligible} accepts. */
    public Optional<T> leastRecent(Predicate<? super T> eligible) {
        for (T item : order)
            if (eligible.test(item))
                return Optional.of(item);
        return Optional.empty();
    }

    /** A snapshot, least recently used first (touching items while walking it does not disturb the walk). */
    public List<T> oldestFirst() {
        return new ArrayList<>(order);
    }

    @Override
    public Optional<T> victim(Predicate<? super T> eligible) {
        return leastRecent(eligible);
    }

    @Override
    public List<T> victimsInOrder() {
        return oldestFirst();
    }

    @Override
    public int size() {
        return order.size();
    }
}
