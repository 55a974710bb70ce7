package io.hmm4j.internal.jfr;

import jdk.jfr.Category;
import jdk.jfr.DataAmount;
import jdk.jfr.Description;
import jdk.jfr.Event;
import jdk.jfr.Label;
import jdk.jfr.Name;
import jdk.jfr.StackTrace;

/** Thrash control switched one array to zero-copy placement (README, "Zero-copy memory and thrash control"). */
@Name("io.hmm4j.Thrashing")
@Label("hmm4j Thrashing")
@Category({"hmm4j"})
@Description("Blocks of one managed array kept moving between host and device; the array was placed zero-copy")
@StackTrace(false)
public final class ThrashingEvent extends Event {

    @Label("Array")
    public long arrayId;

    @Label("Device")
    public String device;

    @Label("Array Bytes")
    @DataAmount
    public long arrayBytes;

    @Label("Launches In Window")
    public int launches;

    @Label("Block Moves In Window")
    public long blockMoves;

    @Label("Most Moves Of One Block")
    public int mostMoves;

    @Label("Action")
    public String action;
}
