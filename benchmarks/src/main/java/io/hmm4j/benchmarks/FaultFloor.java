package io.hmm4j.benchmarks;

import io.hmm4j.RuntimeInfo;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The engine's benchmark floor ({@code hmm4j_floor_*} in hmm4j.h): memory laid out like a region whose faults
 * the engine's own SIGSEGV handler serves with the trap, one memcpy of the block and one mprotect, nothing else.
 * Bound here rather than in the runtime's bindings because only benchmarks use it.
 */
final class FaultFloor implements AutoCloseable {

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup ENGINE = SymbolLookup.libraryLookup(RuntimeInfo.engineLibrary(), Arena.global());
    private static final MethodHandle CREATE = bind("hmm4j_floor_create",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
    private static final MethodHandle USER_BASE = bind("hmm4j_floor_user_base",
            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
    private static final MethodHandle PROTECT = bind("hmm4j_floor_protect",
            FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
    private static final MethodHandle DESTROY = bind("hmm4j_floor_destroy",
            FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));

    private final MemorySegment floor;
    private final MemorySegment userView;

    FaultFloor(long bytes, long blockSize) {
        try (Arena scratch = Arena.ofConfined()) {
            MemorySegment out = scratch.allocate(ValueLayout.ADDRESS);
            check("hmm4j_floor_create", (int) CREATE.invokeExact(bytes, blockSize, out));
            floor = out.get(ValueLayout.ADDRESS, 0);
            userView = ((MemorySegment) USER_BASE.invokeExact(floor)).reinterpret(bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The view whose faults the floor serves. */
    MemorySegment userView() {
        return userView;
    }

    /** Makes every block fault again; with {@code releasePages} its pages are punched out as well. */
    void protect(boolean releasePages) {
        int rc;
        try {
            rc = (int) PROTECT.invokeExact(floor, releasePages ? 1 : 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        check("hmm4j_floor_protect", rc);
    }

    @Override
    public void close() {
        try {
            DESTROY.invokeExact(floor);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static MethodHandle bind(String name, FunctionDescriptor descriptor) {
        MemorySegment symbol = ENGINE.find(name)
                .orElseThrow(() -> new UnsatisfiedLinkError("the hmm4j engine has no " + name + " (older library?)"));
        return LINKER.downcallHandle(symbol, descriptor);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException e)
            throw e;
        if (t instanceof Error e)
            throw e;
        return new IllegalStateException(t);
    }

    private static void check(String call, int rc) {
        if (rc < 0)
            throw new IllegalStateException(call + " failed: " + rc);
    }
}
