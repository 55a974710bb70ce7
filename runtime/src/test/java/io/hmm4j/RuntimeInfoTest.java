package io.hmm4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import org.junit.jupiter.api.Test;

/** RuntimeInfo reports the engine that really loaded. */
class RuntimeInfoTest {

    @Test
    void theEngineLoadedFromAFileWithTheRuntimesAbi() {
        assertThat(RuntimeInfo.engineAvailable()).as(RuntimeInfo.engineUnavailabilityCause()).isTrue();
        assertThat(RuntimeInfo.engineUnavailabilityCause()).isNull();
        assertThat(RuntimeInfo.engineLibrary()).isRegularFile();
        assertThat(RuntimeInfo.engineLibrary().getFileName().toString()).startsWith("libhmm4j").endsWith(".so");
        assertThat(RuntimeInfo.engineAbiVersion()).isEqualTo(io.hmm4j.internal.ffm.hmm4j_h.HMM4J_ABI_VERSION);
    }

    @Test
    void thePageSizeIsAPowerOfTwoThatDividesTheDefaultBlock() {
        long page = RuntimeInfo.pageSize();
        assertThat(Long.bitCount(page)).isEqualTo(1);
        assertThat(ManagedHeap.DEFAULT_BLOCK_SIZE % page).isZero();
    }

    @Test
    void theRequestedBackendFollowsTheSystemProperty() {
        String saved = System.getProperty("hmm4j.backend");
        try {
            System.setProperty("hmm4j.backend", " Emulated ");
            assertThat(RuntimeInfo.requestedBackend()).isEqualTo("emulated");
        } finally {
            if (saved == null)
                System.clearProperty("hmm4j.backend");
            else
                System.setProperty("hmm4j.backend", saved);
        }
    }
}
