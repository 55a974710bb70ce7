package io.hmm4j.backend.opencl;

import io.hmm4j.DeviceException;
import io.hmm4j.DeviceOutOfMemoryException;
import java.lang.reflect.Method;
import org.jocl.CL;
import org.jocl.NativePointerObject;

/** Error checking and native pointers for JOCL calls, in one place. */
final class OpenCl {

    private OpenCl() {}

    private static final Method NATIVE_POINTER;

    static {
        try {
            NATIVE_POINTER = NativePointerObject.class.getDeclaredMethod("getNativePointer");
            NATIVE_POINTER.setAccessible(true);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** The raw cl_* handle behind a JOCL object, for the engine's native copy table. */
    static long nativePointer(NativePointerObject object) {
        try {
            return (long) NATIVE_POINTER.invoke(object);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot read JOCL's native pointer of " + object, e);
        }
    }

    static String errorName(int status) {
        return CL.stringFor_errorCode(status);
    }

    /** Throws a device exception naming the call and the CL error when {@code status} is not CL_SUCCESS. */
    static void check(String call, int status, String deviceId) {
        if (status == CL.CL_SUCCESS)
            return;
        String message = call + " failed on " + deviceId + ": " + errorName(status);
        if (status == CL.CL_MEM_OBJECT_ALLOCATION_FAILURE || status == CL.CL_OUT_OF_RESOURCES
                || status == CL.CL_OUT_OF_HOST_MEMORY || status == CL.CL_INVALID_BUFFER_SIZE)
            throw new DeviceOutOfMemoryException(message + " (" + status + ")", deviceId);
        throw new DeviceException(message, deviceId, status);
    }
}
