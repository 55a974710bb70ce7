package io.hmm4j.internal.policy;

/** What became of one attempt to give an array (or a launch's buffers) device memory. */
public enum Placement {
    /** The memory is there. */
    DONE,
    /** A wait released the heap's lock: the whole placement starts over, everything checked again. */
    RETRY,
    /** Only launches still being placed hold the memory: give up this launch's arrays and wait for progress. */
    BACK_OFF
}
