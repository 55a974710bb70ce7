package io.hmm4j.backend.cuda;

import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.BackendProvider;
import io.hmm4j.spi.NativeCopyEngine;
import java.util.Objects;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * The CUDA backend ({@code cuda}, priority 300: the automatic choice when a CUDA GPU is present). Available when
 * JCuda's driver natives load (they need only {@code libcuda.so.1}), {@code cuInit} succeeds, at least one device
 * is visible, and hmm4j's native engine loads. The probe runs once per process.
 *
 * <p>Settings ({@code hmm4j.cuda.<key>} or the heap builder's {@code setting(key, value)}):
 * <ul>
 *   <li>{@code devices}: comma-separated CUDA ordinals to open, default all ({@code CUDA_VISIBLE_DEVICES} applies
 *       first, as the driver sees it)</li>
 *   <li>{@code blockSize}: threads per block for launches, a multiple of 32 up to 1024, default 256</li>
 *   <li>{@code libcuda}: path of libcuda for the fault engine's copy table, default {@code libcuda.so.1}</li>
 *   <li>{@code copy.stream}: default true: a second stream per device for the copies a launch enqueues without
 *       waiting, so they overlap the kernels before it (launches wait for them with cuStreamWaitEvent); false puts
 *       them on the launch stream</li>
 * </ul>
 */
public final class CudaBackendProvider implements BackendProvider {

    /** The probe's outcome: a device count, or why there is none. */
    record Probe(int deviceCount, int driverVersion, String cause) {}

    private static volatile Probe probe;

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public int priority() {
        return 300;
    }

    @Override
    public boolean isAvailable() {
        return probe().cause() == null;
    }

    @Override
    public String unavailabilityCause() {
        return probe().cause();
    }

    /** The CUDA driver's version as {@code cuDriverGetVersion} reports it (e.g. 12040), 0 if unavailable. */
    public int driverVersion() {
        return probe().driverVersion();
    }

    /** Visible CUDA devices, 0 if unavailable. */
    public int deviceCount() {
        return probe().deviceCount();
    }

    @Override
    public Backend open(BackendConfig config) {
        Objects.requireNonNull(config, "config");
        Probe p = probe();
        if (p.cause() != null)
            throw new IllegalStateException("CUDA backend not available: " + p.cause());
        return CudaBackend.open(config, p.deviceCount());
    }

    static Probe probe() {
        Probe p = probe;
        if (p == null) {
            synchronized (CudaBackendProvider.class) {
                p = probe;
                if (p == null)
                    probe = p = runProbe();
            }
        }
        return p;
    }

    private static Probe runProbe() {
        // The engine first: its fault handler must be installed before any driver library loads.
        if (!NativeCopyEngine.engineAvailable())
            return new Probe(0, 0, "hmm4j native engine unavailable: " + NativeCopyEngine.engineUnavailabilityCause());
        int rc;
        try {
            JCudaDriver.setExceptionsEnabled(false);
            rc = JCudaDriver.cuInit(0);
        } catch (LinkageError e) {
            // JCuda's JNI library links against libcuda.so.1; without a driver its load fails here.
            String detail = String.valueOf(e.getMessage());
            String cause = detail.contains("libcuda") ? "no CUDA driver (libcuda.so.1 not found)"
                    : "JCuda's driver natives do not load";
            return new Probe(0, 0, cause + ": " + firstLine(detail));
        }
        if (rc == CUresult.CUDA_ERROR_NO_DEVICE)
            return new Probe(0, 0, "no CUDA device (cuInit: CUDA_ERROR_NO_DEVICE)");
        if (rc != CUresult.CUDA_SUCCESS)
            return new Probe(0, 0, "cuInit failed: " + CudaErrors.name(rc));
        int[] version = {0};
        JCudaDriver.cuDriverGetVersion(version);
        int[] count = {0};
        rc = JCudaDriver.cuDeviceGetCount(count);
        if (rc != CUresult.CUDA_SUCCESS)
            return new Probe(0, version[0], "cuDeviceGetCount failed: " + CudaErrors.name(rc));
        if (count[0] < 1)
            return new Probe(0, version[0], "no CUDA device (cuDeviceGetCount = 0)");
        return new Probe(count[0], version[0], null);
    }

    private static String firstLine(String text) {
        int nl = text.indexOf('\n');
        return (nl < 0 ? text : text.substring(0, nl)).strip();
    }
}
