/** hmm4j: managed arrays whose bytes move transparently between host memory and device memory. */
module io.hmm4j {
    exports io.hmm4j;
    exports io.hmm4j.spi;

    requires jdk.jfr;
    requires java.logging;

    uses io.hmm4j.spi.BackendProvider;
}
