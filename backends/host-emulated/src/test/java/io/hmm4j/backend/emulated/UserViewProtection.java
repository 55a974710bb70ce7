package io.hmm4j.backend.emulated;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The protection the kernel has for an address of this process, from /proc/self/maps. */
final class UserViewProtection {

    private UserViewProtection() {
    }

    /** The permissions ("rw-s", "r--s", "---s") of the mapping holding {@code address}. */
    static String at(long address) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            String[] fields = line.split("\\s+");
            String[] range = fields[0].split("-");
            if (Long.compareUnsigned(address, Long.parseUnsignedLong(range[0], 16)) >= 0
                    && Long.compareUnsigned(address, Long.parseUnsignedLong(range[1], 16)) < 0)
                return fields[1];
        }
        throw new IllegalStateException("no mapping holds 0x" + Long.toHexString(address));
    }
}
