package io.hmm4j.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** One explicit migration (launch, prefetch, eviction) of one array; host faults are summarised by {@link FaultBatchEvent}. */
@Name("io.hmm4j.Migration")
@Label("hmm4j Migration")
@Category({"hmm4j"})
@Description("Blocks of one managed array moved between host and device")
@StackTrace(false)
public final class MigrationEvent extends Event {

    @Label("Array")
    public long arrayId;

    @Label("Device")
    public String device;

    @Label("Direction")
    public String direction;

    @Label("Cause")
    public String cause;

    @Label("Bytes")
    @DataAmount
    public long bytes;

    @Label("Blocks")
    public long blocks;
}
