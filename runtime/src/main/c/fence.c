/*
 * Per-launch completion: a fence owns the event a backend recorded after a
 * launch, and a region keeps the fences of the launches that write it, so a
 * host fault waits for exactly those launches instead of draining the device.
 */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <stdlib.h>

enum { FENCE_PENDING = 1 };

struct hmm4j_fence {
    atomic_int refs;
    /* FENCE_PENDING until the first wait ends, then that wait's result (0 or -errno), never waited again */
    atomic_int outcome;
    struct hmm4j_device *device; /* referenced: the event is released through its table */
    uint64_t event;
};

HMM4J_EXPORT int hmm4j_fence_create(struct hmm4j_device *dev, uint64_t event, struct hmm4j_fence **out)
{
    if (!dev || !out || !event)
        return -EINVAL;
    if (!dev->ops->wait_event || !dev->ops->release_event)
        return -EOPNOTSUPP;
    struct hmm4j_fence *f = calloc(1, sizeof *f);
    if (!f) {
        dev->ops->release_event(dev, event);
        return -ENOMEM;
    }
    atomic_store(&f->refs, 1);
    atomic_store(&f->outcome, FENCE_PENDING);
    hmm4j_device_get(dev);
    f->device = dev;
    f->event = event;
    *out = f;
    return 0;
}

HMM4J_EXPORT void hmm4j_fence_get(struct hmm4j_fence *f) { atomic_fetch_add(&f->refs, 1); }

HMM4J_EXPORT void hmm4j_fence_put(struct hmm4j_fence *f)
{
    if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
        return;
    /* A destroyed device's context may be gone with its events (CUDA): leave the event to that teardown. */
    if (!atomic_load(&f->device->closed))
        f->device->ops->release_event(f->device, f->event);
    hmm4j_device_put(f->device);
    free(f);
}

static int wait_fence(struct hmm4j_fence *f, bool counted)
{
    int outcome = atomic_load(&f->outcome);
    if (outcome != FENCE_PENDING)
        return outcome;
    struct hmm4j_device *dev = f->device;
    if (atomic_load(&dev->closed)) {
        atomic_store(&dev->last_error, ENODEV);
        return -EIO;
    }
    /* Two threads may both wait here before either stores the outcome; waiting twice on an event is harmless. */
    if (counted)
        atomic_fetch_add(&dev->event_waits, 1);
    outcome = dev->ops->wait_event(dev, f->event);
    int expected = FENCE_PENDING;
    atomic_compare_exchange_strong(&f->outcome, &expected, outcome);
    return atomic_load(&f->outcome);
}

HMM4J_EXPORT int hmm4j_fence_wait(struct hmm4j_fence *f)
{
    if (!f)
        return -EINVAL;
    return wait_fence(f, true);
}

int hmm4j_fence_wait_uncounted(struct hmm4j_fence *f) { return wait_fence(f, false); }

HMM4J_EXPORT int hmm4j_region_fence_attach(struct hmm4j_region *r, struct hmm4j_fence *f)
{
    if (!r || !f)
        return -EINVAL;
    int rc = -ENOSPC;
    hmm4j_region_lock(r);
    if (r->nfences < HMM4J_REGION_FENCES) {
        hmm4j_fence_get(f);
        r->fences[r->nfences++] = f;
        rc = 0;
    }
    hmm4j_region_unlock(r);
    return rc;
}

HMM4J_EXPORT void hmm4j_region_fence_detach(struct hmm4j_region *r, struct hmm4j_fence *f)
{
    if (!r || !f)
        return;
    struct hmm4j_fence *found = NULL;
    hmm4j_region_lock(r);
    for (int32_t i = 0; i < r->nfences; i++) {
        if (r->fences[i] == f) {
            found = f;
            r->fences[i] = r->fences[--r->nfences];
            r->fences[r->nfences] = NULL;
            break;
        }
    }
    hmm4j_region_unlock(r);
    /* Outside the region lock: the last put may call into the driver. */
    hmm4j_fence_put(found);
}

void hmm4j_region_wait_for_writers(struct hmm4j_region *r)
{
    int32_t in_flight = atomic_load(&r->launches_in_flight);
    if (in_flight <= 0 || !r->device)
        return;
    /*
     * The copy home queues behind every enqueued kernel: waiting first would only add a round trip to the
     * device. A launch not enqueued yet is covered by hmm4j_region_launch_enqueued, which makes the blocks
     * this fault copies home DEVICE again once its kernel is queued.
     */
    if (hmm4j_region_copies_follow_launches_locked(r))
        return;
    /*
     * A launch counts from launch_begin, before its kernel is enqueued, and attaches its fence only after: while
     * one has none, its kernel is not known by an event, and draining the device is the only complete wait.
     */
    if (r->nfences < in_flight) {
        hmm4j_region_synchronize_devices_locked(r);
        return;
    }
    /* A failed launch leaves its error to the launch's own await; the copy that follows reports a dead device. */
    for (int32_t i = 0; i < r->nfences; i++)
        hmm4j_fence_wait(r->fences[i]);
}

void hmm4j_region_drop_fences(struct hmm4j_region *r)
{
    while (r->nfences > 0) {
        struct hmm4j_fence *f = r->fences[--r->nfences];
        r->fences[r->nfences] = NULL;
        hmm4j_fence_put(f);
    }
}
