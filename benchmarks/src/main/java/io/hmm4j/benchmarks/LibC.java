package io.hmm4j.benchmarks;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The few libc calls the raw baselines need (the floor a fault engine cannot beat): anonymous mappings,
 * mprotect and memcpy, called through FFM exactly as C would call them. None of them waits, so they are
 * bound as critical downcalls (no thread-state transition), the cheapest call FFM has.
 */
final class LibC {

    static final int PROT_NONE = 0;
    static final int PROT_READ = 1;
    static final int PROT_WRITE = 2;
    private static final int MAP_PRIVATE = 0x02;
    private static final int MAP_ANONYMOUS = 0x20;
    private static final int MADV_DONTNEED = 4;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle MMAP = bind("mmap", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS,
            ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
    private static final MethodHandle MUNMAP = bind("munmap",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG));
    private static final MethodHandle MPROTECT = bind("mprotect",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT),
            Linker.Option.critical(false));
    private static final MethodHandle MADVISE = bind("madvise",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT),
            Linker.Option.critical(false));
    private static final MethodHandle MEMCPY = bind("memcpy",
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG),
            Linker.Option.critical(false));

    private LibC() {}

    private static MethodHandle bind(String name, FunctionDescriptor descriptor, Linker.Option... options) {
        MemorySegment symbol = LINKER.defaultLookup().find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name));
        return LINKER.downcallHandle(symbol, descriptor, options);
    }

    /** An anonymous private read-write mapping of {@code bytes}, pre-touched so page faults are not measured. */
    static MemorySegment mapAnonymous(long bytes) {
        MemorySegment address;
        try {
            address = (MemorySegment) MMAP.invokeExact(MemorySegment.NULL, bytes, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0L);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (address.address() == -1L)
            throw new OutOfMemoryError("mmap of " + bytes + " bytes failed");
        MemorySegment mapping = address.reinterpret(bytes);
        mapping.fill((byte) 1);
        return mapping;
    }

    static void unmap(MemorySegment mapping) {
        int rc;
        try {
            rc = (int) MUNMAP.invokeExact(mapping, mapping.byteSize());
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("munmap", rc);
    }

    static void mprotect(MemorySegment range, int protection) {
        int rc;
        try {
            rc = (int) MPROTECT.invokeExact(range, range.byteSize(), protection);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("mprotect", rc);
    }

    /** Gives the range's pages back to the kernel; the next touch maps fresh zero pages. */
    static void dontNeed(MemorySegment range) {
        int rc;
        try {
            rc = (int) MADVISE.invokeExact(range, range.byteSize(), MADV_DONTNEED);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("madvise", rc);
    }

    static void memcpy(MemorySegment destination, MemorySegment source, long bytes) {
        try {
            MemorySegment ignored = (MemorySegment) MEMCPY.invokeExact(destination, source, bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static void check(String call, int rc) {
        if (rc != 0)
            throw new IllegalStateException(call + " failed: " + rc);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException e)
            throw e;
        if (t instanceof Error e)
            throw e;
        return new IllegalStateException(t);
    }
}
