package io.hmm4j.internal.policy;

import java.util.List;
import java.util.Optional;
import java.util.function.Predicate;

/**
 * The order in which things give up their place in a tier: the one victim-selection abstraction of the heap.
 * Eviction asks a device tier's order which array leaves a full device; the host tier asks its order which regions'
 * kept pages go first, and which cold arrays spill to a device. Not thread-safe: its owner's lock guards it.
 *
 * @param <T> what is ordered (an array, a region); compared by identity
 */
public interface VictimOrder<T> {

    /** {@code item} was just used. Returns whether it was new to the order. */
    boolean touch(T item);

    /** {@code item} was placed without being used (a cold array moved by the host tier): the first candidate. */
    void touchAsOldest(T item);

    /** {@code item} is gone. Returns whether it was known. */
    boolean forget(T item);

    /** The first victim that {@code eligible} accepts. */
    Optional<T> victim(Predicate<? super T> eligible);

    /** A snapshot, first victim first (touching items while walking it does not disturb the walk). */
    List<T> victimsInOrder();

    int size();
}
