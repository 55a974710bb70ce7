/*
 * Zero-copy placement: the third kind of device memory ("unmovable addressable"). The bytes of a zero-copy region
 * stay in its host pages, and a device addresses them directly over the bus through the engine view (emulated: the
 * kernel reads host memory at the bus's speed; OpenCL: a CL_MEM_USE_HOST_PTR buffer; CUDA: page-locked, mapped host
 * memory). Nothing migrates, so every block stays HOST and the region is never bound to device memory.
 *
 * The runtime stays transparent: while a launch uses the region the user view is read-only (the kernel only reads
 * it) or PROT_NONE (it writes), so a host access that could race with the kernel faults, and the fault waits for the
 * region's launches (their fences, or the device when one has none yet) and lifts the protection. No copy: the
 * engine view the kernel used is the same memory. Like the migrating path, a fault never waits for a Java thread.
 */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

/* The state whose protection the user view gets (region.c's mapping: HOST rw, SHARED r, DEVICE none). */
static uint8_t state_for_launch(bool writes) { return writes ? HMM4J_BLOCK_DEVICE : HMM4J_BLOCK_SHARED; }

static int protect_user_view(struct hmm4j_region *r, uint8_t state)
{
    return hmm4j_region_protect_bytes_locked(r, state);
}

HMM4J_EXPORT int hmm4j_region_set_zero_copy(struct hmm4j_region *r, int32_t on)
{
    if (!r)
        return -EINVAL;
    int rc = 0;
    hmm4j_region_lock(r);
    if (on) {
        if (r->device)
            rc = -EBUSY;
        else if (r->shared || r->uffd)
            rc = -EOPNOTSUPP;
        else if (r->read_only)
            rc = -EACCES;
        for (uint64_t b = 0; rc == 0 && b < r->nblocks; b++)
            if (atomic_load(&r->state[b]) != HMM4J_BLOCK_HOST)
                rc = -EBUSY;
        if (rc == 0)
            r->zero_copy = true;
    } else if (r->zc_launches > 0) {
        rc = -EBUSY;
    } else {
        r->zero_copy = false;
    }
    hmm4j_region_unlock(r);
    return rc;
}

HMM4J_EXPORT int32_t hmm4j_region_is_zero_copy(struct hmm4j_region *r)
{
    if (!r)
        return -EINVAL;
    hmm4j_region_lock(r);
    int32_t on = r->zero_copy ? 1 : 0;
    hmm4j_region_unlock(r);
    return on;
}

HMM4J_EXPORT int hmm4j_region_zero_copy_begin(struct hmm4j_region *r, struct hmm4j_device *dev, int32_t writes)
{
    if (!r)
        return -EINVAL;
    int rc = 0;
    hmm4j_region_lock(r);
    if (!r->zero_copy) {
        rc = -EINVAL;
    } else if (r->zc_launches > 0 && r->zc_device != dev) {
        rc = -EBUSY;
    } else {
        /* The strictest protection any launch in flight needs: a writer's wins over a reader's. */
        uint8_t state = state_for_launch(writes);
        if (r->zc_launches > 0 && r->zc_state == HMM4J_BLOCK_DEVICE)
            state = HMM4J_BLOCK_DEVICE;
        rc = protect_user_view(r, state);
        if (rc == 0) {
            /* Committed only once the protection is in place (invariant 8). */
            r->zc_state = state;
            if (r->zc_launches++ == 0 && dev) {
                hmm4j_device_get(dev);
                r->zc_device = dev;
            }
            hmm4j_region_launch_begin(r);
        } else if (r->zc_launches == 0) {
            /* A failed change over several mappings may have changed some of them. */
            protect_user_view(r, HMM4J_BLOCK_HOST);
        }
    }
    hmm4j_region_unlock(r);
    return rc;
}

HMM4J_EXPORT int hmm4j_region_zero_copy_enqueued(struct hmm4j_region *r)
{
    if (!r)
        return -EINVAL;
    int rc = hmm4j_region_launch_enqueued(r);
    hmm4j_region_lock(r);
    /*
     * A fault while the launch was being placed found no kernel to wait for and lifted the protection; the kernel
     * is queued now, so later host accesses must wait for it again.
     */
    if (r->zc_lowered && r->zc_launches > 0) {
        int prc = protect_user_view(r, r->zc_state);
        if (prc == 0)
            r->zc_lowered = false;
        else if (rc == 0)
            rc = prc;
    }
    hmm4j_region_unlock(r);
    return rc;
}

HMM4J_EXPORT void hmm4j_region_zero_copy_end(struct hmm4j_region *r)
{
    if (!r)
        return;
    struct hmm4j_device *dev = NULL;
    hmm4j_region_lock(r);
    if (r->zc_launches > 0 && --r->zc_launches == 0) {
        /* A failure leaves the view stricter than HOST: the next fault lifts it or reports why it cannot. */
        protect_user_view(r, HMM4J_BLOCK_HOST);
        r->zc_lowered = false;
        dev = r->zc_device;
        r->zc_device = NULL;
    }
    hmm4j_region_unlock(r);
    hmm4j_region_launch_end(r);
    if (dev)
        hmm4j_device_put(dev);
}

/*
 * The region's launches as the fault sees them: every one with a fence is waited for by it; while one has none yet
 * (being placed, or a device without events) the device is drained, which covers every kernel already enqueued.
 */
static void wait_for_launches_locked(struct hmm4j_region *r)
{
    if (r->nfences < atomic_load(&r->launches_in_flight) && r->zc_device)
        hmm4j_device_do_synchronize(r->zc_device);
    /* A failed launch reports its error through its own await; the host's bytes are valid either way. */
    for (int32_t i = 0; i < r->nfences; i++)
        hmm4j_fence_wait(r->fences[i]);
}

int hmm4j_zero_copy_serve_fault_locked(struct hmm4j_region *r, uint64_t block, bool write, uint64_t start)
{
    (void)block;
    if (r->zc_launches > 0) {
        wait_for_launches_locked(r);
        /* A launch still being placed has no kernel queued: its enqueue protects the view again. */
        if (atomic_load(&r->launches_placing) > 0)
            r->zc_lowered = true;
    }
    int rc = protect_user_view(r, HMM4J_BLOCK_HOST);
    hmm4j_region_unlock(r);
    if (write)
        HMM4J_STAT_ADD(r->stats, write_faults, 1);
    else
        HMM4J_STAT_ADD(r->stats, read_faults, 1);
    HMM4J_STAT_ADD(r->stats, fault_ns, hmm4j_now_ns() - start);
    return rc;
}

/* ---- host ranges mapped for devices that address host memory without a driver (emulated) ---- */

#define MAPPED_RANGES 1024

struct mapped_range {
    struct hmm4j_device *device;
    uint64_t start, bytes;
};

static pthread_mutex_t ranges_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mapped_range ranges[MAPPED_RANGES];

static int add_range(struct hmm4j_device *dev, uint64_t start, uint64_t bytes)
{
    int rc = -ENOSPC;
    pthread_mutex_lock(&ranges_lock);
    for (int i = 0; i < MAPPED_RANGES; i++) {
        if (!ranges[i].device) {
            ranges[i] = (struct mapped_range){dev, start, bytes};
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&ranges_lock);
    return rc;
}

static void remove_range(struct hmm4j_device *dev, uint64_t start)
{
    pthread_mutex_lock(&ranges_lock);
    for (int i = 0; i < MAPPED_RANGES; i++) {
        if (ranges[i].device == dev && ranges[i].start == start) {
            ranges[i] = (struct mapped_range){0};
            break;
        }
    }
    pthread_mutex_unlock(&ranges_lock);
}

uint64_t hmm4j_zero_copy_mapped_bytes(struct hmm4j_device *dev, uint64_t addr, uint64_t bytes)
{
    uint64_t found = 0;
    pthread_mutex_lock(&ranges_lock);
    for (int i = 0; i < MAPPED_RANGES; i++) {
        const struct mapped_range *m = &ranges[i];
        /* bytes <= m->bytes - (addr - m->start), not addr + bytes <= end: the sum may wrap. */
        if (m->device == dev && addr >= m->start && addr - m->start <= m->bytes &&
            bytes <= m->bytes - (addr - m->start)) {
            found = bytes;
            break;
        }
    }
    pthread_mutex_unlock(&ranges_lock);
    return found;
}

HMM4J_EXPORT uint64_t hmm4j_device_host_mapped_bytes(struct hmm4j_device *dev, uint64_t addr, uint64_t bytes)
{
    return dev ? hmm4j_zero_copy_mapped_bytes(dev, addr, bytes) : 0;
}

HMM4J_EXPORT int hmm4j_device_map_host(struct hmm4j_device *dev, void *host, uint64_t bytes, uint64_t *device_addr)
{
    if (!dev || !host || bytes == 0 || !device_addr)
        return -EINVAL;
    if (atomic_load(&dev->closed) || atomic_load(&dev->lost)) {
        atomic_store(&dev->last_error, ENODEV);
        return -EIO;
    }
    if (dev->ops->host_device_pointer) {
        /* Page-locked under the device's pinned-bytes limit, like kept pages (hmm4j_device_set_pinned_limit). */
        if (!hmm4j_device_pin(dev, host, bytes))
            return -ENOMEM;
        int rc = dev->ops->host_device_pointer(dev, host, device_addr);
        if (rc != 0)
            hmm4j_device_unpin(dev, host, bytes, true);
        return rc;
    }
    if (strcmp(dev->ops->name, "emulated") != 0)
        return -EOPNOTSUPP;
    int rc = add_range(dev, (uint64_t)(uintptr_t)host, bytes);
    if (rc == 0)
        *device_addr = (uint64_t)(uintptr_t)host;
    return rc;
}

HMM4J_EXPORT void hmm4j_device_unmap_host(struct hmm4j_device *dev, void *host, uint64_t bytes)
{
    if (!dev || !host)
        return;
    if (dev->ops->host_device_pointer) {
        /* A closed device's context may be gone: its registration went with it. */
        hmm4j_device_unpin(dev, host, bytes, !atomic_load(&dev->closed));
        return;
    }
    remove_range(dev, (uint64_t)(uintptr_t)host);
}
