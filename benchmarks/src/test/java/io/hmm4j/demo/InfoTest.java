package io.hmm4j.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@code ./hmm4j info} with stdout on a pipe (a child JVM, as a user runs it): every backend on the class path with
 * its devices or the reason it was skipped, and the engine's and host memory's settings, in plain lines.
 */
class InfoTest {

    @Test
    void infoListsEveryBackendItsDevicesOrWhyItWasSkippedAndTheEngineSettings() throws Exception {
        String out = DemoOutputTest.runChild(Map.of(), List.of(), Info.class);

        assertThat(out).as(out).doesNotContain("\r");
        // The three backends of this build, in the order of the automatic choice, each available or skipped.
        assertThat(out).as(out)
                .containsPattern("(?m)^  cuda +(available.*|skipped: .+)$")
                .containsPattern("(?m)^  opencl +(available.*|skipped: .+)$")
                .containsPattern("(?m)^  emulated +available")
                .containsPattern("(?s)  cuda .*  opencl .*  emulated ");
        // The emulated device is there on every machine: id, name, kind, memory and placement.
        assertThat(out).as(out)
                .containsPattern("(?m)^    emulated:0 +hmm4j emulated device 0$")
                .containsPattern("kind EMULATED, memory 1\\.00 GiB, placement migrating")
                .contains("(automatic choice)");
        assertThat(out).as(out)
                .containsPattern("(?m)^  library +/.*libhmm4j.*\\.so$")
                .containsPattern("(?m)^  ABI +" + io.hmm4j.RuntimeInfo.engineAbiVersion() + "$")
                .containsPattern("(?m)^  page size +\\d+ B$")
                .containsPattern("(?m)^  block size +64\\.0 KiB")
                .containsPattern("(?m)^  prefetch +up to 64 blocks")
                .containsPattern("(?m)^  RAM +[\\d.]+ [KMG]iB total")
                .containsPattern("(?m)^  release +no \\(default\\)")
                .containsPattern("(?m)^  budget +[\\d.]+ [KMG]iB");
    }

    @Test
    void aRequestedBackendIsShown() throws Exception {
        String out = DemoOutputTest.runChild(Map.of("HMM4J_BACKEND", "emulated"), List.of(), Info.class);

        assertThat(out).as(out).containsPattern("(?m)^requested backend: emulated")
                .containsPattern("(?m)^  emulated +available \\(requested\\)");
    }
}
