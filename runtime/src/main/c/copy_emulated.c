/* The emulated backend's copy table: device memory is a separate host allocation. */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct emulated_device {
    struct hmm4j_device base;
    uint64_t latency_ns;
    uint64_t bytes_per_second;
};

/* Imitates a bus: the copy is not done before latency + bytes / bandwidth has passed. */
static void wait_for_bus(const struct emulated_device *emu, uint64_t start_ns, size_t bytes)
{
    uint64_t cost = emu->latency_ns;
    if (emu->bytes_per_second)
        cost += (uint64_t)((double)bytes * 1e9 / (double)emu->bytes_per_second);
    if (cost == 0)
        return;
    while (hmm4j_now_ns() - start_ns < cost)
        __builtin_ia32_pause();
}

static int emulated_to_device(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes, bool pinned)
{
    (void)pinned;
    uint64_t start = hmm4j_now_ns();
    memcpy((void *)(uintptr_t)addr, host, bytes);
    wait_for_bus((struct emulated_device *)dev, start, bytes);
    return 0;
}

static int emulated_to_host(struct hmm4j_device *dev, void *host, uint64_t addr, size_t bytes, bool pinned)
{
    (void)pinned;
    uint64_t start = hmm4j_now_ns();
    memcpy(host, (const void *)(uintptr_t)addr, bytes);
    wait_for_bus((struct emulated_device *)dev, start, bytes);
    return 0;
}

static int emulated_zero(struct hmm4j_device *dev, uint64_t addr, size_t bytes)
{
    (void)dev;
    memset((void *)(uintptr_t)addr, 0, bytes);
    return 0;
}

/* Emulated kernels run synchronously in the launching thread: nothing is ever outstanding. */
static int emulated_synchronize(struct hmm4j_device *dev)
{
    (void)dev;
    return 0;
}

static void emulated_destroy(struct hmm4j_device *dev) { free(dev); }

static const struct hmm4j_device_ops emulated_ops = {
    .name = "emulated",
    .to_device = emulated_to_device,
    .to_host = emulated_to_host,
    .zero = emulated_zero,
    .synchronize = emulated_synchronize,
    .destroy = emulated_destroy,
};

HMM4J_EXPORT int hmm4j_device_create_emulated(uint64_t latency_ns, uint64_t bytes_per_second,
                                              struct hmm4j_device **out)
{
    if (!out)
        return -EINVAL;
    struct emulated_device *emu = calloc(1, sizeof *emu);
    if (!emu)
        return -ENOMEM;
    hmm4j_device_init(&emu->base, &emulated_ops, emu);
    emu->latency_ns = latency_ns;
    emu->bytes_per_second = bytes_per_second;
    *out = &emu->base;
    return 0;
}
