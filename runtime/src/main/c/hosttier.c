/*
 * The host tier's mechanism: how much host RAM a region holds, and giving back the RAM of blocks whose bytes
 * are also on the device (DEVICE blocks whose pages were kept, and SHARED blocks, the clean pages of this
 * cache). Which regions to reclaim, and when, is Java's policy (io.hmm4j.internal.policy.HostTier).
 */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

HMM4J_EXPORT int64_t hmm4j_region_host_bytes(const struct hmm4j_region *r)
{
    if (!r)
        return -EINVAL;
    struct stat st;
    if (fstat(r->memfd, &st) != 0)
        return -errno;
    return (int64_t)st.st_blocks * 512;
}

static uint8_t state_at(struct hmm4j_region *r, uint64_t block)
{
    return atomic_load_explicit(&r->state[block], memory_order_relaxed);
}

/* The run of blocks from `first` whose state is `state`, at most `limit` long. */
static uint64_t run_of(struct hmm4j_region *r, uint64_t first, uint8_t state, uint64_t limit)
{
    uint64_t end = first + 1;
    while (end < r->nblocks && end - first < limit && state_at(r, end) == state)
        end++;
    return end - first;
}

/*
 * Whether the region's host copies may be given back now (region lock held). A launch in flight may still need the
 * host pages it kept (a launch that fails before its kernel ran puts its written blocks back on them), an unbound
 * region has no device copy to come home from, a file's pages are its data (invariant 4), and a SHARED block's host
 * copy is the only readable one once the device cannot give its copy back.
 */
static bool reclaimable_locked(struct hmm4j_region *r)
{
    if (r->device == NULL || atomic_load(&r->launches_in_flight) != 0 || r->file_bytes != 0)
        return false;
    return !atomic_load(&r->device->lost) && !atomic_load(&r->device->unreadable) && !atomic_load(&r->device->closed);
}

/*
 * Punches the kept pages of the DEVICE run at *b (at most `left` blocks) and moves *b past what it looked at;
 * returns the blocks punched. Only blocks that still hold pages count: a reclaimed run is a hole and costs nothing
 * to skip. State and protection stay as they are (DEVICE, PROT_NONE): nothing a fault could see changes.
 */
static uint64_t punch_device_run(struct hmm4j_region *r, uint64_t *b, uint64_t left)
{
    uint64_t end = *b + run_of(r, *b, HMM4J_BLOCK_DEVICE, UINT64_MAX);
    off_t data = lseek(r->memfd, (off_t)(*b << r->block_shift), SEEK_DATA);
    if (data < 0 || (uint64_t)data >= (end << r->block_shift)) {
        *b = end;
        return 0;
    }
    uint64_t first = (uint64_t)data >> r->block_shift;
    off_t hole = lseek(r->memfd, data, SEEK_HOLE);
    uint64_t last = hole < 0 ? end : ((uint64_t)hole + r->block_size - 1) >> r->block_shift;
    uint64_t count = (last < end ? last : end) - first;
    if (count > left)
        count = left;
    /* From now on a block coming home must reserve its pages first (device -> host must not fail). */
    r->host_reclaimed = true;
    hmm4j_region_punch_locked(r, first, count);
    *b = first + count;
    return count;
}

HMM4J_EXPORT int64_t hmm4j_region_reclaim_host(struct hmm4j_region *r, uint64_t max_blocks)
{
    if (!r)
        return -EINVAL;
    int64_t released = 0;
    int rc = 0;
    hmm4j_region_lock(r);
    if (!reclaimable_locked(r))
        goto out_unlock;
    if (r->host_registered) {
        /* Page-locked memory cannot be punched: unpin first; later moves stage through the driver. */
        r->device->ops->unregister_host(r->device, r->engine);
        r->host_registered = false;
    }
    /* From now on a block coming home must reserve its pages first (device -> host must not fail). */
    r->host_reclaimed = true;
    uint64_t b = 0;
    while (b < r->nblocks && (uint64_t)released < max_blocks) {
        uint8_t state = state_at(r, b);
        if (state == HMM4J_BLOCK_HOST) {
            b++;
            continue;
        }
        uint64_t left = max_blocks - (uint64_t)released;
        if (state == HMM4J_BLOCK_DEVICE) {
            released += (int64_t)punch_device_run(r, &b, left);
            continue;
        }
        uint64_t count = run_of(r, b, state, left);
        /* Protection first, state after (invariant 8): a clean block becomes DEVICE only once it faults. */
        rc = hmm4j_region_protect_locked(r, b, count, HMM4J_BLOCK_DEVICE);
        if (rc != 0)
            break;
        for (uint64_t i = b; i < b + count; i++)
            atomic_store_explicit(&r->state[i], HMM4J_BLOCK_DEVICE, memory_order_relaxed);
        hmm4j_region_punch_locked(r, b, count);
        released += (int64_t)count;
        b += count;
    }
out_unlock:
    hmm4j_region_unlock(r);
    return rc != 0 && released == 0 ? rc : released;
}

/* Kept pages of `r`'s DEVICE blocks, up to `bytes`; region lock held. Page-locked ones stay (unpinning is the
 * driver's business, not the fault handler's; the Java host tier unpins and reclaims those). */
static uint64_t reclaim_kept_locked(struct hmm4j_region *r, uint64_t bytes)
{
    if (!reclaimable_locked(r) || r->host_registered)
        return 0;
    uint64_t want = bytes >> r->block_shift;
    if ((want << r->block_shift) < bytes)
        want++;
    uint64_t released = 0;
    uint64_t b = 0;
    while (b < r->nblocks && released < want) {
        if (state_at(r, b) != HMM4J_BLOCK_DEVICE) {
            b++;
            continue;
        }
        released += punch_device_run(r, &b, want - released);
    }
    HMM4J_STAT_ADD(r->stats, host_reclaimed_bytes, released << r->block_shift);
    return released << r->block_shift;
}

uint64_t hmm4j_host_reclaim_kept(struct hmm4j_region *self, uint64_t bytes)
{
    uint64_t released = 0;
    /* Other regions first: the faulting region's own kept pages are the ones most likely wanted next. */
    int span = hmm4j_registry_span();
    for (int slot = 0; slot < span && released < bytes; slot++) {
        struct hmm4j_region *r = hmm4j_registry_enter_slot(slot);
        if (!r)
            continue;
        /* Only a free lock: the caller holds its own, and waiting here for another could wait in a cycle. */
        if (r != self && hmm4j_region_trylock(r)) {
            released += reclaim_kept_locked(r, bytes - released);
            hmm4j_region_unlock(r);
        }
        hmm4j_registry_leave(slot);
    }
    if (self && released < bytes)
        released += reclaim_kept_locked(self, bytes - released);
    return released;
}
