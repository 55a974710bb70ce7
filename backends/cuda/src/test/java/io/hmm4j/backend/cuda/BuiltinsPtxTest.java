package io.hmm4j.backend.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import io.hmm4j.BuiltinKernel;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The committed PTX (no GPU needed): every entry point is there, the header is the baseline, ptxas accepts it. */
class BuiltinsPtxTest {

    static String ptx() throws IOException {
        try (InputStream in = CudaDevice.class.getResourceAsStream("/io/hmm4j/backend/cuda/builtins.ptx")) {
            assertThat(in).as("builtins.ptx on the class path").isNotNull();
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    @Test
    void everyBuiltinHasAnEntry() throws IOException {
        String ptx = ptx();
        List<String> entries = new ArrayList<>();
        for (BuiltinKernel k : BuiltinKernel.values())
            entries.add("hmm4j_" + k.name().toLowerCase(Locale.ROOT));
        entries.add("hmm4j_zero_first");
        for (String entry : entries)
            assertThat(ptx).as("entry %s", entry).contains(".visible .entry " + entry + "(");
    }

    @Test
    void headerIsTheSm70Baseline() throws IOException {
        String ptx = ptx();
        assertThat(ptx).containsPattern("(?m)^\\.version 7\\.0$");
        assertThat(ptx).containsPattern("(?m)^\\.target sm_70$");
        assertThat(ptx).containsPattern("(?m)^\\.address_size 64$");
    }

    @Test
    void parametersMatchBuiltinKernelSignatures() throws IOException {
        String ptx = ptx();
        // n is a 64-bit integer, scalars are f32, width/height u32/s32.
        assertThat(entryParams(ptx, "hmm4j_fill")).containsExactly(".u64", ".f32", ".u64");
        assertThat(entryParams(ptx, "hmm4j_scale")).containsExactly(".u64", ".f32", ".u64");
        assertThat(entryParams(ptx, "hmm4j_axpy")).containsExactly(".u64", ".u64", ".f32", ".u64");
        assertThat(entryParams(ptx, "hmm4j_dot")).containsExactly(".u64", ".u64", ".u64", ".u64");
        assertThat(entryParams(ptx, "hmm4j_sum")).containsExactly(".u64", ".u64", ".u64");
        assertThat(entryParams(ptx, "hmm4j_stencil_2d")).containsExactly(".u64", ".u64", ".u32", ".u32", ".f32");
    }

    private static List<String> entryParams(String ptx, String entry) {
        int start = ptx.indexOf(".visible .entry " + entry + "(");
        assertThat(start).as("entry %s", entry).isNotNegative();
        String params = ptx.substring(start, ptx.indexOf(')', start));
        List<String> types = new ArrayList<>();
        for (String line : params.split("\n")) {
            line = line.strip();
            if (line.startsWith(".param "))
                types.add(line.split("\\s+")[1]);
        }
        return types;
    }

    @ParameterizedTest
    @ValueSource(strings = {"sm_70", "sm_75", "sm_80", "sm_86", "sm_89", "sm_90"})
    void ptxasAssemblesIt(String arch) throws Exception {
        String ptxas = onPath("ptxas");
        Assumptions.assumeTrue(ptxas != null, "ptxas is not on PATH");
        Path file = Files.createTempFile("hmm4j-builtins", ".ptx");
        try {
            Files.writeString(file, ptx());
            Process p = new ProcessBuilder(ptxas, "-arch=" + arch, "-O3", file.toString(), "-o", "/dev/null")
                    .redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
            Assumptions.assumeFalse(output.contains("is not defined for option 'gpu-name'"),
                    "this ptxas no longer targets " + arch + " (CUDA 13 dropped Volta): " + output.strip());
            assertThat(p.exitValue()).as("ptxas -arch=%s output:%n%s", arch, output).isZero();
        } finally {
            Files.deleteIfExists(file);
        }
    }

    static String onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path candidate = Path.of(dir.isEmpty() ? "." : dir, tool);
            if (Files.isExecutable(candidate))
                return candidate.toString();
        }
        return null;
    }
}
