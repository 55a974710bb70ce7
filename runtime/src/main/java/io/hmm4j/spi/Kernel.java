package io.hmm4j.spi;

/** A loaded kernel of one device. Backends implement it with their own module/program objects. */
public interface Kernel {

    /** The entry point's name. */
    String name();
}
