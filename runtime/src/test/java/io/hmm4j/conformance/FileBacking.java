package io.hmm4j.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.FloatArray;
import io.hmm4j.ManagedHeap;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@link ByteModel} over file-backed arrays: one file per slot, mapped READ_WRITE. A slot reopened after a free
 * maps its file again, so it holds what was closed; the file's bytes must equal the model after every force and
 * after every close.
 */
public final class FileBacking implements ByteModel.Backing {

    private final Path directory;

    public FileBacking(Path directory) {
        this.directory = directory;
    }

    public Path file(int slot) {
        return directory.resolve("slot-" + slot + ".bin");
    }

    @Override
    public FloatArray open(ManagedHeap heap, int slot, int length, byte[] model) {
        try {
            if (Files.notExists(file(slot)))
                Files.createFile(file(slot));
            FloatArray array = heap.mapFloats(file(slot), 0, length, FileChannel.MapMode.READ_WRITE);
            assertThat(array.segment().toArray(ValueLayout.JAVA_BYTE))
                    .as("slot %d mapped again holds its file", slot).isEqualTo(model);
            return array;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public boolean keepsContents() {
        return true;
    }

    @Override
    public void beforeClose(int slot, FloatArray array, byte[] model) {
        array.force();
        assertThat(bytes(slot)).as("file of slot %d after force", slot).isEqualTo(model);
    }

    @Override
    public void afterClose(int slot, byte[] model) {
        assertThat(bytes(slot)).as("file of slot %d after close", slot).isEqualTo(model);
    }

    private byte[] bytes(int slot) {
        try {
            return Files.readAllBytes(file(slot));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
