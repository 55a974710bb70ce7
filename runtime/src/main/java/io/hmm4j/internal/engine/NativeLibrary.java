package io.hmm4j.internal.engine;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds, extracts and loads libhmm4j. One loader: an explicit path ({@code -Dhmm4j.native.path}) first,
 * else the jar's resource extracted to a work dir. Every failed attempt is kept for the final error, each
 * with the fix named. Loaded into the global arena: the fault handler's code must stay mapped until exit.
 */
public final class NativeLibrary {

    public static final String PATH_PROPERTY = "hmm4j.native.path";
    public static final String WORK_DIR_PROPERTY = "hmm4j.native.workdir";
    static final int EXPECTED_ABI_VERSION = 1;

    private NativeLibrary() {}

    /** The library that loaded: its symbols and the file they came from. */
    private record Loaded(SymbolLookup lookup, Path path) {}

    private static final class Holder {
        static final Loaded LOADED;
        static final Throwable FAILURE;

        static {
            Loaded loaded = null;
            Throwable failure = null;
            try {
                loaded = load();
                installHandler(loaded.lookup());
            } catch (UnsatisfiedLinkError | RuntimeException e) {
                failure = e;
                loaded = null;
            }
            LOADED = loaded;
            FAILURE = failure;
        }
    }

    /**
     * Installs the SIGSEGV handler as soon as the library loads: before any backend probe loads a driver
     * (PoCL's LLVM saves and restores signal handlers, and must see ours already in place).
     */
    private static void installHandler(SymbolLookup lookup) {
        MemorySegment init = lookup.find("hmm4j_engine_init")
                .orElseThrow(() -> new UnsatisfiedLinkError("hmm4j_engine_init missing from libhmm4j"));
        int rc;
        try {
            rc = (int) Linker.nativeLinker().downcallHandle(init, FunctionDescriptor.of(ValueLayout.JAVA_INT)).invokeExact();
        } catch (Throwable e) {
            throw new UnsatisfiedLinkError("calling hmm4j_engine_init failed: " + e);
        }
        if (rc != 0)
            throw new UnsatisfiedLinkError("hmm4j_engine_init failed: " + NativeErrors.describe(rc)
                    + " (the SIGSEGV handler could not be installed)");
    }

    /** The platform directory in the jar, e.g. {@code linux-x86_64}; {@code null} when unsupported. */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        if (!os.startsWith("linux"))
            return null;
        return switch (arch) {
            case "amd64", "x86_64" -> "linux-x86_64";
            default -> null;
        };
    }

    public static boolean isAvailable() {
        return Holder.FAILURE == null;
    }

    /** Why the engine cannot load, or {@code null}. */
    public static Throwable unavailabilityCause() {
        return Holder.FAILURE;
    }

    /** @throws UnsatisfiedLinkError with every attempt and its fix when the engine cannot load */
    public static void ensureAvailability() {
        if (Holder.FAILURE != null) {
            UnsatisfiedLinkError error = new UnsatisfiedLinkError(Holder.FAILURE.getMessage());
            error.initCause(Holder.FAILURE);
            throw error;
        }
    }

    public static SymbolLookup lookup() {
        ensureAvailability();
        return Holder.LOADED.lookup();
    }

    /**
     * The file the engine was loaded from (the extracted copy, or {@code -Dhmm4j.native.path}).
     *
     * @throws UnsatisfiedLinkError when the engine cannot load
     */
    public static Path path() {
        ensureAvailability();
        return Holder.LOADED.path();
    }

    private static Loaded load() {
        List<String> attempts = new ArrayList<>();
        String platform = platform();
        if (platform == null) {
            throw new UnsatisfiedLinkError("hmm4j's fault engine supports linux-x86_64 only; this JVM runs on "
                    + System.getProperty("os.name") + "/" + System.getProperty("os.arch"));
        }
        String explicit = System.getProperty(PATH_PROPERTY);
        if (explicit != null) {
            Path path = Path.of(explicit);
            SymbolLookup lookup = tryLoad(path, attempts, "-D" + PATH_PROPERTY + "=" + explicit);
            if (lookup != null)
                return new Loaded(lookup, path);
        } else {
            String resource = "/META-INF/native/" + platform + "/libhmm4j.so";
            Path extracted = extract(resource, attempts);
            if (extracted != null) {
                SymbolLookup lookup = tryLoad(extracted, attempts, "extracted " + resource + " to " + extracted);
                if (lookup != null)
                    return new Loaded(lookup, extracted);
            }
        }
        throw new UnsatisfiedLinkError("cannot load hmm4j's native engine:\n  - " + String.join("\n  - ", attempts));
    }

    private static Path extract(String resource, List<String> attempts) {
        try (InputStream in = NativeLibrary.class.getResourceAsStream(resource)) {
            if (in == null) {
                attempts.add("resource " + resource + " is not in the runtime jar (was it built with gcc on"
                        + " linux-x86_64? run the Maven build, or set -D" + PATH_PROPERTY + ")");
                return null;
            }
            Path dir = workDir();
            Path file = Files.createTempFile(dir, "libhmm4j-", ".so");
            file.toFile().deleteOnExit();
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
            return file;
        } catch (IOException | SecurityException e) {
            attempts.add("extracting " + resource + " failed: " + e
                    + " (set -D" + WORK_DIR_PROPERTY + " to a writable directory)");
            return null;
        }
    }

    private static Path workDir() throws IOException {
        String configured = System.getProperty(WORK_DIR_PROPERTY);
        Path dir = configured != null ? Path.of(configured)
                : Path.of(System.getProperty("java.io.tmpdir"), "hmm4j-" + System.getProperty("user.name", "user"));
        if (!Files.isDirectory(dir))
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        return dir;
    }

    private static SymbolLookup tryLoad(Path path, List<String> attempts, String what) {
        SymbolLookup lookup;
        try {
            lookup = SymbolLookup.libraryLookup(path, Arena.global());
        } catch (IllegalArgumentException e) {
            String hint = e.getMessage() != null && e.getMessage().contains("wrong ELF class")
                    ? " (wrong architecture: this JVM is " + System.getProperty("os.arch") + ")"
                    : e.getMessage() != null && e.getMessage().contains("failed to map")
                            ? " (is the directory mounted noexec? set -D" + WORK_DIR_PROPERTY + ")"
                            : "";
            attempts.add(what + ": " + e.getMessage() + hint);
            return null;
        }
        MemorySegment version = lookup.find("hmm4j_abi_version").orElse(null);
        if (version == null) {
            attempts.add(what + ": not an hmm4j engine (no hmm4j_abi_version symbol)");
            return null;
        }
        int abi;
        try {
            abi = (int) Linker.nativeLinker().downcallHandle(version, FunctionDescriptor.of(ValueLayout.JAVA_INT))
                    .invokeExact();
        } catch (Throwable e) {
            attempts.add(what + ": calling hmm4j_abi_version failed: " + e);
            return null;
        }
        if (abi != EXPECTED_ABI_VERSION) {
            attempts.add(what + ": ABI version " + abi + ", this runtime needs " + EXPECTED_ABI_VERSION
                    + " (a stale library? rebuild or drop -D" + PATH_PROPERTY + ")");
            return null;
        }
        return lookup;
    }
}
