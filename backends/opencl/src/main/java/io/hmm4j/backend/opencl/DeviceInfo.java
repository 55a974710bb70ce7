package io.hmm4j.backend.opencl;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.jocl.CL;
import org.jocl.Pointer;
import org.jocl.cl_device_id;

/** clGetDeviceInfo for the few value types hmm4j reads. */
final class DeviceInfo {

    private DeviceInfo() {}

    static long longValue(cl_device_id device, int param) {
        long[] size = new long[1];
        if (CL.clGetDeviceInfo(device, param, 0, null, size) != CL.CL_SUCCESS)
            return 0;
        ByteBuffer buffer = ByteBuffer.allocate((int) size[0]).order(ByteOrder.nativeOrder());
        if (CL.clGetDeviceInfo(device, param, size[0], Pointer.to(buffer), null) != CL.CL_SUCCESS)
            return 0;
        return switch ((int) size[0]) {
            case 4 -> Integer.toUnsignedLong(buffer.getInt(0));
            case 8 -> buffer.getLong(0);
            default -> 0;
        };
    }

    static String stringValue(cl_device_id device, int param) {
        long[] size = new long[1];
        if (CL.clGetDeviceInfo(device, param, 0, null, size) != CL.CL_SUCCESS)
            return "?";
        byte[] bytes = new byte[(int) size[0]];
        CL.clGetDeviceInfo(device, param, bytes.length, Pointer.to(bytes), null);
        int end = bytes.length;
        while (end > 0 && bytes[end - 1] == 0)
            end--;
        return new String(bytes, 0, end, java.nio.charset.StandardCharsets.UTF_8).trim();
    }
}
