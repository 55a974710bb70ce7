package io.hmm4j.benchmarks.opencl;

import org.jocl.CL;
import org.jocl.cl_command_queue;
import org.jocl.cl_context;
import org.jocl.cl_context_properties;
import org.jocl.cl_device_id;
import org.jocl.cl_mem;
import org.jocl.cl_platform_id;
import org.jocl.cl_queue_properties;

/**
 * The hand-written JOCL baselines' context and in-order queue, on the device the backend calls opencl:0 (the first
 * GPU of any platform, else the first device).
 */
final class RawOpenCl implements AutoCloseable {

    final cl_context context;
    final cl_command_queue queue;

    RawOpenCl() {
        CL.setExceptionsEnabled(true);
        int[] count = new int[1];
        CL.clGetPlatformIDs(0, null, count);
        cl_platform_id[] platforms = new cl_platform_id[count[0]];
        CL.clGetPlatformIDs(platforms.length, platforms, null);
        cl_platform_id chosenPlatform = null;
        cl_device_id chosen = null;
        for (long type : new long[] {CL.CL_DEVICE_TYPE_GPU, CL.CL_DEVICE_TYPE_ALL}) {
            for (cl_platform_id platform : platforms) {
                int[] n = new int[1];
                CL.setExceptionsEnabled(false);
                int rc = CL.clGetDeviceIDs(platform, type, 0, null, n);
                CL.setExceptionsEnabled(true);
                if (rc == CL.CL_SUCCESS && n[0] > 0) {
                    cl_device_id[] ids = new cl_device_id[n[0]];
                    CL.clGetDeviceIDs(platform, type, ids.length, ids, null);
                    chosenPlatform = platform;
                    chosen = ids[0];
                    break;
                }
            }
            if (chosen != null)
                break;
        }
        if (chosen == null)
            throw new IllegalStateException("no OpenCL device");
        cl_context_properties properties = new cl_context_properties();
        properties.addProperty(CL.CL_CONTEXT_PLATFORM, chosenPlatform);
        context = CL.clCreateContext(properties, 1, new cl_device_id[] {chosen}, null, null, null);
        queue = CL.clCreateCommandQueueWithProperties(context, chosen, new cl_queue_properties(), null);
        // JOCL's exception switch is global; the hmm4j backend in the same JVM checks return codes itself.
        CL.setExceptionsEnabled(false);
    }

    /** A device buffer of {@code bytes}. */
    cl_mem buffer(long bytes) {
        int[] status = new int[1];
        cl_mem mem = CL.clCreateBuffer(context, CL.CL_MEM_READ_WRITE, bytes, null, status);
        check(status[0], "clCreateBuffer");
        return mem;
    }

    static void check(int status, String call) {
        if (status != CL.CL_SUCCESS)
            throw new IllegalStateException(call + " failed: " + CL.stringFor_errorCode(status));
    }

    @Override
    public void close() {
        CL.clReleaseCommandQueue(queue);
        CL.clReleaseContext(context);
    }
}
