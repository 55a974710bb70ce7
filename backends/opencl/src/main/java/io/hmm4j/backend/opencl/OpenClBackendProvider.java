package io.hmm4j.backend.opencl;

import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.BackendProvider;
import io.hmm4j.spi.NativeCopyEngine;
import org.jocl.CL;

/**
 * OpenCL through JOCL. Available when the engine loads, JOCL's natives load, and some platform has a device.
 * Setting {@code placement} ({@code -Dhmm4j.opencl.placement}): {@code auto} (default: coherent where the device
 * shares host memory), {@code migrate}, or {@code coherent}. Setting {@code copy.queue} (default true, but false on a
 * CPU device, whose copies run on the threads that run its kernels): a migrating device gets a second command queue
 * for the copies a launch enqueues without waiting, so they overlap the kernels before it; false puts them on the
 * launch queue.
 */
public final class OpenClBackendProvider implements BackendProvider {

    public static final String NAME = "opencl";

    private volatile String cause;
    private volatile boolean probed;

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int priority() {
        return 200;
    }

    @Override
    public boolean isAvailable() {
        probe();
        return cause == null;
    }

    @Override
    public String unavailabilityCause() {
        probe();
        return cause;
    }

    private synchronized void probe() {
        if (probed)
            return;
        probed = true;
        if (!NativeCopyEngine.engineAvailable()) {
            cause = NativeCopyEngine.engineUnavailabilityCause();
            return;
        }
        try {
            CL.setExceptionsEnabled(false);
            int[] platforms = new int[1];
            int status = CL.clGetPlatformIDs(0, null, platforms);
            // Loading PoCL put its SIGFPE handler in front of the JVM's: route Java's division traps back now,
            // not only when a heap opens.
            NativeCopyEngine.ensureFaultHandler();
            if (status != CL.CL_SUCCESS || platforms[0] == 0) {
                cause = "no OpenCL platform (" + (status == CL.CL_SUCCESS ? "none installed" : OpenCl.errorName(status))
                        + "; install an ICD such as pocl-opencl-icd)";
                return;
            }
            if (OpenClBackend.discover().isEmpty())
                cause = "OpenCL platforms have no devices";
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            cause = "JOCL or libOpenCL.so.1 could not be loaded: " + e.getMessage();
        } catch (RuntimeException e) {
            // e.g. a CLException from an ICD that fails while listing its devices
            cause = "probing OpenCL failed: " + e;
        }
    }

    @Override
    public Backend open(BackendConfig config) {
        if (!isAvailable())
            throw new IllegalStateException("opencl backend is not available: " + cause);
        return new OpenClBackend(config);
    }
}
