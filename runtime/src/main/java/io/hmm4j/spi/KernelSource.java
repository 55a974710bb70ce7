package io.hmm4j.spi;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * A user kernel to load: OpenCL C source, PTX, a cubin, or a Java kernel for the emulated backend.
 *
 * @param language what {@code code} is
 * @param entryPoint the kernel function's name
 * @param code the source or binary ({@code null} for {@link Language#JAVA})
 * @param javaKernel the Java body ({@code null} unless {@link Language#JAVA})
 */
public record KernelSource(Language language, String entryPoint, byte[] code, JavaKernel javaKernel) {

    public enum Language { OPENCL_C, PTX, CUBIN, JAVA }

    public KernelSource {
        Objects.requireNonNull(language, "language");
        Objects.requireNonNull(entryPoint, "entryPoint");
        if (entryPoint.isBlank())
            throw new IllegalArgumentException("entryPoint is blank");
        if (language == Language.JAVA ? javaKernel == null : code == null)
            throw new IllegalArgumentException(language + " kernel '" + entryPoint + "' has no "
                    + (language == Language.JAVA ? "Java body" : "code"));
        code = code == null ? null : code.clone();
    }

    public static KernelSource openCl(String entryPoint, String source) {
        return new KernelSource(Language.OPENCL_C, entryPoint, source.getBytes(StandardCharsets.UTF_8), null);
    }

    public static KernelSource ptx(String entryPoint, String ptx) {
        return new KernelSource(Language.PTX, entryPoint, ptx.getBytes(StandardCharsets.UTF_8), null);
    }

    public static KernelSource cubin(String entryPoint, byte[] cubin) {
        return new KernelSource(Language.CUBIN, entryPoint, cubin, null);
    }

    public static KernelSource java(String name, JavaKernel body) {
        return new KernelSource(Language.JAVA, name, null, body);
    }

    @Override
    public byte[] code() {
        return code == null ? null : code.clone();
    }

    public String text() {
        return new String(code, StandardCharsets.UTF_8);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof KernelSource k && language == k.language && entryPoint.equals(k.entryPoint)
                && Arrays.equals(code, k.code) && Objects.equals(javaKernel, k.javaKernel);
    }

    @Override
    public int hashCode() {
        return Objects.hash(language, entryPoint, Arrays.hashCode(code), javaKernel);
    }

    @Override
    public String toString() {
        return "KernelSource[" + language + " " + entryPoint + "]";
    }
}
