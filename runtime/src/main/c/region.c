/*
 * Regions and the three-phase migration (collect, copy, finalize). The fault
 * handler, launches, prefetches and evictions all go through migrate_locked.
 */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A failed device->host copy in the fault path is retried: there is no caller to report to. */
#define FAULT_COPY_ATTEMPTS 3

void hmm4j_region_lock(struct hmm4j_region *region)
{
    int expected = 0;
    while (!atomic_compare_exchange_weak_explicit(&region->lock, &expected, 1, memory_order_acquire,
                                                  memory_order_relaxed)) {
        expected = 0;
        sched_yield();
    }
}

void hmm4j_region_unlock(struct hmm4j_region *region)
{
    atomic_store_explicit(&region->lock, 0, memory_order_release);
}

bool hmm4j_region_trylock(struct hmm4j_region *region)
{
    int expected = 0;
    return atomic_compare_exchange_strong_explicit(&region->lock, &expected, 1, memory_order_acquire,
                                                   memory_order_relaxed);
}

static int protection_of(uint8_t state)
{
    switch (state) {
    case HMM4J_BLOCK_HOST:
        return PROT_READ | PROT_WRITE;
    case HMM4J_BLOCK_SHARED:
        return PROT_READ;
    default:
        return PROT_NONE;
    }
}

static bool protect_failure_injected(struct hmm4j_region *r)
{
    if (atomic_load_explicit(&r->inject_protect_count, memory_order_relaxed) == 0)
        return false;
    uint32_t skip = atomic_load_explicit(&r->inject_protect_skip, memory_order_relaxed);
    if (skip > 0) {
        atomic_store_explicit(&r->inject_protect_skip, skip - 1, memory_order_relaxed);
        return false;
    }
    atomic_fetch_sub_explicit(&r->inject_protect_count, 1, memory_order_relaxed);
    return true;
}

/*
 * Over several mappings mprotect is not atomic: at the mapping limit it may fail after changing the first
 * ones. A whole block lies in one mapping (protections change on block boundaries), so for one block it
 * either happens or changes nothing. A block a fault opened in part (protect_committed) lies in up to three;
 * a change that stops part-way there leaves its pages stricter than the state the caller keeps on failure
 * (commit_run's fallback, a rollback's current state), which the spurious-fault path repairs.
 */
static int protect_range(struct hmm4j_region *r, void *start, uint64_t bytes, uint8_t state)
{
    int protection = protection_of(state);
    if (r->read_only)
        protection &= ~PROT_WRITE;
    if (mprotect(start, bytes, protection) != 0)
        return errno == ENOMEM ? -HMM4J_EMAPLIMIT : -errno;
    return 0;
}

static uint8_t state_of(struct hmm4j_region *r, uint64_t block);

static int protect_blocks(struct hmm4j_region *r, uint64_t first, uint64_t count, uint8_t state)
{
    if (protect_failure_injected(r))
        return -HMM4J_EMAPLIMIT;
    /* Never lazily read-only (lazy_home_allowed): its bits stay clear. */
    if (r->uffd)
        return hmm4j_uffd_protect(r, first, count, state);
    if (r->partial) {
        /*
         * A block opened in part that gains access its state does not give (SHARED made HOST) is first opened as
         * its state says: a change stopping part-way over its mappings must not leave a page writable while the
         * block stays SHARED. Opening it only as far as its state allows can stop anywhere.
         */
        for (uint64_t b = first; b < first + count; b++) {
            if (!r->partial[b] || !(protection_of(state) & ~protection_of(state_of(r, b))))
                continue;
            int rc = protect_range(r, r->user + (b << r->block_shift), r->block_size, state_of(r, b));
            if (rc != 0)
                return rc;
        }
    }
    int rc = protect_range(r, r->user + (first << r->block_shift), count << r->block_shift, state);
    if (rc == 0 && r->partial)
        memset(r->partial + first, 0, count);
    /*
     * Done, the protection is the state's; failed, part of it may have changed. Either way no block of the run is
     * known to be read-only any more: a HOST block then gets the protection change a read-only one would skip.
     */
    if (r->host_ro)
        memset(r->host_ro + first, 0, count);
    return rc;
}

/*
 * The final protection change of a run. The block of the fault being served opens only the faulting page:
 * access taken away later costs a TLB shootdown per page that has it (tens of microseconds per 64 KiB block on a
 * virtualised host), and the host often touches a few words of a block between kernels. The rest of the block
 * stays stricter than its state, which the spurious-fault path opens on the first touch. Only for opening: a
 * page that kept more access than its state allows would let a host access through unseen.
 */
static int protect_committed(struct hmm4j_region *r, uint64_t first, uint64_t count, uint8_t state)
{
    uintptr_t page = r->fault_page;
    uintptr_t start = (uintptr_t)r->user + (first << r->block_shift);
    if (page == 0 || !r->partial || count != 1 || state == HMM4J_BLOCK_DEVICE || page < start ||
        page >= start + r->block_size)
        return protect_blocks(r, first, count, state);
    if (protect_failure_injected(r))
        return -HMM4J_EMAPLIMIT;
    int rc = protect_range(r, (void *)page, (uint64_t)hmm4j_engine_page_size(), state);
    if (rc == 0)
        r->partial[first] = 1;
    return rc;
}

static void settle_uploads_locked(struct hmm4j_region *r);

/* DEVICE blocks give their host RAM back; it is reserved again before a copy home. */
static void release_host_backing(struct hmm4j_region *r, uint64_t first, uint64_t count)
{
    /* A file's pages are its data (DESIGN.md invariant 4): whatever asks, they are never punched. */
    if (!r->release_host || r->file_bytes != 0)
        return;
    settle_uploads_locked(r);
    fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(first << r->block_shift),
              (off_t)(count << r->block_shift));
}

/*
 * For the host tier (hosttier.c), region lock held: give back a run's pages whatever release_host says (reclaim
 * is the explicit request), but never a file's, and change protection the way this region does it (mprotect,
 * or userfaultfd write-protect and zap).
 */
void hmm4j_region_punch_locked(struct hmm4j_region *r, uint64_t first, uint64_t count)
{
    if (r->file_bytes != 0)
        return;
    settle_uploads_locked(r);
    fallocate(r->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)(first << r->block_shift),
              (off_t)(count << r->block_shift));
}

int hmm4j_region_protect_locked(struct hmm4j_region *r, uint64_t first, uint64_t count, uint8_t state)
{
    settle_uploads_locked(r);
    return protect_blocks(r, first, count, state);
}

/*
 * Only the pages that hold the region's bytes: what lies past them in the last block is no array's, and a guard
 * lowered and lifted around every launch costs per page changed (a 4-byte array: one page, not a block's 16).
 */
int hmm4j_region_protect_bytes_locked(struct hmm4j_region *r, uint8_t state)
{
    uint64_t page = (uint64_t)hmm4j_engine_page_size();
    uint64_t bytes = r->bytes ? (r->bytes + page - 1) & ~(page - 1) : r->size;
    if (protect_failure_injected(r))
        return -HMM4J_EMAPLIMIT;
    int rc = protect_range(r, r->user, bytes, state);
    /* As protect_blocks: opened in part no more once it succeeded, read-only no more whatever happened. */
    if (rc == 0 && r->partial)
        memset(r->partial, 0, r->nblocks);
    if (r->host_ro)
        memset(r->host_ro, 0, r->nblocks);
    return rc;
}

/* test hook, process-wide (hmm4j_engine_inject_host_reserve_failure): reservations to let through, then to fail */
static _Atomic uint32_t inject_reserve_skip;
static _Atomic uint32_t inject_reserve_count;

HMM4J_EXPORT void hmm4j_engine_inject_host_reserve_failure(uint32_t skip, uint32_t count)
{
    atomic_store_explicit(&inject_reserve_count, 0, memory_order_relaxed);
    atomic_store_explicit(&inject_reserve_skip, skip, memory_order_relaxed);
    atomic_store_explicit(&inject_reserve_count, count, memory_order_relaxed);
}

static bool reserve_failure_injected(void)
{
    uint32_t count = atomic_load_explicit(&inject_reserve_count, memory_order_relaxed);
    if (count == 0)
        return false;
    uint32_t skip = atomic_load_explicit(&inject_reserve_skip, memory_order_relaxed);
    if (skip > 0 && atomic_compare_exchange_strong(&inject_reserve_skip, &skip, skip - 1))
        return false;
    while (count > 0 && !atomic_compare_exchange_weak(&inject_reserve_count, &count, count - 1))
        ;
    return count > 0;
}

static int reserve_host_backing(struct hmm4j_region *r, uint64_t first, uint64_t count)
{
    if (reserve_failure_injected())
        return -ENOSPC;
    if (fallocate(r->memfd, FALLOC_FL_KEEP_SIZE, (off_t)(first << r->block_shift),
                  (off_t)(count << r->block_shift)) != 0)
        return -errno;
    return 0;
}

/*
 * The pages are reserved here, by a system call that can fail, and never by the copy's page faults, which the
 * kernel can only answer with SIGBUS or its OOM killer. When the memfd gets no pages (ENOSPC, ENOMEM), the kept
 * pages of DEVICE blocks are given back for them (a cache: their bytes are on a device): first as many as the run
 * needs, then all of them. Only then does the copy home fail, and the block stays DEVICE with its data.
 */
int hmm4j_region_reserve_host_locked(struct hmm4j_region *r, uint64_t first, uint64_t count)
{
    int rc = reserve_host_backing(r, first, count);
    uint64_t wanted[] = {count << r->block_shift, UINT64_MAX};
    for (int pass = 0; pass < 2 && (rc == -ENOSPC || rc == -ENOMEM); pass++) {
        if (hmm4j_host_reclaim_kept(r, wanted[pass]) == 0 && pass == 0)
            pass++; /* nothing was kept anywhere: the second pass would find nothing either */
        rc = reserve_host_backing(r, first, count);
    }
    if (rc == -ENOSPC || rc == -ENOMEM) {
        HMM4J_STAT_ADD(r->stats, host_reserve_failures, 1);
        return -HMM4J_ENOHOSTMEM;
    }
    return rc;
}

static uint8_t state_of(struct hmm4j_region *r, uint64_t block)
{
    return atomic_load_explicit(&r->state[block], memory_order_relaxed);
}

uint64_t hmm4j_region_run_of(struct hmm4j_region *r, uint64_t first, uint8_t state, uint64_t limit)
{
    uint64_t end = first + 1;
    while (end < r->nblocks && end - first < limit && state_of(r, end) == state)
        end++;
    return end - first;
}

static void set_state(struct hmm4j_region *r, uint64_t block, uint8_t state)
{
    atomic_store_explicit(&r->state[block], state, memory_order_relaxed);
}

static uint8_t mask_of(struct hmm4j_region *r, uint64_t block)
{
    return atomic_load_explicit(&r->valid[block], memory_order_relaxed);
}

static void set_mask(struct hmm4j_region *r, uint64_t block, uint8_t mask)
{
    atomic_store_explicit(&r->valid[block], mask, memory_order_relaxed);
}

/* Whether a block of the run has pages a fault left stricter than its state (protect_committed). */
static bool opened_in_part(struct hmm4j_region *r, uint64_t first, uint64_t count)
{
    if (!r->partial)
        return false;
    for (uint64_t b = first; b < first + count; b++)
        if (r->partial[b])
            return true;
    return false;
}

/* A HOST block whose user view a lazy move home left read-only (HMM4J_INTENT_LAZY): its first host write faults. */
static bool host_read_only(struct hmm4j_region *r, uint64_t block)
{
    return r->host_ro && r->host_ro[block] && state_of(r, block) == HMM4J_BLOCK_HOST;
}

/*
 * userfaultfd regions write-protect with their own faults (uffd.c serves only SHARED blocks' write faults), a shared
 * region's peers and a zero-copy region's launches set protections of their own: those keep HOST writable.
 */
static bool lazy_home_allowed(struct hmm4j_region *r)
{
    return r->host_ro && !r->uffd && !r->shared && !r->zero_copy && !r->read_only;
}

static struct hmm4j_device *device_of(struct hmm4j_region *r, int slot) { return r->bindings[slot].device; }

static int slot_of(struct hmm4j_region *r, const struct hmm4j_device *device)
{
    for (int i = 0; i < HMM4J_MAX_BINDINGS; i++)
        if ((r->bound & (1u << i)) && r->bindings[i].device == device)
            return i;
    return -1;
}

static bool pinned_with(struct hmm4j_region *r, int slot) { return r->host_registered && r->pinned_slot == slot; }

static bool healthy(struct hmm4j_device *dev)
{
    return !atomic_load(&dev->lost) && !atomic_load(&dev->unreadable) && !atomic_load(&dev->closed);
}

/* The binding a copy of a block valid on `mask` comes from: the lowest healthy one, else the lowest. */
static int source_of(struct hmm4j_region *r, uint8_t mask)
{
    for (int i = 0; i < HMM4J_MAX_BINDINGS; i++)
        if ((mask & (1u << i)) && healthy(device_of(r, i)))
            return i;
    return __builtin_ctz(mask);
}

/* r->device / device_base follow the lowest bound slot (engine_internal.h). */
static void refresh_primary(struct hmm4j_region *r)
{
    r->device = NULL;
    r->device_base = UINT64_MAX;
    if (r->bound) {
        int slot = __builtin_ctz(r->bound);
        r->device = r->bindings[slot].device;
        r->device_base = r->bindings[slot].base;
    }
}

bool hmm4j_region_devices_healthy_locked(struct hmm4j_region *r)
{
    for (int i = 0; i < HMM4J_MAX_BINDINGS; i++)
        if ((r->bound & (1u << i)) && !healthy(device_of(r, i)))
            return false;
    return true;
}

void hmm4j_region_synchronize_devices_locked(struct hmm4j_region *r)
{
    for (int i = 0; i < HMM4J_MAX_BINDINGS; i++)
        if (r->bound & (1u << i))
            hmm4j_device_do_synchronize(device_of(r, i));
}

bool hmm4j_region_copies_follow_launches_locked(struct hmm4j_region *r)
{
    for (int i = 0; i < HMM4J_MAX_BINDINGS; i++)
        if ((r->bound & (1u << i)) && !device_of(r, i)->ops->copies_follow_launches)
            return false;
    return true;
}

/*
 * Waits for the region's copy to the device still in flight, if any: the device reads the host pages until it
 * completes, so nothing may write, punch or unpin them before. A failed copy leaves the device's bytes unknown:
 * SHARED blocks become HOST (protection first, invariant 8), and the error waits for
 * hmm4j_region_settle_uploads, so that a launch that read them reports it.
 */
static void settle_uploads_locked(struct hmm4j_region *r)
{
    struct hmm4j_fence *upload = r->upload;
    if (!upload)
        return;
    int slot = slot_of(r, r->upload_device);
    r->upload = NULL;
    /* Only meaningful beside an upload: its binding may end (and the device be freed) once it is settled. */
    r->upload_device = NULL;
    int rc = hmm4j_fence_wait_uncounted(upload);
    hmm4j_fence_put(upload);
    if (rc == 0)
        return;
    HMM4J_STAT_ADD(r->stats, copy_errors, 1);
    /* Reported to launches on that device only: a launch elsewhere read its own device's copy. */
    if (slot >= 0 && r->upload_error[slot] == 0)
        r->upload_error[slot] = rc;
    uint8_t failed = slot >= 0 ? (uint8_t)(1u << slot) : (uint8_t)~0u;
    for (uint64_t b = 0; b < r->nblocks; b++) {
        if (state_of(r, b) != HMM4J_BLOCK_SHARED || !(mask_of(r, b) & failed))
            continue;
        uint8_t others = mask_of(r, b) & (uint8_t)~failed;
        /* Another device's copy stays valid beside the host's: the block stays SHARED without the failed one. */
        if (others)
            set_mask(r, b, others);
        else if (protect_blocks(r, b, 1, HMM4J_BLOCK_HOST) == 0) {
            set_state(r, b, HMM4J_BLOCK_HOST);
            set_mask(r, b, 0);
        }
    }
}

/* Keeps the event of a copy just enqueued; the one it replaces completes first (one in-order queue). */
static void track_upload_locked(struct hmm4j_region *r, struct hmm4j_device *dev, uint64_t event)
{
    /* One fence covers the uploads of one in-order queue only: those to another device are waited for first. */
    if (r->upload && r->upload_device != dev)
        settle_uploads_locked(r);
    struct hmm4j_fence *fence;
    if (hmm4j_fence_create(dev, event, &fence) != 0) {
        /* Nothing could wait for this copy later: wait for it now. */
        hmm4j_device_do_synchronize(dev);
        return;
    }
    struct hmm4j_fence *previous = r->upload;
    r->upload = fence;
    r->upload_device = dev;
    hmm4j_fence_put(previous);
}

HMM4J_EXPORT int hmm4j_region_settle_uploads(struct hmm4j_region *r, struct hmm4j_device *device)
{
    if (!r || !device)
        return -EINVAL;
    hmm4j_region_lock(r);
    settle_uploads_locked(r);
    int slot = slot_of(r, device);
    int rc = 0;
    if (slot >= 0) {
        rc = r->upload_error[slot];
        r->upload_error[slot] = 0;
    }
    hmm4j_region_unlock(r);
    return rc;
}

/* Page-locks the engine view with the device when host pages are kept (punching would break the lock). */
static void register_host_locked(struct hmm4j_region *r)
{
    /* With one device only (the lowest bound): pages are page-locked once, and the others' copies stage. */
    if (r->device && !r->release_host && !r->host_registered && hmm4j_device_pin(r->device, r->engine, r->size)) {
        r->host_registered = true;
        r->pinned_slot = __builtin_ctz(r->bound);
    }
}

void hmm4j_region_unpin_locked(struct hmm4j_region *r)
{
    if (r->host_registered) {
        struct hmm4j_device *dev = device_of(r, r->pinned_slot);
        /* An upload in flight still reads the pages through their lock. */
        settle_uploads_locked(r);
        /* A closed device's context may be gone: its registration dies with it. */
        hmm4j_device_unpin(dev, r->engine, r->size, !atomic_load(&dev->closed));
        r->host_registered = false;
    }
}

HMM4J_EXPORT int hmm4j_region_create(uint64_t size, uint64_t block_size, struct hmm4j_stats *stats,
                                     struct hmm4j_region **out)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (out == NULL || size == 0 || block_size < page || (block_size & (block_size - 1)) != 0)
        return -EINVAL;
    if (size > (UINT64_MAX >> 2))
        return -EINVAL;
    int rc;
    struct hmm4j_region *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->block_size = block_size;
    r->block_shift = __builtin_ctzll(block_size);
    r->nblocks = (size + block_size - 1) >> r->block_shift;
    r->size = r->nblocks << r->block_shift;
    r->bytes = size;
    r->stats = stats;
    r->last_fault_block = UINT64_MAX;
    r->device_base = UINT64_MAX;
    r->release_host = true;
    r->state = calloc(r->nblocks, 1);
    if (!r->state) {
        rc = -ENOMEM;
        goto out_free_region;
    }
    r->memfd = memfd_create("hmm4j-region", MFD_CLOEXEC);
    if (r->memfd < 0) {
        rc = -errno;
        goto out_free_state;
    }
    if (ftruncate(r->memfd, (off_t)r->size) != 0) {
        rc = -errno;
        goto out_close_memfd;
    }
    r->user = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
    if (r->user == MAP_FAILED) {
        rc = -errno;
        goto out_close_memfd;
    }
    r->engine = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
    if (r->engine == MAP_FAILED) {
        rc = -errno;
        goto out_unmap_user;
    }
    rc = hmm4j_registry_add(r);
    if (rc != 0)
        goto out_unmap_engine;
    *out = r;
    return 0;

out_unmap_engine:
    munmap(r->engine, r->size);
out_unmap_user:
    munmap(r->user, r->size);
out_close_memfd:
    close(r->memfd);
out_free_state:
    free((void *)r->state);
out_free_region:
    free(r);
    return rc;
}

HMM4J_EXPORT void hmm4j_region_destroy(struct hmm4j_region *r)
{
    if (!r)
        return;
    hmm4j_registry_remove(r);
    /* The device may still read the pages about to be unmapped. */
    settle_uploads_locked(r);
    if (r->shared)
        hmm4j_shared_detach(r);
    hmm4j_region_drop_fences(r);
    hmm4j_region_unpin_locked(r);
    for (int i = 0; i < HMM4J_MAX_BINDINGS; i++)
        if (r->bound & (1u << i))
            hmm4j_device_put(device_of(r, i));
    munmap(r->engine, r->size);
    munmap(r->user, r->size);
    if (r->memfd >= 0)
        close(r->memfd);
    free(r->host_ro);
    free(r->partial);
    free((void *)r->valid);
    free((void *)r->state);
    free(r);
}

HMM4J_EXPORT void *hmm4j_region_user_base(const struct hmm4j_region *r) { return r->user; }
HMM4J_EXPORT void *hmm4j_region_engine_base(const struct hmm4j_region *r) { return r->engine; }
HMM4J_EXPORT uint64_t hmm4j_region_size(const struct hmm4j_region *r) { return r->size; }
HMM4J_EXPORT uint64_t hmm4j_region_block_size(const struct hmm4j_region *r) { return r->block_size; }
HMM4J_EXPORT uint64_t hmm4j_region_block_count(const struct hmm4j_region *r) { return r->nblocks; }
HMM4J_EXPORT uint64_t hmm4j_region_device_base(const struct hmm4j_region *r) { return r->device_base; }

HMM4J_EXPORT int hmm4j_region_bind(struct hmm4j_region *r, struct hmm4j_device *device, uint64_t device_base)
{
    if (!r || !device)
        return -EINVAL;
    hmm4j_region_lock(r);
    int rc = 0;
    /* Peers of a shared region fence blocks per attachment, not per device: one device per attachment. */
    if (slot_of(r, device) >= 0 || (r->shared && r->bound))
        rc = -EBUSY;
    else if (r->bound == (1u << HMM4J_MAX_BINDINGS) - 1)
        rc = -ENOSPC;
    else if (atomic_load(&device->closed))
        rc = -EINVAL;
    else if (!r->valid && !(r->valid = calloc(r->nblocks, 1)))
        rc = -ENOMEM;
    else if (!r->host_ro && !(r->host_ro = calloc(r->nblocks, 1)))
        rc = -ENOMEM;
    else if (!r->partial && !r->uffd && !(r->partial = calloc(r->nblocks, 1)))
        rc = -ENOMEM;
    else {
        int slot = __builtin_ctz(~r->bound);
        hmm4j_device_get(device);
        r->bindings[slot] = (struct hmm4j_binding){device, device_base};
        /* An error left by the slot's previous binding is not this device's. */
        r->upload_error[slot] = 0;
        r->bound |= 1u << slot;
        refresh_primary(r);
        register_host_locked(r);
        rc = slot;
    }
    hmm4j_region_unlock(r);
    return rc;
}

HMM4J_EXPORT int64_t hmm4j_region_snapshot(struct hmm4j_region *r, uint8_t *states, uint64_t n)
{
    if (!r || !states)
        return -EINVAL;
    uint64_t count = n < r->nblocks ? n : r->nblocks;
    for (uint64_t i = 0; i < count; i++)
        states[i] = state_of(r, i);
    return (int64_t)count;
}

HMM4J_EXPORT int64_t hmm4j_region_snapshot_valid(struct hmm4j_region *r, uint8_t *masks, uint64_t n)
{
    if (!r || !masks)
        return -EINVAL;
    uint64_t count = n < r->nblocks ? n : r->nblocks;
    /* Under the lock: a migration changes a block's state and mask together. */
    hmm4j_region_lock(r);
    for (uint64_t i = 0; i < count; i++)
        masks[i] = r->valid ? mask_of(r, i) : 0;
    hmm4j_region_unlock(r);
    return (int64_t)count;
}

HMM4J_EXPORT void hmm4j_region_launch_begin(struct hmm4j_region *r)
{
    atomic_fetch_add(&r->launches_in_flight, 1);
    atomic_fetch_add(&r->launches_placing, 1);
}

HMM4J_EXPORT void hmm4j_region_launch_abandoned(struct hmm4j_region *r) { atomic_fetch_sub(&r->launches_placing, 1); }
HMM4J_EXPORT void hmm4j_region_launch_end(struct hmm4j_region *r) { atomic_fetch_sub(&r->launches_in_flight, 1); }

HMM4J_EXPORT void hmm4j_region_set_release_host(struct hmm4j_region *r, int32_t release)
{
    hmm4j_region_lock(r);
    r->release_host = release != 0 && r->file_bytes == 0;
    if (r->release_host)
        hmm4j_region_unpin_locked(r);
    else
        register_host_locked(r);
    hmm4j_region_unlock(r);
}

HMM4J_EXPORT void hmm4j_region_inject_protect_failure(struct hmm4j_region *r, uint32_t skip, uint32_t count)
{
    atomic_store_explicit(&r->inject_protect_count, 0, memory_order_relaxed);
    atomic_store_explicit(&r->inject_protect_skip, skip, memory_order_relaxed);
    atomic_store_explicit(&r->inject_protect_count, count, memory_order_relaxed);
}

HMM4J_EXPORT void hmm4j_region_set_prefetch(struct hmm4j_region *r, uint64_t max_blocks)
{
    hmm4j_region_lock(r);
    r->prefetch_max = max_blocks;
    r->prefetch_window = 0;
    hmm4j_region_unlock(r);
}

/* Where a block of `current` state, valid on `mask`, ends up; `slot` is the binding a move to the device targets. */
static void target_of(uint8_t current, uint8_t mask, int direction, int intent, int slot, uint8_t *state,
                      uint8_t *new_mask)
{
    uint8_t bit = (uint8_t)(1u << slot);
    if (direction == HMM4J_TO_DEVICE) {
        /* A writer's copy is the only valid one: every other copy is stale once its kernel ran. */
        if (intent & HMM4J_INTENT_WRITE) {
            *state = HMM4J_BLOCK_DEVICE;
            *new_mask = bit;
        } else {
            *state = current == HMM4J_BLOCK_DEVICE ? HMM4J_BLOCK_DEVICE : HMM4J_BLOCK_SHARED;
            *new_mask = mask | bit;
        }
        return;
    }
    if (intent & HMM4J_INTENT_WRITE) {
        *state = HMM4J_BLOCK_HOST;
        *new_mask = 0;
    } else {
        *state = current == HMM4J_BLOCK_HOST ? HMM4J_BLOCK_HOST : HMM4J_BLOCK_SHARED;
        *new_mask = mask;
    }
}

static bool needs_copy(uint8_t current, uint8_t mask, int direction, int intent, int slot)
{
    if (direction == HMM4J_TO_DEVICE)
        return (intent & HMM4J_INTENT_READ) && !(mask & (1u << slot));
    if (intent & HMM4J_INTENT_DISCARD)
        return false;
    /* The host always gets the bytes back: a host write may cover only part of a block. */
    return current == HMM4J_BLOCK_DEVICE;
}

/*
 * Copies a run to binding `slot` (to the device: from the host, or from binding `from` >= 0, peer to peer) or home
 * from binding `from`.
 */
static int copy_run(struct hmm4j_region *r, uint64_t first, uint64_t count, int direction, int slot, int from,
                    bool async)
{
    uint64_t offset = first << r->block_shift;
    uint64_t bytes = count << r->block_shift;
    if (direction == HMM4J_TO_DEVICE) {
        struct hmm4j_device *dev = device_of(r, slot);
        uint64_t device_addr = r->bindings[slot].base + offset;
        if (from >= 0)
            return hmm4j_device_do_peer(dev, device_addr, device_of(r, from), r->bindings[from].base + offset, bytes);
        if (async) {
            uint64_t event = 0;
            int rc = hmm4j_device_do_to_device_async(dev, device_addr, r->engine + offset, bytes, pinned_with(r, slot),
                                                     &event);
            if (rc == 0 && event)
                track_upload_locked(r, dev, event);
            return rc;
        }
        return hmm4j_device_do_to_device(dev, device_addr, r->engine + offset, bytes, pinned_with(r, slot));
    }
    /*
     * Under a host budget the holes of the run are charged first, wherever they come from: a block that never had
     * pages (written on the device from the start) takes them just as a reclaimed one does. Pages that were never given
     * back need no reservation (and fallocate over them is not free).
     */
    int64_t charged = hmm4j_host_charge_locked(r, first, count);
    if (charged < 0)
        return (int)charged;
    if (r->release_host || r->host_reclaimed || charged > 0) {
        int rc = hmm4j_region_reserve_host_locked(r, first, count);
        if (rc != 0) {
            hmm4j_host_uncharge(r, charged);
            return rc;
        }
    }
    return hmm4j_device_do_to_host(device_of(r, from), r->engine + offset, r->bindings[from].base + offset, bytes,
                                   pinned_with(r, from));
}

/*
 * Applies the final state and mask to blocks [first, first+count) that share `target`;
 * `protection_now` is the user view's current protection of the run (mprotect is skipped when equal);
 * `release` gives back the host pages of blocks that become DEVICE. Protection first, state after (DESIGN.md
 * invariant 8). When the run's mprotect fails (the mapping limit), each block is tried alone; a block that still
 * fails takes `fallback` / `fallback_mask`, what its unchanged protection says, and is marked failed in `outcome`
 * (indexed from `first`, may be NULL). Returns 0 or the first protection error; *committed counts the blocks that
 * reached `target`.
 */
static int commit_run(struct hmm4j_region *r, uint64_t first, uint64_t count, uint8_t target, uint8_t target_mask,
                      int protection_now, bool release, uint8_t fallback, uint8_t fallback_mask, uint8_t *outcome,
                      uint8_t committed_bits, uint64_t *committed)
{
    int rc = protection_now == protection_of(target) ? 0 : protect_committed(r, first, count, target);
    if (rc == 0) {
        for (uint64_t b = first; b < first + count; b++) {
            set_state(r, b, target);
            set_mask(r, b, target_mask);
        }
        if (release)
            release_host_backing(r, first, count);
        if (outcome)
            memset(outcome, committed_bits, count);
        *committed = count;
        return 0;
    }
    int first_error = rc;
    bool failed = false;
    *committed = 0;
    for (uint64_t b = first; b < first + count; b++) {
        /* Blocks the failed call did change are already at `target`: mprotect of them is a no-op. */
        bool done = protect_blocks(r, b, 1, target) == 0;
        set_state(r, b, done ? target : fallback);
        set_mask(r, b, done ? target_mask : fallback_mask);
        if (done && release)
            release_host_backing(r, b, 1);
        if (outcome)
            outcome[b - first] = done ? committed_bits : HMM4J_MIGRATE_FAILED;
        *committed += done;
        failed |= !done;
    }
    return failed ? first_error : 0;
}

/*
 * Puts the run's protection back to what `state` says after a failed copy or protection change. Like
 * commit_run it falls back to single blocks; a block that cannot be restored keeps a protection stricter
 * than its state, which the spurious-fault path repairs or reports.
 */
static void restore_run(struct hmm4j_region *r, uint64_t first, uint64_t count, uint8_t state)
{
    if (protect_blocks(r, first, count, state) == 0)
        return;
    for (uint64_t b = first; b < first + count; b++)
        protect_blocks(r, b, 1, state);
}

/*
 * Collect, copy, finalize on [first, first+n) with the region lock held; `slot` is the bound binding a move to the
 * device targets (ignored home: each run comes from a binding its blocks are valid on). Runs of consecutive blocks
 * with the same state and the same valid copies are copied in one call.
 */
static int migrate_locked(struct hmm4j_region *r, uint64_t first, uint64_t n, int direction, int intent, int slot,
                          int cause, uint8_t *outcome, uint64_t *moved_blocks)
{
    int result = 0;
    uint64_t moved = 0;
    bool lazy = direction == HMM4J_TO_HOST && (intent & HMM4J_INTENT_LAZY) && lazy_home_allowed(r);
    /*
     * Home: host pages are about to be written or made writable. A copy into them on a device whose copies run in
     * queue order starts only after the uploads before it have read them; making them writable needs the wait.
     */
    bool copy_follows_uploads = r->upload && r->upload_device->ops->copies_follow_launches;
    if (direction == HMM4J_TO_HOST && ((intent & HMM4J_INTENT_WRITE) || !copy_follows_uploads))
        settle_uploads_locked(r);
    uint64_t b = first;
    while (b < first + n) {
        /* collect: the longest run from b with the same current state and copies */
        uint8_t current = state_of(r, b);
        uint8_t mask = mask_of(r, b);
        bool read_only = host_read_only(r, b);
        uint64_t end = b + 1;
        while (end < first + n && state_of(r, end) == current && mask_of(r, end) == mask &&
               host_read_only(r, end) == read_only)
            end++;
        uint64_t count = end - b;
        uint8_t target, target_mask;
        target_of(current, mask, direction, intent, slot, &target, &target_mask);
        if (target == current && target_mask == mask) {
            /*
             * A writer home that cannot take a fault (a system call will write the pages) needs them writable now;
             * any move home needs a block a fault opened in part opened throughout (a system call reads or writes
             * every page of it, and the kernel does not take the faults that would open the rest).
             */
            if ((read_only && (intent & HMM4J_INTENT_WRITE) && !lazy) ||
                (direction == HMM4J_TO_HOST && !lazy && opened_in_part(r, b, count))) {
                int rc = protect_blocks(r, b, count, current);
                if (rc != 0) {
                    /* A run over several mappings may be partly writable: the next write fault repairs the rest. */
                    if (outcome)
                        memset(outcome + (b - first), HMM4J_MIGRATE_FAILED, count);
                    result = result ? result : rc;
                }
            }
            b = end;
            continue;
        }
        bool copy = needs_copy(current, mask, direction, intent, slot);
        /*
         * The host copy is valid: dropping the device copies needs no protection change, and leaving the pages
         * read-only spares the next launch that reads them its own (HMM4J_INTENT_LAZY).
         */
        if (lazy && current == HMM4J_BLOCK_SHARED && target == HMM4J_BLOCK_HOST && !copy) {
            for (uint64_t i = b; i < end; i++) {
                set_state(r, i, HMM4J_BLOCK_HOST);
                set_mask(r, i, 0);
                r->host_ro[i] = 1;
            }
            if (outcome)
                memset(outcome + (b - first), HMM4J_MIGRATE_CHANGED, count);
            b = end;
            continue;
        }
        int rc = 0;
        int protection_now = read_only ? protection_of(HMM4J_BLOCK_SHARED) : protection_of(current);
        int protection_before = protection_now;
        /* What a block whose final protection change fails can honestly say it is. */
        uint8_t fallback = current;
        uint8_t fallback_mask = mask;
        /* To the device from the host where it is valid, else from a device that holds the block. */
        int from = direction == HMM4J_TO_HOST || current == HMM4J_BLOCK_DEVICE ? (mask ? source_of(r, mask) : -1) : -1;
        bool peer = copy && direction == HMM4J_TO_DEVICE && from >= 0;
        bool copied = false;
        if (copy) {
            /*
             * Host writers must not change bytes while they travel to the device. A block the device will write
             * goes straight to its final protection: taking write access away costs a TLB shootdown per page, and
             * read-only first would pay it twice. Readers meanwhile fault and wait for the region lock. Pages a
             * lazy move home left read-only need nothing for a reader.
             */
            if (direction == HMM4J_TO_DEVICE && current == HMM4J_BLOCK_HOST &&
                (!read_only || target == HMM4J_BLOCK_DEVICE)) {
                uint8_t during = target == HMM4J_BLOCK_DEVICE ? HMM4J_BLOCK_DEVICE : HMM4J_BLOCK_SHARED;
                rc = protect_blocks(r, b, count, during);
                protection_now = protection_of(during);
            }
            if (rc == 0 && direction == HMM4J_TO_HOST && from < 0)
                rc = -EIO; /* a DEVICE block valid nowhere: cannot happen while the masks hold */
            if (rc == 0) {
                rc = copy_run(r, b, count, direction, slot, from, (intent & HMM4J_INTENT_ASYNC) != 0);
                copied = rc == 0;
                /* A read-ahead skipped for the host budget copied nothing and failed nothing. */
                if (rc != 0 && rc != -EDQUOT)
                    HMM4J_STAT_ADD(r->stats, copy_errors, 1);
            }
        }
        if (rc != 0) {
            /*
             * finalize (rollback): the run keeps its state, data stays where it was. The error reported is
             * the cause; a block whose protection cannot be restored is left stricter than its state (HOST
             * behind read-only pages), which its next write fault repairs or reports.
             */
            if (protection_now != protection_before)
                restore_run(r, b, count, current);
            if (outcome)
                memset(outcome + (b - first), HMM4J_MIGRATE_FAILED, count);
            result = result ? result : rc;
            b = end;
            continue;
        }
        /* Read-only host pages over a fresh device copy are a valid SHARED block. */
        if (copied && direction == HMM4J_TO_DEVICE && current != HMM4J_BLOCK_DEVICE) {
            fallback = HMM4J_BLOCK_SHARED;
            fallback_mask = mask | (uint8_t)(1u << slot);
        }
        /* finalize (commit) */
        uint64_t committed = 0;
        bool release = target == HMM4J_BLOCK_DEVICE && current != HMM4J_BLOCK_DEVICE &&
                       !(intent & HMM4J_INTENT_KEEP_HOST);
        rc = commit_run(r, b, count, target, target_mask, protection_now, release, fallback, fallback_mask,
                        outcome ? outcome + (b - first) : NULL, copy ? HMM4J_MIGRATE_COPIED : HMM4J_MIGRATE_CHANGED,
                        &committed);
        if (rc != 0 && result == 0)
            result = rc;
        if (copy) {
            uint64_t bytes = committed << r->block_shift;
            count = committed;
            moved += count;
            if (peer) {
                HMM4J_STAT_ADD(r->stats, blocks_peer, count);
                HMM4J_STAT_ADD(r->stats, bytes_peer, bytes);
            } else if (direction == HMM4J_TO_DEVICE) {
                HMM4J_STAT_ADD(r->stats, blocks_to_device, count);
                HMM4J_STAT_ADD(r->stats, bytes_to_device[cause], bytes);
            } else {
                HMM4J_STAT_ADD(r->stats, blocks_to_host, count);
                HMM4J_STAT_ADD(r->stats, bytes_to_host[cause], bytes);
            }
        }
        b = end;
    }
    *moved_blocks = moved;
    return result;
}

HMM4J_EXPORT int hmm4j_migrate(struct hmm4j_migrate *m)
{
    if (!m || !m->region)
        return -EINVAL;
    struct hmm4j_region *r = m->region;
    m->moved_blocks = 0;
    m->moved_bytes = 0;
    if (m->nblocks == 0)
        return 0;
    if (m->first_block >= r->nblocks || m->nblocks > r->nblocks - m->first_block)
        return -EINVAL;
    if ((m->direction != HMM4J_TO_DEVICE && m->direction != HMM4J_TO_HOST) ||
        (m->intent & ~(HMM4J_INTENT_READ | HMM4J_INTENT_WRITE | HMM4J_INTENT_KEEP_HOST | HMM4J_INTENT_DISCARD |
                       HMM4J_INTENT_ASYNC | HMM4J_INTENT_LAZY)) != 0 ||
        (m->intent & (HMM4J_INTENT_READ | HMM4J_INTENT_WRITE)) == 0 ||
        ((m->intent & HMM4J_INTENT_KEEP_HOST) && m->direction != HMM4J_TO_DEVICE) ||
        ((m->intent & HMM4J_INTENT_DISCARD) && m->direction != HMM4J_TO_HOST) ||
        ((m->intent & HMM4J_INTENT_ASYNC) && m->direction != HMM4J_TO_DEVICE) ||
        ((m->intent & HMM4J_INTENT_LAZY) && (m->direction != HMM4J_TO_HOST || !(m->intent & HMM4J_INTENT_WRITE))) ||
        m->cause < 0 || m->cause >= HMM4J_CAUSE_COUNT ||
        (m->direction == HMM4J_TO_DEVICE && (m->binding < 0 || m->binding >= HMM4J_MAX_BINDINGS)))
        return -EINVAL;
    /* A block written on the device would have to come home into pages that cannot be written. */
    if (r->read_only && m->direction == HMM4J_TO_DEVICE && (m->intent & HMM4J_INTENT_WRITE))
        return -EACCES;
    uint64_t start = hmm4j_now_ns();
    int rc;
    if (r->shared && m->direction == HMM4J_TO_DEVICE) {
        /* Peers drop the blocks first (region_shared.c); returns with the region lock held. */
        rc = hmm4j_shared_lock_for_device(r, m->first_block, m->nblocks, m->intent);
        if (rc != 0)
            return rc;
    } else {
        hmm4j_region_lock(r);
    }
    if (!r->device || (m->direction == HMM4J_TO_DEVICE && !(r->bound & (1u << m->binding)))) {
        rc = -EINVAL;
    } else {
        uint64_t moved = 0;
        rc = migrate_locked(r, m->first_block, m->nblocks, m->direction, m->intent, m->binding, m->cause, m->state,
                            &moved);
        m->moved_blocks = moved;
        m->moved_bytes = moved << r->block_shift;
    }
    hmm4j_region_unlock(r);
    if (m->moved_blocks) {
        HMM4J_STAT_ADD(r->stats, migrations, 1);
        HMM4J_STAT_ADD(r->stats, migrate_ns, hmm4j_now_ns() - start);
    }
    return rc;
}

HMM4J_EXPORT int hmm4j_region_unbind(struct hmm4j_region *r, int32_t cause)
{
    if (!r || cause < 0 || cause >= HMM4J_CAUSE_COUNT)
        return -EINVAL;
    hmm4j_region_lock(r);
    int rc = 0;
    if (r->device) {
        uint64_t moved = 0;
        rc = migrate_locked(r, 0, r->nblocks, HMM4J_TO_HOST, HMM4J_INTENT_WRITE, 0, cause, NULL, &moved);
        if (rc == 0) {
            hmm4j_region_unpin_locked(r);
            for (int i = 0; i < HMM4J_MAX_BINDINGS; i++)
                if (r->bound & (1u << i))
                    hmm4j_device_put(device_of(r, i));
            r->bound = 0;
            refresh_primary(r);
        }
    }
    if (rc == 0 && r->shared)
        hmm4j_shared_release_locked(r);
    hmm4j_region_unlock(r);
    return rc;
}

/*
 * Blocks whose only valid copy is on the leaving binding come home (HOST: nothing else holds them); blocks valid
 * elsewhere too only lose that copy. All of it before the binding goes, so a failed copy detaches nothing.
 */
HMM4J_EXPORT int hmm4j_region_unbind_device(struct hmm4j_region *r, struct hmm4j_device *device, int32_t cause)
{
    if (!r || !device || cause < 0 || cause >= HMM4J_CAUSE_COUNT)
        return -EINVAL;
    hmm4j_region_lock(r);
    int slot = slot_of(r, device);
    if (slot < 0 || r->bound == (1u << slot)) {
        hmm4j_region_unlock(r);
        /* Not bound there (nothing to do), or its last binding: the whole unbind, shared regions' release included. */
        return slot < 0 ? 0 : hmm4j_region_unbind(r, cause);
    }
    uint8_t bit = (uint8_t)(1u << slot);
    int rc = 0;
    uint64_t b = 0;
    while (b < r->nblocks && rc == 0) {
        if (mask_of(r, b) != bit) {
            b++;
            continue;
        }
        uint64_t end = b + 1;
        while (end < r->nblocks && mask_of(r, end) == bit)
            end++;
        uint64_t moved = 0;
        rc = migrate_locked(r, b, end - b, HMM4J_TO_HOST, HMM4J_INTENT_WRITE, slot, cause, NULL, &moved);
        b = end;
    }
    if (rc == 0) {
        for (b = 0; b < r->nblocks; b++)
            set_mask(r, b, mask_of(r, b) & (uint8_t)~bit);
        if (r->upload_device == device)
            settle_uploads_locked(r);
        if (r->host_registered && r->pinned_slot == slot)
            hmm4j_region_unpin_locked(r);
        r->bound &= ~(1u << slot);
        r->bindings[slot] = (struct hmm4j_binding){NULL, 0};
        hmm4j_device_put(device);
        refresh_primary(r);
        register_host_locked(r);
    }
    hmm4j_region_unlock(r);
    return rc;
}

/*
 * Between a launch's hand-over and the enqueue of its kernel no event exists to wait for, so a host read fault in
 * that gap drains the device and copies home the bytes from before the kernel (SHARED). Once the kernel is
 * enqueued those bytes are stale: SHARED blocks become DEVICE again (their host pages kept, no copy), so the next
 * host access waits for the kernel and fetches its result. A HOST block was written by the host in the gap, a race
 * with the kernel over that block; it keeps the host's bytes. Only state and protection change: nothing here
 * waits, so faults stay served by the region lock alone.
 */
HMM4J_EXPORT int hmm4j_region_launch_enqueued(struct hmm4j_region *r)
{
    if (!r)
        return -EINVAL;
    return hmm4j_region_launch_enqueued_blocks(r, 0, r->nblocks);
}

/* Only the launch's own blocks: others are another launch's, which may run beside it on another device. */
HMM4J_EXPORT int hmm4j_region_launch_enqueued_blocks(struct hmm4j_region *r, uint64_t first, uint64_t count)
{
    if (!r || first > r->nblocks || count > r->nblocks - first)
        return -EINVAL;
    int result = 0;
    uint64_t last = first + count;
    hmm4j_region_lock(r);
    uint64_t b = first;
    while (b < last) {
        if (state_of(r, b) != HMM4J_BLOCK_SHARED) {
            b++;
            continue;
        }
        /* The copies stay where they are: the kernel's device holds each block, the host copy goes stale. */
        uint8_t mask = mask_of(r, b);
        uint64_t end = b + 1;
        while (end < last && state_of(r, end) == HMM4J_BLOCK_SHARED && mask_of(r, end) == mask)
            end++;
        uint64_t committed = 0;
        int rc = commit_run(r, b, end - b, HMM4J_BLOCK_DEVICE, mask, protection_of(HMM4J_BLOCK_SHARED), false,
                            HMM4J_BLOCK_SHARED, mask, NULL, 0, &committed);
        if (rc != 0 && result == 0)
            result = rc;
        b = end;
    }
    atomic_fetch_sub(&r->launches_placing, 1);
    hmm4j_region_unlock(r);
    return result;
}

HMM4J_EXPORT int64_t hmm4j_region_reclaim(struct hmm4j_region *r)
{
    if (!r)
        return -EINVAL;
    int64_t released = 0;
    hmm4j_region_lock(r);
    if (r->release_host) {
        uint64_t b = 0;
        while (b < r->nblocks) {
            if (state_of(r, b) != HMM4J_BLOCK_DEVICE) {
                b++;
                continue;
            }
            uint64_t end = b + hmm4j_region_run_of(r, b, HMM4J_BLOCK_DEVICE, UINT64_MAX);
            release_host_backing(r, b, end - b);
            released += (int64_t)(end - b);
            b = end;
        }
    }
    hmm4j_region_unlock(r);
    return released;
}

/*
 * How many blocks after `block` to serve with it: DEVICE blocks pulled back, or with `upgrade` blocks a lazy move home
 * left read-only made writable (a writer walking an array faults O(log n) times, not once per block). The window grows
 * while faults walk in order.
 */
static uint64_t prefetch_extent(struct hmm4j_region *r, uint64_t block, bool upgrade)
{
    if (r->prefetch_max == 0)
        return 0;
    if (r->last_fault_block != UINT64_MAX && block == r->last_fault_block + 1)
        r->prefetch_window = r->prefetch_window ? r->prefetch_window * 2 : 1;
    else
        r->prefetch_window = 0;
    if (r->prefetch_window > r->prefetch_max)
        r->prefetch_window = r->prefetch_max;
    uint64_t extra = 0;
    while (extra < r->prefetch_window && block + 1 + extra < r->nblocks &&
           (upgrade ? host_read_only(r, block + 1 + extra) : state_of(r, block + 1 + extra) == HMM4J_BLOCK_DEVICE))
        extra++;
    return extra;
}

/*
 * Fault batching (UVM batches its fault buffer the same way): a fault that finds the region lock taken registers
 * its block in the region's pending set before it waits for the lock; a holder serving a fault copies every
 * registered block home before it unlocks, consecutive blocks with one intent in one copy. The waiter then takes
 * the lock and finds its block served. Waiting stays what it was, for the region lock alone (DESIGN.md invariant 2);
 * the pending set only decides who copies. userfaultfd regions are served by one handler thread: nothing to batch.
 */
static uint64_t pending_entry(uint64_t block, bool write)
{
    return (block + 1) << 1 | (write ? 1u : 0u);
}

/* Takes the lock for a fault; returns the pending slot registered while it was taken, or -1. */
static int lock_for_fault(struct hmm4j_region *r, uint64_t entry)
{
    int expected = 0;
    if (atomic_compare_exchange_strong_explicit(&r->lock, &expected, 1, memory_order_acquire, memory_order_relaxed))
        return -1;
    int slot = -1;
    if (!r->uffd) {
        for (int i = 0; i < HMM4J_PENDING_FAULTS; i++) {
            uint64_t free_slot = 0;
            if (atomic_compare_exchange_strong(&r->pending_faults[i], &free_slot, entry)) {
                slot = i;
                break;
            }
        }
    }
    hmm4j_region_lock(r);
    return slot;
}

/* With the lock: takes back an entry no holder served. True if one took it (the fault was in its batch). */
static bool taken_by_batch(struct hmm4j_region *r, int slot, uint64_t entry)
{
    if (slot < 0)
        return false;
    uint64_t mine = entry;
    return !atomic_compare_exchange_strong(&r->pending_faults[slot], &mine, 0);
}

struct pending_block {
    uint64_t block;
    bool write;
};

/* Serves the registered faults with the lock held. A failure is left to the waiter, which serves its own fault. */
static void serve_pending_locked(struct hmm4j_region *r)
{
    bool waited = false;
    /* Faults registered during this batch's copies make the next round; a few rounds bound the holder's stay. */
    for (int round = 0; round < 4; round++) {
        uint64_t entries[HMM4J_PENDING_FAULTS];
        int n = 0;
        for (int i = 0; i < HMM4J_PENDING_FAULTS; i++) {
            uint64_t e = atomic_exchange(&r->pending_faults[i], 0);
            if (e != 0 && (e >> 1) - 1 < r->nblocks)
                entries[n++] = e;
        }
        if (n == 0 || !r->device)
            return;
        for (int i = 1; i < n; i++) {
            uint64_t e = entries[i];
            int j = i;
            for (; j > 0 && entries[j - 1] > e; j--)
                entries[j] = entries[j - 1];
            entries[j] = e;
        }
        /* One entry per block; a block both read and written is served for the write. */
        struct pending_block blocks[HMM4J_PENDING_FAULTS];
        int m = 0;
        for (int i = 0; i < n; i++) {
            uint64_t block = (entries[i] >> 1) - 1;
            bool write = entries[i] & 1;
            if (m > 0 && blocks[m - 1].block == block)
                blocks[m - 1].write |= write;
            else
                blocks[m++] = (struct pending_block){block, write};
        }
        if (!waited) {
            hmm4j_region_wait_for_writers(r);
            waited = true;
        }
        int i = 0;
        while (i < m) {
            int end = i + 1;
            while (end < m && blocks[end].block == blocks[end - 1].block + 1 && blocks[end].write == blocks[i].write)
                end++;
            uint64_t moved = 0;
            migrate_locked(r, blocks[i].block, blocks[end - 1].block - blocks[i].block + 1, HMM4J_TO_HOST,
                           blocks[i].write ? HMM4J_INTENT_WRITE : HMM4J_INTENT_READ, 0, HMM4J_CAUSE_FAULT, NULL, &moved);
            i = end;
        }
    }
}

int hmm4j_region_serve_fault(struct hmm4j_region *r, uintptr_t address, bool write)
{
    uint64_t start = hmm4j_now_ns();
    uint64_t block = (address - (uintptr_t)r->user) >> r->block_shift;
    int rc = 0;
    /* Not a missing block but a write the mapping forbids: reported, never retried forever. */
    if (write && r->read_only)
        return -EACCES;
    uint64_t entry = pending_entry(block, write);
    int slot = lock_for_fault(r, entry);
    bool batched = taken_by_batch(r, slot, entry);
    /* Zero-copy placement (region_zerocopy.c): nothing to copy, the fault waits for the launches using the region. */
    if (r->zero_copy)
        return hmm4j_zero_copy_serve_fault_locked(r, block, write, start);
    /* userfaultfd's blocks carry no mprotect: undo what an unservable fault left (uffd.c), then serve as usual. */
    if (r->uffd && atomic_exchange(&r->uffd_fell_back, false))
        mprotect(r->user, r->size, PROT_READ | PROT_WRITE);
    /* Another process holds the block (region_shared.c): ask for it and wait without the lock. */
    if (r->shared && hmm4j_shared_fenced_locked(r, block)) {
        hmm4j_region_unlock(r);
        return hmm4j_shared_wait_for_block(r, block);
    }
    uint8_t current = state_of(r, block);
    if (current == HMM4J_BLOCK_HOST || (current == HMM4J_BLOCK_SHARED && !write)) {
        /*
         * The first write of a block a lazy move home left read-only (HMM4J_INTENT_LAZY): a write fault that needs
         * no copy. Otherwise served by another thread meanwhile, or a block whose protection could not be restored
         * after a failed migration. Setting the protection its state says is the upgrade in the first case, a
         * no-op in the second and the repair in the third; if even that fails the fault is reported instead of
         * re-faulting forever.
         */
        bool upgrade = write && host_read_only(r, block);
        if (r->partial && r->partial[block])
            r->open_whole_blocks = true;
        if (upgrade) {
            /* A copy to the device may still read the pages (one queued before the move home was settled by it). */
            settle_uploads_locked(r);
            uint64_t extra = prefetch_extent(r, block, true);
            r->last_fault_block = block + extra;
            /* Over several mappings a failed change may be partial: the faulting block alone then. */
            if (extra == 0 || protect_blocks(r, block, 1 + extra, current) != 0)
                rc = protect_blocks(r, block, 1, current);
        } else {
            rc = protect_blocks(r, block, 1, current);
        }
        if (rc == 0 && r->uffd)
            rc = hmm4j_uffd_resolve_locked(r, block);
        serve_pending_locked(r);
        hmm4j_region_unlock(r);
        if (batched || upgrade) {
            /* Served by another fault's batch: a fault like any other, only its copy was shared. */
            if (batched)
                HMM4J_STAT_ADD(r->stats, batched_faults, 1);
            if (write)
                HMM4J_STAT_ADD(r->stats, write_faults, 1);
            else
                HMM4J_STAT_ADD(r->stats, read_faults, 1);
            HMM4J_STAT_ADD(r->stats, fault_ns, hmm4j_now_ns() - start);
        } else {
            HMM4J_STAT_ADD(r->stats, spurious_faults, 1);
        }
        return rc;
    }
    if (!r->device) {
        hmm4j_region_unlock(r);
        return -EFAULT;
    }
    /* A kernel that writes this region may still run: the device copy is final only after it. */
    hmm4j_region_wait_for_writers(r);
    uint64_t moved = 0;
    int intent = write ? HMM4J_INTENT_WRITE : HMM4J_INTENT_READ;
    uint64_t extra = current == HMM4J_BLOCK_DEVICE ? prefetch_extent(r, block, false) : 0;
    r->keep_first = block;
    r->keep_end = block + 1 + extra;
    uintptr_t page = (uintptr_t)hmm4j_engine_page_size();
    /* userfaultfd resolves whole blocks; a block of one page has nothing to leave closed. */
    if (!r->uffd && !r->open_whole_blocks && r->block_size > page)
        r->fault_page = address & ~(page - 1);
    for (int attempt = 0; attempt < FAULT_COPY_ATTEMPTS; attempt++) {
        rc = migrate_locked(r, block, 1, HMM4J_TO_HOST, intent, 0, HMM4J_CAUSE_FAULT, NULL, &moved);
        if (rc == 0)
            break;
    }
    r->fault_page = 0;
    if (rc == 0 && extra > 0) {
        uint64_t prefetched = 0;
        /* Failure here is harmless (no room in the host budget, too): the blocks stay DEVICE and fault on their own. */
        r->readahead = true;
        if (migrate_locked(r, block + 1, extra, HMM4J_TO_HOST, HMM4J_INTENT_READ, 0, HMM4J_CAUSE_PREFETCH, NULL,
                           &prefetched) == 0)
            HMM4J_STAT_ADD(r->stats, prefetched_blocks, prefetched);
        r->readahead = false;
    }
    r->last_fault_block = block + extra;
    if (rc == 0 && r->uffd)
        rc = hmm4j_uffd_resolve_locked(r, block);
    serve_pending_locked(r);
    r->last_keep_first = r->keep_first;
    r->last_keep_end = r->keep_end;
    r->keep_end = 0;
    hmm4j_region_unlock(r);
    if (write)
        HMM4J_STAT_ADD(r->stats, write_faults, 1);
    else
        HMM4J_STAT_ADD(r->stats, read_faults, 1);
    HMM4J_STAT_ADD(r->stats, fault_ns, hmm4j_now_ns() - start);
    return rc;
}

int hmm4j_region_migrate_locked(struct hmm4j_region *r, uint64_t first, uint64_t n, int direction, int intent,
                                int cause, uint64_t *moved_blocks)
{
    /* To the device: the lowest bound binding (the host tier's write-back, a shared region's only one). */
    int slot = r->bound ? __builtin_ctz(r->bound) : 0;
    return migrate_locked(r, first, n, direction, intent, slot, cause, NULL, moved_blocks);
}
