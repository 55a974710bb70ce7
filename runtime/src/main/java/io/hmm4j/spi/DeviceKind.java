package io.hmm4j.spi;

/** The kinds of device memory, after the three kinds of the kernel's device memory. */
public enum DeviceKind {
    /** Separate memory the host cannot address (a discrete GPU): blocks migrate and host access faults. */
    DISCRETE,
    /** Memory shared with the host (PoCL's CPU device, integrated GPUs): kernels use the host pages, nothing moves. */
    COHERENT,
    /** The emulated backend: a separate host allocation standing in for device memory. */
    EMULATED
}
