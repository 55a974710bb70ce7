package io.hmm4j.internal.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The bundled library is extracted where no other local user can replace it before it is loaded: a directory
 * the process creates itself (0700), a 0600 file checked before loading, nothing left behind, stale copies of
 * crashed processes cleaned. Loading runs in child JVMs (the loader runs once per JVM).
 */
class NativeLibraryExtractionTest {

    /** Runs in the child JVM: loads the engine, then lists the directories named in args while it is loaded. */
    public static void main(String[] args) throws IOException {
        System.out.println(NativeLibrary.isAvailable() ? "AVAILABLE" : "UNAVAILABLE: " + NativeLibrary.unavailabilityCause().getMessage());
        if (NativeLibrary.isAvailable())
            System.out.println("PATH " + NativeLibrary.path());
        for (String dir : args) {
            try (Stream<Path> entries = Files.list(Path.of(dir))) {
                System.out.println("LISTING " + dir + " " + entries.map(p -> p.getFileName().toString()).sorted().toList());
            }
        }
    }

    private static String runChild(List<String> properties, String... args) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of(java, "--enable-native-access=ALL-UNNAMED"));
        command.addAll(properties);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), NativeLibraryExtractionTest.class.getName()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as(out).isTrue();
        return out;
    }

    private static byte[] bundledLibrary() throws IOException {
        try (InputStream in = NativeLibrary.class.getResourceAsStream("/META-INF/native/" + NativeLibrary.platform() + "/libhmm4j.so")) {
            assertThat(in).as("the bundled library").isNotNull();
            return in.readAllBytes();
        }
    }

    private static String mode(Path path) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(path, java.nio.file.LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void theCopyLivesInANewPrivateDirectoryAsAPrivateFile(@TempDir Path parent) throws Exception {
        byte[] library = bundledLibrary();
        Path file = NativeLibrary.extractInto(parent, library);
        assertThat(file.getParent().getParent()).isEqualTo(parent);
        assertThat(file.getParent().getFileName().toString()).startsWith("hmm4j-" + ProcessHandle.current().pid() + "-");
        assertThat(mode(file.getParent())).isEqualTo("rwx------");
        assertThat(mode(file)).isEqualTo("rw-------");
        assertThat(Files.readAllBytes(file)).isEqualTo(library);
    }

    @Test
    void aPreCreatedSymlinkedDirectoryIsNeverWrittenAndTheCopyGoesAtExit(@TempDir Path tmp) throws Exception {
        // Another user's directory, and the well-known name under the temp dir pointing at it.
        Path planted = Files.createDirectory(tmp.resolve("theirs"));
        Files.setPosixFilePermissions(planted, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path temp = Files.createDirectory(tmp.resolve("temp"));
        Files.createSymbolicLink(temp.resolve("hmm4j-" + System.getProperty("user.name")), planted);
        String out = runChild(List.of("-Djava.io.tmpdir=" + temp), planted.toString());
        assertThat(out).as(out).contains("AVAILABLE").doesNotContain("UNAVAILABLE")
                .contains("LISTING " + planted + " []").containsPattern("PATH " + temp + "/hmm4j-[0-9]+-[^/]+/libhmm4j.so");
        // Gone with the JVM that loaded it.
        try (Stream<Path> entries = Files.list(temp)) {
            assertThat(entries.map(p -> p.getFileName().toString())).containsExactly("hmm4j-" + System.getProperty("user.name"));
        }
    }

    @Test
    void aWorkDirOfAnotherUserIsRefused(@TempDir Path tmp) throws Exception {
        Path theirs = Files.createDirectory(tmp.resolve("theirs"));
        UserPrincipal nobody;
        try {
            nobody = theirs.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
            Files.setOwner(theirs, nobody);
        } catch (IOException e) {
            Assumptions.abort("cannot give a directory to user nobody here (needs root): " + e);
            return;
        }
        String out = runChild(List.of("-Dhmm4j.native.workdir=" + theirs));
        assertThat(out).as(out).contains("UNAVAILABLE").contains("refusing " + theirs).contains("belongs to uid");
        try (Stream<Path> entries = Files.list(theirs)) {
            assertThat(entries).isEmpty();
        }
    }

    @Test
    void aWorkDirOthersMayWriteWithoutStickyBitIsRefused(@TempDir Path tmp) throws Exception {
        Path open = Files.createDirectory(tmp.resolve("open"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
        String out = runChild(List.of("-Dhmm4j.native.workdir=" + open));
        assertThat(out).as(out).contains("UNAVAILABLE").contains("refusing " + open).contains("no sticky bit");
    }

    @Test
    void staleCopiesAreCleanedAndNothingElse(@TempDir Path parent) throws Exception {
        Process finished = new ProcessBuilder("true").start();
        finished.waitFor();
        long deadPid = finished.pid();
        FileTime old = FileTime.from(Instant.now().minus(Duration.ofHours(1)));
        Path stale = Files.createDirectory(parent.resolve("hmm4j-" + deadPid + "-stale"));
        Files.writeString(stale.resolve("libhmm4j.so"), "x");
        Files.setLastModifiedTime(stale, old);
        Path live = Files.createDirectory(parent.resolve("hmm4j-" + ProcessHandle.current().pid() + "-live"));
        Files.setLastModifiedTime(live, old);
        // A dead pid in another pid namespace may be a live process there: a fresh directory is left alone.
        Path fresh = Files.createDirectory(parent.resolve("hmm4j-" + deadPid + "-fresh"));
        Path legacy = Files.createDirectory(parent.resolve("hmm4j-" + System.getProperty("user.name")));
        Files.writeString(legacy.resolve("libhmm4j-123.so"), "x");
        Files.setLastModifiedTime(legacy.resolve("libhmm4j-123.so"), old);
        Files.writeString(legacy.resolve("libhmm4j-456.so"), "being loaded by an older runtime right now");
        Files.writeString(legacy.resolve("notes.txt"), "keep");
        Path victim = Files.createDirectory(parent.resolve("victim"));
        Files.writeString(victim.resolve("libhmm4j.so"), "keep");
        Path link = Files.createSymbolicLink(parent.resolve("hmm4j-" + deadPid + "-link"), victim);

        NativeLibrary.cleanStale(parent);

        assertThat(stale).doesNotExist();
        assertThat(live).isDirectory();
        assertThat(fresh).isDirectory();
        assertThat(legacy.resolve("libhmm4j-123.so")).doesNotExist();
        assertThat(legacy.resolve("libhmm4j-456.so")).exists();
        assertThat(legacy.resolve("notes.txt")).exists();
        assertThat(Files.isSymbolicLink(link)).isTrue();
        assertThat(victim.resolve("libhmm4j.so")).exists();
    }
}
