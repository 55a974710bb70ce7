package io.hmm4j;

/** A device operation failed (copy error, device lost, driver error). Data that was on the host stays there. */
public class DeviceException extends RuntimeException {

    private static final long serialVersionUID = 1L;

    private final String deviceId;
    private final long backendCode;

    public DeviceException(String message, String deviceId, long backendCode) {
        super(message + (backendCode != 0 ? " (backend code " + backendCode + ")" : ""));
        this.deviceId = deviceId;
        this.backendCode = backendCode;
    }

    public DeviceException(String message, String deviceId, long backendCode, Throwable cause) {
        this(message, deviceId, backendCode);
        initCause(cause);
    }

    /** The device, e.g. {@code cuda:0}. */
    public String deviceId() {
        return deviceId;
    }

    /** The backend's raw error code (CUresult, cl_int, errno), 0 if none. */
    public long backendCode() {
        return backendCode;
    }
}
