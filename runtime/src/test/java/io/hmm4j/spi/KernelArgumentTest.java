package io.hmm4j.spi;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.hmm4j.Access;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class KernelArgumentTest {

    /** Backends compare sizes as {@code bytes > size - offset}; a negative size would pass that. */
    @Test
    void aBufferOfNegativeSizeIsRefused() {
        assertThatThrownBy(() -> new KernelArgument.Buffer(0x1000, -4, Access.READ, MemorySegment.NULL))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("byteSize must be >= 0: -4");
    }

    @Test
    void aScalarOfAnotherNumberTypeIsRefused() {
        assertThatThrownBy(() -> new KernelArgument.Scalar((short) 3))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("java.lang.Short");
    }
}
