/** Micrometer meters for hmm4j: a MeterBinder per ManagedHeap that samples the fault engine's counters. */
module io.hmm4j.micrometer {
    // transitive: HeapMetrics takes a ManagedHeap and is a MeterBinder, so its users read both modules.
    requires transitive io.hmm4j;
    requires transitive micrometer.core;

    exports io.hmm4j.micrometer;
}
