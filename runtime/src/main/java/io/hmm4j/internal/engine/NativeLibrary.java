package io.hmm4j.internal.engine;

import io.hmm4j.internal.ffm.hmm4j_h;
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
import java.nio.ByteBuffer;
import java.nio.channels.SeekableByteChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.LinkOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;

/**
 * Finds, extracts and loads libhmm4j. One loader: an explicit path ({@code -Dhmm4j.native.path}) first,
 * else the jar's resource extracted into a private directory that this process creates (0700) under
 * {@code -Dhmm4j.native.workdir} or {@code java.io.tmpdir}, checked, loaded, and deleted at exit (copies left by
 * a crash are cleaned by the next start). Every failed attempt is kept for the final error, each
 * with the fix named. Loaded into the global arena: the fault handler's code must stay mapped until exit.
 */
public final class NativeLibrary {

    public static final String PATH_PROPERTY = "hmm4j.native.path";
    public static final String WORK_DIR_PROPERTY = "hmm4j.native.workdir";
    static final int EXPECTED_ABI_VERSION = hmm4j_h.HMM4J_ABI_VERSION;

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
     * The file the engine was loaded from ({@code -Dhmm4j.native.path}, or the copy extracted from the jar into
     * a private directory, deleted when the JVM exits).
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
                if (lookup != null) {
                    // Kept while the process runs, so diagnostics and debuggers find the file; an abnormal exit
                    // leaves it to cleanStale. deleteOnExit runs in reverse order: the file, then its directory.
                    extracted.getParent().toFile().deleteOnExit();
                    extracted.toFile().deleteOnExit();
                    return new Loaded(lookup, extracted);
                }
                deletePrivateDirectory(extracted.getParent());
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
            byte[] library = in.readAllBytes();
            Path parent = workParent();
            cleanStale(parent);
            return extractInto(parent, library);
        } catch (IOException | SecurityException e) {
            attempts.add("extracting " + resource + " failed: " + e
                    + " (set -D" + WORK_DIR_PROPERTY + " to a directory of your own)");
            return null;
        }
    }

    private static final String DIR_PREFIX = "hmm4j-";
    private static final String LIBRARY_FILE = "libhmm4j.so";
    private static final int PRIVATE_DIR_MODE = 0700;
    private static final int PRIVATE_FILE_MODE = 0600;
    /** Older than this, a private directory of a process that no longer runs is left over from a crash. */
    private static final Duration STALE_AFTER = Duration.ofMinutes(1);

    /**
     * The directory the private extraction directories are created in: {@code -Dhmm4j.native.workdir}, else
     * {@code java.io.tmpdir}. Another user who could rename entries in it could swap our directory for theirs
     * between extraction and loading, so it must belong to this user or root, and be writable by others only
     * with the sticky bit (as /tmp is).
     */
    static Path workParent() throws IOException {
        String configured = System.getProperty(WORK_DIR_PROPERTY);
        Path parent = Path.of(configured != null ? configured : System.getProperty("java.io.tmpdir"));
        if (configured != null && !Files.exists(parent))
            Files.createDirectories(parent, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        int uid = (int) Files.getAttribute(parent, "unix:uid");
        int mode = (int) Files.getAttribute(parent, "unix:mode");
        if (uid != effectiveUid() && uid != 0)
            throw new IOException("refusing " + parent + " as the directory to extract libhmm4j into: it belongs to uid "
                    + uid + ", not to this user (" + effectiveUid() + ") or root");
        boolean othersMayWrite = (mode & 0022) != 0;
        boolean sticky = (mode & 01000) != 0;
        if (othersMayWrite && !sticky)
            throw new IOException("refusing " + parent + " as the directory to extract libhmm4j into: other users may"
                    + " write to it (mode " + Integer.toOctalString(mode & 07777) + ") and it has no sticky bit");
        return parent;
    }

    /**
     * Writes the library into a directory this process creates itself (mode 0700, named after its pid, so a
     * directory someone else created, or a symlink, is never used), as a new 0600 file, and checks owner, modes
     * and content before it is loaded.
     */
    static Path extractInto(Path parent, byte[] library) throws IOException {
        Path dir = Files.createTempDirectory(parent, DIR_PREFIX + ProcessHandle.current().pid() + "-",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        try {
            Path file = dir.resolve(LIBRARY_FILE);
            try (SeekableByteChannel out = Files.newByteChannel(file, EnumSet.of(StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE), PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")))) {
                ByteBuffer bytes = ByteBuffer.wrap(library);
                while (bytes.hasRemaining())
                    out.write(bytes);
            }
            requirePrivate(dir, PRIVATE_DIR_MODE, true);
            requirePrivate(file, PRIVATE_FILE_MODE, false);
            if (!MessageDigest.isEqual(sha256(library), sha256(Files.readAllBytes(file))))
                throw new IOException("refusing " + file + ": its content is not the library that was written");
            return file;
        } catch (IOException | RuntimeException e) {
            deletePrivateDirectory(dir);
            throw e;
        }
    }

    private static void requirePrivate(Path path, int mode, boolean directory) throws IOException {
        BasicFileAttributes attributes = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        if (attributes.isSymbolicLink() || (directory ? !attributes.isDirectory() : !attributes.isRegularFile()))
            throw new IOException("refusing " + path + ": not a " + (directory ? "directory" : "regular file"));
        int uid = (int) Files.getAttribute(path, "unix:uid", LinkOption.NOFOLLOW_LINKS);
        int actual = (int) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777;
        if (uid != effectiveUid() || actual != mode)
            throw new IOException("refusing " + path + ": owner uid " + uid + " and mode " + Integer.toOctalString(actual)
                    + ", expected uid " + effectiveUid() + " and mode " + Integer.toOctalString(mode));
    }

    /** The owner of /proc/self is the process's effective uid. */
    private static int effectiveUid() throws IOException {
        return (int) Files.getAttribute(Path.of("/proc/self"), "unix:uid");
    }

    private static byte[] sha256(byte[] bytes) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(bytes);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is a required JDK algorithm", e);
        }
    }

    /**
     * Removes the private directories that processes which no longer run left behind ({@code hmm4j-<pid>-*},
     * owned by this user, real directories, older than a minute), and the 0644 copies the loader before them
     * left in {@code hmm4j-<user>}. Never follows a symlink; best effort: a copy it cannot remove stays.
     */
    static void cleanStale(Path parent) {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(parent, DIR_PREFIX + "*")) {
            for (Path entry : entries) {
                BasicFileAttributes attributes = Files.readAttributes(entry, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
                if (!attributes.isDirectory() || (int) Files.getAttribute(entry, "unix:uid", LinkOption.NOFOLLOW_LINKS) != effectiveUid())
                    continue;
                String name = entry.getFileName().toString();
                if (name.equals(DIR_PREFIX + System.getProperty("user.name", "user"))) {
                    deleteOldCopies(entry);
                    continue;
                }
                long pid = pidOf(name);
                if (pid < 0 || ProcessHandle.of(pid).isPresent()
                        || attributes.lastModifiedTime().toInstant().isAfter(Instant.now().minus(STALE_AFTER)))
                    continue;
                deletePrivateDirectory(entry);
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "hmm4j: cleaning stale copies of libhmm4j in " + parent + " failed", e);
        }
    }

    /** The pid in {@code hmm4j-<pid>-<random>}, or -1 for any other name. */
    private static long pidOf(String name) {
        String rest = name.substring(DIR_PREFIX.length());
        int dash = rest.indexOf('-');
        if (dash <= 0)
            return -1;
        try {
            return Long.parseLong(rest.substring(0, dash));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** The old loader's copies; a recent one may belong to a JVM of that version about to load it. */
    private static void deleteOldCopies(Path legacyDir) throws IOException {
        Instant staleBefore = Instant.now().minus(STALE_AFTER);
        try (DirectoryStream<Path> files = Files.newDirectoryStream(legacyDir, "libhmm4j-*.so")) {
            for (Path file : files) {
                if (Files.getLastModifiedTime(file, LinkOption.NOFOLLOW_LINKS).toInstant().isBefore(staleBefore))
                    Files.deleteIfExists(file);
            }
        }
    }

    private static void deleteMatching(Path dir, String glob) throws IOException {
        try (DirectoryStream<Path> files = Files.newDirectoryStream(dir, glob)) {
            for (Path file : files)
                Files.deleteIfExists(file); // a symlink is removed itself, never its target
        }
    }

    /** Deletes the entries of one of our private directories (without following links) and the directory. */
    private static void deletePrivateDirectory(Path dir) {
        try {
            deleteMatching(dir, "*");
            Files.deleteIfExists(dir);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "hmm4j: could not delete " + dir, e);
        }
    }

    private static final System.Logger LOG = System.getLogger("io.hmm4j");

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
