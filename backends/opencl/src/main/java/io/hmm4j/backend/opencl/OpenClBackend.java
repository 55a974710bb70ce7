package io.hmm4j.backend.opencl;

import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.Device;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jocl.CL;
import org.jocl.cl_device_id;
import org.jocl.cl_platform_id;

/** The opened OpenCL backend: every device of every platform, GPUs first, then CPU devices such as PoCL. */
public final class OpenClBackend implements Backend {

    /** How a device places array memory. */
    public enum Placement { AUTO, MIGRATE, COHERENT }

    record Found(cl_platform_id platform, cl_device_id device, long type) {}

    private final List<OpenClDevice> devices;
    private final AtomicBoolean closed = new AtomicBoolean();

    OpenClBackend(BackendConfig config) {
        Placement placement = parsePlacement(config.get("placement", "auto"));
        // Unset: per device (copyQueueByDefault).
        Boolean copyQueue = config.get("copy.queue", null) == null ? null : config.getBoolean("copy.queue", true);
        List<OpenClDevice> list = new ArrayList<>();
        List<String> left = new ArrayList<>();
        try {
            for (Found found : discover()) {
                // A CL_MEM_USE_HOST_PTR buffer is zero-copy only where the device shares host memory; elsewhere
                // (NVIDIA's OpenCL on an H100, seen here) kernels write a device-side copy and the host pages
                // stay stale, so coherent placement would return wrong data.
                if (placement == Placement.COHERENT && !sharesHostMemory(found.device())) {
                    left.add(DeviceInfo.stringValue(found.device(), CL.CL_DEVICE_NAME));
                    continue;
                }
                list.add(new OpenClDevice(list.size(), found.platform(), found.device(), placement,
                        copyQueue != null ? copyQueue : copyQueueByDefault(found)));
            }
        } catch (RuntimeException | Error e) {
            list.forEach(OpenClDevice::close);
            throw e;
        }
        if (list.isEmpty() && !left.isEmpty())
            throw new IllegalStateException("placement=coherent: no OpenCL device shares host memory "
                    + "(CL_DEVICE_HOST_UNIFIED_MEMORY is false on " + left + "); use placement=migrate or auto");
        if (!left.isEmpty())
            LOG.log(System.Logger.Level.INFO, "placement=coherent leaves out devices that do not share host memory: {0}", left);
        this.devices = List.copyOf(list);
    }

    /**
     * A CPU device (PoCL) runs its copies on the worker threads that run its kernels: a second queue overlaps nothing
     * there, and ordering a launch after its uploads then costs a marker and a barrier between the queues (on PoCL
     * about 100 us of an iterative step's 400). A device with copy engines of its own overlaps them with kernels.
     */
    static boolean copyQueueByDefault(Found found) {
        return (found.type() & CL.CL_DEVICE_TYPE_CPU) == 0;
    }

    private static final System.Logger LOG = System.getLogger(OpenClBackend.class.getName());

    // OpenCL 2.0 deprecated CL_DEVICE_HOST_UNIFIED_MEMORY without a replacement that answers the same question (SVM
    // capabilities say whether pointers can be shared, not whether a USE_HOST_PTR buffer is the host's memory);
    // PoCL 3.0 and NVIDIA's OpenCL still answer it, and it is the check that keeps coherent placement correct.
    @SuppressWarnings("deprecation")
    static boolean sharesHostMemory(cl_device_id device) {
        return DeviceInfo.longValue(device, CL.CL_DEVICE_HOST_UNIFIED_MEMORY) != 0;
    }

    static Placement parsePlacement(String value) {
        try {
            return Placement.valueOf(value.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("setting placement must be auto, migrate or coherent: '" + value + "'", e);
        }
    }

    static List<Found> discover() {
        int[] count = new int[1];
        if (CL.clGetPlatformIDs(0, null, count) != CL.CL_SUCCESS || count[0] == 0)
            return List.of();
        cl_platform_id[] platforms = new cl_platform_id[count[0]];
        CL.clGetPlatformIDs(platforms.length, platforms, null);
        List<Found> found = new ArrayList<>();
        for (cl_platform_id platform : platforms) {
            int[] n = new int[1];
            if (CL.clGetDeviceIDs(platform, CL.CL_DEVICE_TYPE_ALL, 0, null, n) != CL.CL_SUCCESS || n[0] == 0)
                continue;
            cl_device_id[] ids = new cl_device_id[n[0]];
            CL.clGetDeviceIDs(platform, CL.CL_DEVICE_TYPE_ALL, ids.length, ids, null);
            for (cl_device_id id : ids)
                found.add(new Found(platform, id, DeviceInfo.longValue(id, CL.CL_DEVICE_TYPE)));
        }
        found.sort(Comparator.comparingInt(f -> (f.type() & CL.CL_DEVICE_TYPE_GPU) != 0 ? 0 : 1));
        return found;
    }

    @Override
    public String name() {
        return OpenClBackendProvider.NAME;
    }

    @Override
    public List<Device> devices() {
        return List.copyOf(devices);
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true))
            devices.forEach(OpenClDevice::close);
    }
}
