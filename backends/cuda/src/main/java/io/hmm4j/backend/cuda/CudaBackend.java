package io.hmm4j.backend.cuda;

import io.hmm4j.spi.Backend;
import io.hmm4j.spi.BackendConfig;
import io.hmm4j.spi.Device;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/** The opened CUDA devices. Each holds its primary context, one stream and its built-in kernels. */
public final class CudaBackend implements Backend {

    private final List<CudaDevice> devices;
    private final AtomicBoolean closed = new AtomicBoolean();

    private CudaBackend(List<CudaDevice> devices) {
        this.devices = List.copyOf(devices);
    }

    static CudaBackend open(BackendConfig config, int deviceCount) {
        int[] ordinals = ordinals(config.get("devices", "all"), deviceCount);
        int blockSize = config.getInt("blockSize", 256);
        if (blockSize < 32 || blockSize > 1024 || blockSize % 32 != 0)
            throw new IllegalArgumentException("setting blockSize must be a multiple of 32 in [32, 1024]: " + blockSize);
        String libcuda = config.get("libcuda", null);
        boolean copyStream = config.getBoolean("copy.stream", true);
        List<CudaDevice> opened = new ArrayList<>();
        try {
            for (int i = 0; i < ordinals.length; i++)
                opened.add(new CudaDevice(i, ordinals[i], blockSize, libcuda, copyStream));
        } catch (RuntimeException e) {
            for (CudaDevice device : opened.reversed()) {
                try {
                    device.close();
                } catch (RuntimeException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        for (CudaDevice device : opened)
            device.discoverPeers(opened);
        return new CudaBackend(opened);
    }

    static int[] ordinals(String setting, int deviceCount) {
        String value = setting.trim();
        if (value.isEmpty() || value.equalsIgnoreCase("all")) {
            int[] all = new int[deviceCount];
            Arrays.setAll(all, i -> i);
            return all;
        }
        int[] ordinals;
        try {
            ordinals = Arrays.stream(value.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("setting devices must be 'all' or CUDA ordinals like '0,1': '" + setting + "'", e);
        }
        if (Arrays.stream(ordinals).distinct().count() != ordinals.length)
            throw new IllegalArgumentException("setting devices names a device twice: '" + setting + "'");
        for (int ordinal : ordinals) {
            if (ordinal < 0 || ordinal >= deviceCount)
                throw new IllegalArgumentException("setting devices: no CUDA device " + ordinal + " (there are "
                        + deviceCount + ")");
        }
        return ordinals;
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public List<Device> devices() {
        return List.copyOf(devices);
    }

    /** The devices with their CUDA-specific details (compute capability, peers). */
    public List<CudaDevice> cudaDevices() {
        return devices;
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true))
            return;
        RuntimeException failure = null;
        for (CudaDevice device : devices.reversed()) {
            try {
                device.close();
            } catch (RuntimeException e) {
                if (failure == null)
                    failure = e;
                else
                    failure.addSuppressed(e);
            }
        }
        if (failure != null)
            throw failure;
    }

    @Override
    public String toString() {
        return "CudaBackend" + devices;
    }
}
