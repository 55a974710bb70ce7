package io.hmm4j.internal.engine;

import io.hmm4j.DeviceException;
import io.hmm4j.DeviceOutOfMemoryException;
import io.hmm4j.HostOutOfMemoryException;
import io.hmm4j.internal.ffm.hmm4j_h;
import java.util.Map;

/** Turns the engine's {@code -errno} results into exceptions that name the call and the error. */
public final class NativeErrors {

    private NativeErrors() {}

    private static final Map<Integer, String> NAMES = Map.ofEntries(
            Map.entry(1, "EPERM Operation not permitted"),
            Map.entry(2, "ENOENT No such file or directory"),
            Map.entry(5, "EIO Input/output error"),
            Map.entry(12, "ENOMEM Cannot allocate memory"),
            Map.entry(14, "EFAULT Bad address"),
            Map.entry(16, "EBUSY Device or resource busy"),
            Map.entry(19, "ENODEV No such device"),
            Map.entry(22, "EINVAL Invalid argument"),
            Map.entry(24, "EMFILE Too many open files"),
            Map.entry(28, "ENOSPC No space left on device"),
            Map.entry(38, "ENOSYS Function not implemented"),
            Map.entry(110, "ETIMEDOUT a peer process sharing the array did not answer in time"));

    public static String describe(int negativeErrno) {
        int errno = -negativeErrno;
        if (errno == hmm4j_h.HMM4J_EMAPLIMIT)
            return negativeErrno + " HMM4J_EMAPLIMIT the process is at the kernel's limit of memory mappings"
                    + " (raise vm.max_map_count, or use larger blocks)";
        if (errno == hmm4j_h.HMM4J_ENOHOSTMEM)
            return negativeErrno + " HMM4J_ENOHOSTMEM no host memory for blocks coming home, even after kept pages were"
                    + " given back (the blocks stay on the device)";
        return negativeErrno + " " + NAMES.getOrDefault(errno, "errno " + errno);
    }

    /** Returns {@code result} if it is not negative; otherwise throws for {@code call}. */
    public static long check(String call, long result) {
        if (result >= 0)
            return result;
        int code = (int) result;
        String message = call + " failed: " + describe(code);
        if (code == -12 || code == -hmm4j_h.HMM4J_EMAPLIMIT)
            throw new OutOfMemoryError(message);
        if (code == -22)
            throw new IllegalArgumentException(message);
        throw new IllegalStateException(message);
    }

    /**
     * Like {@link #check} for calls that copy through a device: {@code -EIO} and {@code -ENOMEM} become device
     * exceptions carrying the backend's raw code.
     */
    public static int checkDevice(String call, int result, String deviceId, long rawCode) {
        if (result >= 0)
            return result;
        String message = call + " failed on " + deviceId + ": " + describe(result);
        if (result == -hmm4j_h.HMM4J_ENOHOSTMEM)
            throw new HostOutOfMemoryException(message, 0);
        if (result == -12)
            throw new DeviceOutOfMemoryException(message, deviceId);
        if (result == -5 || result == -19)
            throw new DeviceException(message, deviceId, rawCode);
        check(call, result);
        return result;
    }
}
