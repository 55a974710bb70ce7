package io.hmm4j.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** One pass of the host tier giving back host pages of blocks whose bytes are also on the device. */
@Name("io.hmm4j.Reclaim")
@Label("hmm4j Reclaim")
@Category({"hmm4j"})
@Description("Host pages of device-valid blocks given back by the host tier")
@StackTrace(false)
public final class ReclaimEvent extends Event {

    @Label("Cause")
    @Description("budget: the heap was over its host budget (after a launch or before an allocation); pressure: the"
            + " system reported memory pressure, or the application asked; no_host_memory: blocks coming home got no"
            + " pages; fault: the engine gave back pages itself so that blocks coming home kept the heap within its"
            + " budget (summed since the last report)")
    public String cause;

    @Label("Reclaimed")
    @DataAmount
    public long bytes;

    @Label("Host Bytes Before")
    @Description("-1 where not measured (cause fault)")
    @DataAmount
    public long hostBytesBefore;

    @Label("Host Budget")
    @DataAmount
    public long budget;
}
