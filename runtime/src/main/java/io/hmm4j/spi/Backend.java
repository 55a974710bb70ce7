package io.hmm4j.spi;

import java.util.List;

/** An opened backend: its devices, alive until {@link #close()}. */
public interface Backend extends AutoCloseable {

    String name();

    /** At least one device, in a stable order; {@code devices().get(i).index() == i}. */
    List<Device> devices();

    /** Releases every device, kernel and device allocation of this backend. Idempotent. */
    @Override
    void close();
}
