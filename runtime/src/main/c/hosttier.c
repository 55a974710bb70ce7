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

/*
 * Under the region lock: a fault charges the heap's headroom and reserves the pages under that lock, so Java, which
 * sets the headroom from these figures (HostTier.syncHeadroom), sees either both or neither. Read between them, the
 * charge was dropped while its pages were not counted yet, and the heap went that many bytes over its budget.
 */
HMM4J_EXPORT int64_t hmm4j_region_host_bytes(const struct hmm4j_region *region)
{
    if (!region)
        return -EINVAL;
    struct hmm4j_region *r = (struct hmm4j_region *)region; /* the lock is the only thing written */
    struct stat st;
    hmm4j_region_lock(r);
    int rc = fstat(r->memfd, &st) == 0 ? 0 : -errno;
    hmm4j_region_unlock(r);
    return rc != 0 ? rc : (int64_t)st.st_blocks * 512;
}

static uint8_t state_at(struct hmm4j_region *r, uint64_t block)
{
    return atomic_load_explicit(&r->state[block], memory_order_relaxed);
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
    return hmm4j_region_devices_healthy_locked(r);
}

/*
 * Punches the kept pages of the DEVICE run at *b (at most `left` blocks, none from `to` on) and moves *b past what it
 * looked at; returns the blocks punched. Only blocks that still hold pages count: a reclaimed run is a hole and costs
 * nothing to skip. State and protection stay as they are (DEVICE, PROT_NONE): nothing a fault could see changes.
 */
static uint64_t punch_device_run(struct hmm4j_region *r, uint64_t *b, uint64_t left, uint64_t to)
{
    uint64_t end = *b + hmm4j_region_run_of(r, *b, HMM4J_BLOCK_DEVICE, to - *b);
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

/*
 * Gives back the host pages of up to `max_blocks` blocks of [from, to) whose bytes are valid on the device, in block
 * order (region lock held, reclaimable_locked true, pages not page-locked): DEVICE blocks' kept pages, and with
 * `shared_too` SHARED blocks, which become DEVICE first. Returns the blocks released; *rc is the first protection
 * error, if any.
 */
static uint64_t reclaim_range_locked(struct hmm4j_region *r, uint64_t from, uint64_t to, uint64_t max_blocks,
                                     bool shared_too, int *rc)
{
    uint64_t released = 0;
    uint64_t b = from;
    *rc = 0;
    while (b < to && released < max_blocks) {
        uint8_t state = state_at(r, b);
        if (state == HMM4J_BLOCK_HOST || (state == HMM4J_BLOCK_SHARED && !shared_too)) {
            b++;
            continue;
        }
        uint64_t left = max_blocks - released;
        if (state == HMM4J_BLOCK_DEVICE) {
            released += punch_device_run(r, &b, left, to);
            continue;
        }
        uint64_t count = hmm4j_region_run_of(r, b, state, left < to - b ? left : to - b);
        /* Protection first, state after (invariant 8): a clean block becomes DEVICE only once it faults. */
        *rc = hmm4j_region_protect_locked(r, b, count, HMM4J_BLOCK_DEVICE);
        if (*rc != 0)
            break;
        for (uint64_t i = b; i < b + count; i++)
            atomic_store_explicit(&r->state[i], HMM4J_BLOCK_DEVICE, memory_order_relaxed);
        /* From now on a block coming home must reserve its pages first (device -> host must not fail). */
        r->host_reclaimed = true;
        hmm4j_region_punch_locked(r, b, count);
        released += count;
        b += count;
    }
    return released;
}

static uint64_t reclaim_locked(struct hmm4j_region *r, uint64_t max_blocks, bool shared_too, int *rc)
{
    return reclaim_range_locked(r, 0, r->nblocks, max_blocks, shared_too, rc);
}

HMM4J_EXPORT int64_t hmm4j_region_reclaim_host(struct hmm4j_region *r, uint64_t max_blocks)
{
    if (!r)
        return -EINVAL;
    uint64_t released = 0;
    int rc = 0;
    hmm4j_region_lock(r);
    if (!reclaimable_locked(r))
        goto out_unlock;
    /* Page-locked memory cannot be punched: unpin first; later moves stage through the driver. */
    hmm4j_region_unpin_locked(r);
    released = reclaim_locked(r, max_blocks, true, &rc);
out_unlock:
    hmm4j_region_unlock(r);
    return rc != 0 && released == 0 ? rc : (int64_t)released;
}

/*
 * Up to `bytes` of `r`'s reclaimable pages, region lock held. Page-locked ones stay (unpinning is the driver's
 * business, not the fault handler's; the Java host tier unpins and reclaims those).
 */
static uint64_t reclaim_some_locked(struct hmm4j_region *r, uint64_t bytes, bool shared_too)
{
    if (!reclaimable_locked(r) || r->host_registered)
        return 0;
    uint64_t want = bytes >> r->block_shift;
    if ((want << r->block_shift) < bytes)
        want++;
    int rc;
    uint64_t released = reclaim_locked(r, want, shared_too, &rc) << r->block_shift;
    HMM4J_STAT_ADD(r->stats, host_reclaimed_bytes, released);
    return released;
}

/*
 * Walks the registry for `self` (whose lock the caller holds): regions whose lock is free, all of them or only those
 * of self's heap, then with `self_too` self's own kept pages (never its SHARED blocks: the caller may be in the
 * middle of migrating them).
 */
static uint64_t reclaim_around(struct hmm4j_region *self, uint64_t bytes, bool same_heap_only, bool shared_too,
                               bool self_too)
{
    uint64_t released = 0;
    /* Other regions first: the faulting region's own kept pages are the ones most likely wanted next. */
    int span = hmm4j_registry_span();
    for (int slot = 0; slot < span && released < bytes; slot++) {
        struct hmm4j_region *r = hmm4j_registry_enter_slot(slot);
        if (!r)
            continue;
        /* Only a free lock: the caller holds its own, and waiting here for another could wait in a cycle. */
        if (r != self && (!same_heap_only || r->host_headroom == self->host_headroom) && hmm4j_region_trylock(r)) {
            released += reclaim_some_locked(r, bytes - released, shared_too);
            hmm4j_region_unlock(r);
        }
        hmm4j_registry_leave(slot);
    }
    if (self_too && released < bytes)
        released += reclaim_some_locked(self, bytes - released, false);
    return released;
}

/*
 * Up to `bytes` of `r`'s HOST blocks (the only copy) written back to its device and given back, region lock held:
 * for a region the host tier may spill (hmm4j_region_set_host_spill) that is bound and reclaimable. The engine's own
 * migration does the copy (an eviction: protection first, so no host write slips past it; a failed copy leaves the
 * blocks as they were), then the pages go. Returns the bytes given back.
 */
static uint64_t spill_host_locked(struct hmm4j_region *r, uint64_t bytes)
{
    if (!r->host_spill || !reclaimable_locked(r) || r->host_registered)
        return 0;
    uint64_t want = bytes >> r->block_shift;
    if ((want << r->block_shift) < bytes)
        want++;
    uint64_t released = 0;
    uint64_t b = 0;
    while (b < r->nblocks && released < want) {
        if (state_at(r, b) != HMM4J_BLOCK_HOST) {
            b++;
            continue;
        }
        uint64_t count = hmm4j_region_run_of(r, b, HMM4J_BLOCK_HOST, want - released);
        uint64_t moved = 0;
        if (hmm4j_region_migrate_locked(r, b, count, HMM4J_TO_DEVICE, HMM4J_INTENT_READ | HMM4J_INTENT_WRITE,
                                        HMM4J_CAUSE_EVICTION, &moved) != 0)
            break;
        /* The blocks are DEVICE now (PROT_NONE): their pages are kept ones, and go like any. */
        released += punch_device_run(r, &b, want - released, r->nblocks);
    }
    HMM4J_STAT_ADD(r->stats, host_reclaimed_bytes, released << r->block_shift);
    return released << r->block_shift;
}

/*
 * The heap's regions that may spill, least recently used first (Java's stamp, hmm4j_region_touch), whose lock is
 * free: their HOST blocks are written back to their device until `bytes` are given back.
 */
static uint64_t spill_around(struct hmm4j_region *self, uint64_t bytes)
{
    uint64_t released = 0;
    uint64_t after = 0; /* stamps are unique: each pass takes the oldest region younger than the last one */
    int span = hmm4j_registry_span();
    while (released < bytes) {
        int oldest_slot = -1;
        uint64_t oldest = UINT64_MAX;
        for (int slot = 0; slot < span; slot++) {
            struct hmm4j_region *r = hmm4j_registry_enter_slot(slot);
            if (!r)
                continue;
            uint64_t stamp = atomic_load_explicit(&r->recency, memory_order_relaxed);
            if (r != self && r->host_headroom == self->host_headroom && r->host_spill && stamp >= after &&
                stamp < oldest) {
                oldest = stamp;
                oldest_slot = slot;
            }
            hmm4j_registry_leave(slot);
        }
        if (oldest_slot < 0)
            break;
        after = oldest + 1;
        struct hmm4j_region *r = hmm4j_registry_enter_slot(oldest_slot);
        if (!r)
            continue;
        if (r != self && r->host_headroom == self->host_headroom && hmm4j_region_trylock(r)) {
            released += spill_host_locked(r, bytes - released);
            hmm4j_region_unlock(r);
        }
        hmm4j_registry_leave(oldest_slot);
    }
    return released;
}

uint64_t hmm4j_host_reclaim_kept(struct hmm4j_region *self, uint64_t bytes)
{
    return reclaim_around(self, bytes, false, false, true);
}

/*
 * Up to `bytes` of the faulting region's own clean pages (region lock held), outside the blocks its fault brings home,
 * the previous fault's, and the run [first, first+count) being charged: where the heap's other regions have nothing
 * left to give (one array larger than the budget), the pages read before make room for the ones read now. Only in a
 * fault (keep_end set): an explicit migration home keeps what it brought. Not for a region shared between processes,
 * whose blocks its peers may hold.
 */
static uint64_t reclaim_own_locked(struct hmm4j_region *r, uint64_t bytes, uint64_t first, uint64_t count)
{
    if (r->keep_end == 0 || r->shared || !reclaimable_locked(r) || r->host_registered)
        return 0;
    uint64_t kept[3][2] = {{r->keep_first, r->keep_end}, {first, first + count}, {r->last_keep_first, r->last_keep_end}};
    int nkept = r->last_keep_end != 0 ? 3 : 2;
    uint64_t want = (bytes + r->block_size - 1) >> r->block_shift;
    uint64_t released = 0;
    int rc = 0;
    uint64_t from = 0;
    while (from < r->nblocks && released < want && rc == 0) {
        /* The gap from `from` to the next kept range that starts at or after it; a range covering `from` skips it. */
        uint64_t to = r->nblocks;
        bool covered = false;
        for (int i = 0; i < nkept; i++) {
            if (kept[i][0] <= from && from < kept[i][1]) {
                from = kept[i][1];
                covered = true;
                break;
            }
            if (kept[i][0] > from && kept[i][0] < to)
                to = kept[i][0];
        }
        if (covered)
            continue;
        released += reclaim_range_locked(r, from, to, want - released, true, &rc);
        from = to;
    }
    HMM4J_STAT_ADD(r->stats, host_reclaimed_bytes, released << r->block_shift);
    return released << r->block_shift;
}

/* Headroom beyond which a heap cannot be over its budget (Java sets Long.MAX_VALUE / 4 there). */
#define HEADROOM_UNLIMITED ((int64_t)1 << 60)

/* Bytes of [first, first+count) that hold no pages (what reserving them will allocate). */
static uint64_t hole_bytes(struct hmm4j_region *r, uint64_t first, uint64_t count)
{
    off_t pos = (off_t)(first << r->block_shift);
    off_t end = (off_t)((first + count) << r->block_shift);
    uint64_t holes = 0;
    while (pos < end) {
        off_t hole = lseek(r->memfd, pos, SEEK_HOLE);
        if (hole < 0)
            return (uint64_t)(end - pos); /* unknown: count it all */
        if (hole >= end)
            break;
        off_t data = lseek(r->memfd, hole, SEEK_DATA);
        off_t hole_end = data < 0 || data > end ? end : data;
        holes += (uint64_t)(hole_end - hole);
        pos = hole_end;
    }
    return holes;
}

int64_t hmm4j_host_charge_locked(struct hmm4j_region *r, uint64_t first, uint64_t count)
{
    if (!r->host_headroom || r->file_bytes != 0)
        return 0;
    /* A heap smaller than its budget (Java's UNLIMITED, Long.MAX_VALUE / 4) needs no accounting: no lseek per fault. */
    if (atomic_load_explicit(r->host_headroom, memory_order_relaxed) > HEADROOM_UNLIMITED)
        return 0;
    int64_t bytes = (int64_t)hole_bytes(r, first, count);
    if (bytes == 0)
        return 0;
    int64_t left = atomic_fetch_sub(r->host_headroom, bytes) - bytes;
    if (left < 0) {
        /* Other regions' clean pages first: the run about to be reserved was charged for its holes as they are now. */
        uint64_t released = reclaim_around(r, (uint64_t)-left, true, true, false);
        /* Then this region's own clean pages that the fault does not need, before anything is written back. */
        if ((int64_t)released < -left)
            released += reclaim_own_locked(r, (uint64_t)-left - released, first, count);
        /* Clean pages were not enough: write back what the heap's least recently used regions hold only here. */
        if ((int64_t)released < -left)
            released += spill_around(r, (uint64_t)-left - released);
        left = atomic_fetch_add(r->host_headroom, (int64_t)released) + (int64_t)released;
        /*
         * A block a fault waits for comes home whatever the budget says (device -> host must not fail): one block
         * per faulting thread beyond it. Read-ahead is a guess, and no guess is worth going over the budget.
         */
        if (left < 0 && r->readahead) {
            atomic_fetch_add(r->host_headroom, bytes);
            return -EDQUOT;
        }
    }
    return bytes;
}

void hmm4j_host_uncharge(struct hmm4j_region *r, int64_t bytes)
{
    if (r->host_headroom && bytes > 0)
        atomic_fetch_add(r->host_headroom, bytes);
}

HMM4J_EXPORT void hmm4j_region_set_host_spill(struct hmm4j_region *r, int32_t allow)
{
    hmm4j_region_lock(r);
    r->host_spill = allow != 0 && r->file_bytes == 0;
    hmm4j_region_unlock(r);
}

HMM4J_EXPORT void hmm4j_region_touch(struct hmm4j_region *r, uint64_t stamp)
{
    atomic_store_explicit(&r->recency, stamp, memory_order_relaxed);
}

HMM4J_EXPORT void hmm4j_region_set_host_headroom(struct hmm4j_region *r, int64_t *headroom)
{
    hmm4j_region_lock(r);
    r->host_headroom = (_Atomic int64_t *)headroom;
    hmm4j_region_unlock(r);
}
