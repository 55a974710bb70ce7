package io.hmm4j;

/** The device (or its budget) has no room for an allocation. Eviction catches exactly this. */
public class DeviceOutOfMemoryException extends DeviceException {

    private static final long serialVersionUID = 1L;

    public DeviceOutOfMemoryException(String message, String deviceId) {
        super(message, deviceId, 0);
    }
}
