/* Device-independent part of the copy tables: creation, fault injection, direct copies. */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <stdlib.h>

int hmm4j_device_init(struct hmm4j_device *dev, const struct hmm4j_device_ops *ops, void *backend)
{
    dev->ops = ops;
    dev->backend = backend;
    atomic_store(&dev->last_error, 0);
    atomic_store(&dev->inject_what, HMM4J_INJECT_NONE);
    atomic_store(&dev->inject_after, 0);
    atomic_store(&dev->lost, false);
    atomic_store(&dev->unreadable, false);
    atomic_store(&dev->refs, 1);
    atomic_store(&dev->closed, false);
    atomic_store(&dev->synchronizations, 0);
    atomic_store(&dev->event_waits, 0);
    atomic_store(&dev->async_copies, 0);
    atomic_store(&dev->unpaced_copies, 0);
    atomic_store(&dev->pinned_bytes, 0);
    atomic_store(&dev->pinned_limit, UINT64_MAX);
    atomic_store(&dev->pin_refusals, 0);
    atomic_store(&dev->pretend_pinning, false);
    return 0;
}

/* Takes `bytes` of the pinned-bytes limit, or nothing when that would pass it. */
static bool reserve_pinned(struct hmm4j_device *dev, size_t bytes)
{
    uint64_t limit = atomic_load(&dev->pinned_limit);
    uint64_t used = atomic_load(&dev->pinned_bytes);
    do {
        if (bytes > limit || used > limit - bytes)
            return false;
    } while (!atomic_compare_exchange_weak(&dev->pinned_bytes, &used, used + bytes));
    return true;
}

bool hmm4j_device_pin(struct hmm4j_device *dev, void *host, size_t bytes)
{
    bool driver = dev->ops->register_host && dev->ops->unregister_host;
    if (!driver && !atomic_load(&dev->pretend_pinning))
        return false;
    if (!reserve_pinned(dev, bytes)) {
        atomic_fetch_add(&dev->pin_refusals, 1);
        return false;
    }
    if (driver && dev->ops->register_host(dev, host, bytes) != 0) {
        atomic_fetch_sub(&dev->pinned_bytes, bytes);
        return false;
    }
    return true;
}

void hmm4j_device_unpin(struct hmm4j_device *dev, void *host, size_t bytes, bool driver_too)
{
    if (driver_too && dev->ops->unregister_host)
        dev->ops->unregister_host(dev, host);
    atomic_fetch_sub(&dev->pinned_bytes, bytes);
}

HMM4J_EXPORT void hmm4j_device_set_pinned_limit(struct hmm4j_device *dev, uint64_t bytes)
{
    if (dev)
        atomic_store(&dev->pinned_limit, bytes);
}

HMM4J_EXPORT uint64_t hmm4j_device_pinned_bytes(const struct hmm4j_device *dev)
{
    return dev ? atomic_load(&dev->pinned_bytes) : 0;
}

HMM4J_EXPORT uint64_t hmm4j_device_pin_refusals(const struct hmm4j_device *dev)
{
    return dev ? atomic_load(&dev->pin_refusals) : 0;
}

HMM4J_EXPORT void hmm4j_device_test_pretend_pinning(struct hmm4j_device *dev)
{
    if (dev)
        atomic_store(&dev->pretend_pinning, true);
}

void hmm4j_device_get(struct hmm4j_device *dev) { atomic_fetch_add(&dev->refs, 1); }

void hmm4j_device_put(struct hmm4j_device *dev)
{
    if (atomic_fetch_sub(&dev->refs, 1) == 1)
        dev->ops->destroy(dev);
}

/* A closed device's queue, context or memory belong to an owner that has let them go: fail like a lost device. */
static int refuse_if_closed(struct hmm4j_device *dev)
{
    if (!atomic_load(&dev->closed))
        return 0;
    atomic_store(&dev->last_error, ENODEV);
    return -EIO;
}

int64_t hmm4j_device_take_injection(struct hmm4j_device *dev, int32_t what, size_t bytes)
{
    int32_t expected = what;
    if (!atomic_compare_exchange_strong(&dev->inject_what, &expected, HMM4J_INJECT_NONE))
        return -1;
    uint64_t after = atomic_load(&dev->inject_after);
    return (int64_t)(after < bytes ? after : bytes);
}

static int refuse_copy_to_device(struct hmm4j_device *dev)
{
    int rc = refuse_if_closed(dev);
    if (rc != 0)
        return rc;
    if (atomic_load(&dev->lost)) {
        atomic_store(&dev->last_error, ENODEV);
        return -EIO;
    }
    return 0;
}

int hmm4j_device_do_to_device_async(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes,
                                    bool pinned, uint64_t *event)
{
    *event = 0;
    /*
     * An armed injection fails a copy the synchronous way, where the test that armed it can see it, unless the
     * backend fails the queued copy itself (its event then carries the error).
     */
    if (!dev->ops->to_device_async || !dev->ops->wait_event || !dev->ops->release_event ||
        (atomic_load(&dev->inject_what) == HMM4J_INJECT_COPY_TO_DEVICE && !dev->ops->async_injection))
        return hmm4j_device_do_to_device(dev, addr, host, bytes, pinned);
    int rc = refuse_copy_to_device(dev);
    if (rc != 0)
        return rc;
    rc = dev->ops->to_device_async(dev, addr, host, bytes, pinned, event);
    if (rc == 0 && *event)
        atomic_fetch_add(&dev->async_copies, 1);
    return rc;
}

/* paced_until NULL: the copy's modelled time is waited out here; else it may be left to the caller. */
static int do_to_device(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes, bool pinned,
                        uint64_t *paced_until)
{
    int rc = refuse_copy_to_device(dev);
    if (rc != 0)
        return rc;
    int64_t partial = hmm4j_device_take_injection(dev, HMM4J_INJECT_COPY_TO_DEVICE, bytes);
    if (partial >= 0) {
        if (partial > 0)
            dev->ops->to_device(dev, addr, host, (size_t)partial, pinned);
        atomic_store(&dev->last_error, EIO);
        return -EIO;
    }
    if (paced_until && dev->ops->to_device_unpaced) {
        atomic_fetch_add(&dev->unpaced_copies, 1);
        return dev->ops->to_device_unpaced(dev, addr, host, bytes, paced_until);
    }
    return dev->ops->to_device(dev, addr, host, bytes, pinned);
}

int hmm4j_device_do_to_device(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes, bool pinned)
{
    return do_to_device(dev, addr, host, bytes, pinned, NULL);
}

static int refuse_copy_from_device(struct hmm4j_device *dev)
{
    int rc = refuse_if_closed(dev);
    if (rc != 0)
        return rc;
    if (atomic_load(&dev->unreadable)) {
        atomic_store(&dev->last_error, EIO);
        return -EIO;
    }
    return 0;
}

static int do_to_host(struct hmm4j_device *dev, void *host, uint64_t addr, size_t bytes, bool pinned,
                      uint64_t *paced_until)
{
    int rc = refuse_copy_from_device(dev);
    if (rc != 0)
        return rc;
    int64_t partial = hmm4j_device_take_injection(dev, HMM4J_INJECT_COPY_TO_HOST, bytes);
    if (partial >= 0) {
        if (partial > 0)
            dev->ops->to_host(dev, host, addr, (size_t)partial, pinned);
        atomic_store(&dev->last_error, EIO);
        return -EIO;
    }
    if (paced_until && dev->ops->to_host_unpaced) {
        atomic_fetch_add(&dev->unpaced_copies, 1);
        return dev->ops->to_host_unpaced(dev, host, addr, bytes, paced_until);
    }
    return dev->ops->to_host(dev, host, addr, bytes, pinned);
}

int hmm4j_device_do_to_host(struct hmm4j_device *dev, void *host, uint64_t addr, size_t bytes, bool pinned)
{
    return do_to_host(dev, host, addr, bytes, pinned, NULL);
}

/* Through host memory, a chunk at a time: a bounded buffer for any size of run. */
#define PEER_BOUNCE_BYTES (4u << 20)

int hmm4j_device_do_peer(struct hmm4j_device *dst, uint64_t dst_addr, struct hmm4j_device *src, uint64_t src_addr,
                         size_t bytes)
{
    int rc = refuse_copy_to_device(dst);
    if (rc == 0)
        rc = refuse_copy_from_device(src);
    if (rc != 0)
        return rc;
    int64_t partial = hmm4j_device_take_injection(dst, HMM4J_INJECT_COPY_TO_DEVICE, bytes);
    if (partial >= 0) {
        atomic_store(&dst->last_error, EIO);
        return -EIO;
    }
    if (dst->ops->peer_copy && dst->ops->peer_copy == src->ops->peer_copy) {
        rc = dst->ops->peer_copy(dst, dst_addr, src, src_addr, bytes);
        if (rc != -EOPNOTSUPP)
            return rc;
    }
    size_t chunk = bytes < PEER_BOUNCE_BYTES ? bytes : PEER_BOUNCE_BYTES;
    void *bounce = malloc(chunk);
    if (!bounce)
        return -ENOMEM;
    for (size_t done = 0; done < bytes && rc == 0; done += chunk) {
        size_t n = bytes - done < chunk ? bytes - done : chunk;
        rc = src->ops->to_host(src, bounce, src_addr + done, n, false);
        if (rc == 0)
            rc = dst->ops->to_device(dst, dst_addr + done, bounce, n, false);
    }
    free(bounce);
    return rc;
}

int hmm4j_device_do_synchronize(struct hmm4j_device *dev)
{
    int rc = refuse_if_closed(dev);
    if (rc != 0)
        return rc;
    atomic_fetch_add(&dev->synchronizations, 1);
    return dev->ops->synchronize(dev);
}

HMM4J_EXPORT void hmm4j_device_destroy(struct hmm4j_device *dev)
{
    if (!dev)
        return;
    atomic_store(&dev->closed, true);
    /* Work still queued must not run on what the owner frees next. */
    if (dev->ops->shutdown)
        dev->ops->shutdown(dev);
    hmm4j_device_put(dev);
}

HMM4J_EXPORT int hmm4j_device_copy_to_device(struct hmm4j_device *dev, uint64_t addr, const void *host, uint64_t bytes)
{
    if (!dev || !host)
        return -EINVAL;
    return hmm4j_device_do_to_device(dev, addr, host, bytes, false);
}

HMM4J_EXPORT int hmm4j_device_copy_to_host(struct hmm4j_device *dev, void *host, uint64_t addr, uint64_t bytes)
{
    if (!dev || !host)
        return -EINVAL;
    return hmm4j_device_do_to_host(dev, host, addr, bytes, false);
}

HMM4J_EXPORT int hmm4j_device_copy_unpaced(struct hmm4j_device *dev, int32_t direction, uint64_t addr, void *host,
                                           uint64_t bytes, uint64_t *paced_until)
{
    if (!dev || !host || !paced_until || (direction != HMM4J_TO_DEVICE && direction != HMM4J_TO_HOST))
        return -EINVAL;
    *paced_until = 0;
    return direction == HMM4J_TO_DEVICE ? do_to_device(dev, addr, host, bytes, false, paced_until)
                                        : do_to_host(dev, host, addr, bytes, false, paced_until);
}

HMM4J_EXPORT int hmm4j_device_zero(struct hmm4j_device *dev, uint64_t addr, uint64_t bytes)
{
    if (!dev)
        return -EINVAL;
    int rc = refuse_if_closed(dev);
    if (rc != 0)
        return rc;
    if (atomic_load(&dev->lost)) {
        atomic_store(&dev->last_error, ENODEV);
        return -EIO;
    }
    return dev->ops->zero(dev, addr, bytes);
}

HMM4J_EXPORT int hmm4j_device_order_launch(struct hmm4j_device *dev)
{
    if (!dev)
        return -EINVAL;
    int rc = refuse_if_closed(dev);
    if (rc != 0 || !dev->ops->order_launch)
        return rc;
    return dev->ops->order_launch(dev);
}

HMM4J_EXPORT int hmm4j_device_synchronize(struct hmm4j_device *dev)
{
    if (!dev)
        return -EINVAL;
    return hmm4j_device_do_synchronize(dev);
}

HMM4J_EXPORT int64_t hmm4j_device_last_error(const struct hmm4j_device *dev)
{
    return dev ? atomic_load(&dev->last_error) : 0;
}

HMM4J_EXPORT uint64_t hmm4j_device_synchronizations(const struct hmm4j_device *dev)
{
    return dev ? atomic_load(&dev->synchronizations) : 0;
}

HMM4J_EXPORT uint64_t hmm4j_device_event_waits(const struct hmm4j_device *dev)
{
    return dev ? atomic_load(&dev->event_waits) : 0;
}

HMM4J_EXPORT uint64_t hmm4j_device_unpaced_copies(const struct hmm4j_device *dev)
{
    return dev ? atomic_load(&dev->unpaced_copies) : 0;
}

HMM4J_EXPORT uint64_t hmm4j_device_async_copies(const struct hmm4j_device *dev)
{
    return dev ? atomic_load(&dev->async_copies) : 0;
}

HMM4J_EXPORT void hmm4j_device_inject(struct hmm4j_device *dev, int32_t what, uint64_t after_bytes)
{
    if (!dev)
        return;
    if (what == HMM4J_INJECT_DEVICE_LOST) {
        atomic_store(&dev->lost, true);
        return;
    }
    if (what == HMM4J_INJECT_DEVICE_UNREADABLE) {
        atomic_store(&dev->unreadable, true);
        return;
    }
    atomic_store(&dev->inject_after, after_bytes);
    atomic_store(&dev->inject_what, what);
}
