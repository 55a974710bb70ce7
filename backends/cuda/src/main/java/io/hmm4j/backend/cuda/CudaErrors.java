package io.hmm4j.backend.cuda;

import io.hmm4j.DeviceException;
import io.hmm4j.DeviceOutOfMemoryException;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Method;
import jcuda.NativePointerObject;
import jcuda.driver.CUresult;

/** Turns CUresult codes into exceptions naming the call, the device and the code's name. */
final class CudaErrors {

    private static final MethodHandle NATIVE_POINTER = nativePointerGetter();

    private CudaErrors() {}

    /** Throws a {@link DeviceException} if {@code result} is not CUDA_SUCCESS. */
    static void check(int result, String call, String deviceId) {
        if (result != CUresult.CUDA_SUCCESS)
            throw failure(result, call, deviceId);
    }

    /** The exception for a failed call: "cuMemcpyHtoD failed on cuda:0: CUDA_ERROR_ILLEGAL_ADDRESS". */
    static DeviceException failure(int result, String call, String deviceId) {
        String message = call + " failed on " + deviceId + ": " + name(result);
        if (result == CUresult.CUDA_ERROR_OUT_OF_MEMORY)
            return new DeviceOutOfMemoryException(message, deviceId);
        return new DeviceException(message, deviceId, result);
    }

    /** The CUresult constant's name, e.g. CUDA_ERROR_NO_DEVICE. */
    static String name(int result) {
        return CUresult.stringFor(result);
    }

    /**
     * The raw native pointer of a JCuda handle (CUcontext, CUstream, CUdeviceptr): the fault engine's C copy table
     * needs the same objects JCuda created. {@code getNativePointer} is protected, hence the reflection.
     */
    static long address(NativePointerObject handle) {
        try {
            return (long) NATIVE_POINTER.invokeExact(handle);
        } catch (Error | RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("cannot read the native pointer of " + handle, e);
        }
    }

    private static MethodHandle nativePointerGetter() {
        try {
            Method getter = NativePointerObject.class.getDeclaredMethod("getNativePointer");
            getter.setAccessible(true);
            return MethodHandles.lookup().unreflect(getter)
                    .asType(java.lang.invoke.MethodType.methodType(long.class, NativePointerObject.class));
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new ExceptionInInitializerError(new IllegalStateException(
                    "JCuda's NativePointerObject.getNativePointer is not accessible; is jcuda on the class path"
                            + " or an automatic module (which opens its packages)?", e));
        }
    }
}
