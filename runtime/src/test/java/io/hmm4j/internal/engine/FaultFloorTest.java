package io.hmm4j.internal.engine;

import static org.assertj.core.api.Assertions.assertThat;

import io.hmm4j.RuntimeInfo;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import org.junit.jupiter.api.Test;

/** The benchmark floor (hmm4j_floor_*): the engine's handler serves its faults with a copy and one mprotect. */
class FaultFloorTest {

    private static final long BLOCK = 64 * 1024;
    private static final Linker LINKER = Linker.nativeLinker();

    private static MethodHandle bind(String name, FunctionDescriptor descriptor) {
        SymbolLookup engine = SymbolLookup.libraryLookup(RuntimeInfo.engineLibrary(), Arena.global());
        return LINKER.downcallHandle(engine.find(name).orElseThrow(), descriptor);
    }

    @Test
    void aProtectedFloorReadsTheDeviceBytesThroughTheHandlerAndOnlyOneFloorExists() throws Throwable {
        Engine.ensureInitialized();
        Engine.ensureHandler();
        MethodHandle create = bind("hmm4j_floor_create", FunctionDescriptor.of(ValueLayout.JAVA_INT,
                ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS));
        MethodHandle userBase = bind("hmm4j_floor_user_base", FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS));
        MethodHandle protect = bind("hmm4j_floor_protect",
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        MethodHandle destroy = bind("hmm4j_floor_destroy", FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            assertThat((int) create.invokeExact(4 * BLOCK, BLOCK, out)).isZero();
            MemorySegment floor = out.get(ValueLayout.ADDRESS, 0);
            assertThat((int) create.invokeExact(4 * BLOCK, BLOCK, out)).as("one at a time").isEqualTo(-16);
            MemorySegment user = ((MemorySegment) userBase.invokeExact(floor)).reinterpret(4 * BLOCK);
            assertThat(user.get(ValueLayout.JAVA_BYTE, 0)).as("engine view starts zeroed").isZero();
            for (int release = 0; release <= 1; release++) {
                assertThat((int) protect.invokeExact(floor, release)).isZero();
                for (long offset = 0; offset < 4 * BLOCK; offset += 4096)
                    assertThat(user.get(ValueLayout.JAVA_BYTE, offset)).as("byte %d", offset).isEqualTo((byte) 1);
            }
            destroy.invokeExact(floor);
            assertThat((int) create.invokeExact(BLOCK, BLOCK, out)).as("free again").isZero();
            destroy.invokeExact(out.get(ValueLayout.ADDRESS, 0));
        }
    }
}
