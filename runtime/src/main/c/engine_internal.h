/* Private to the engine: the region and device structs and the copy-table shape. */
#ifndef HMM4J_ENGINE_INTERNAL_H
#define HMM4J_ENGINE_INTERNAL_H

#include "hmm4j.h"

#include <stdatomic.h>
#include <stdbool.h>

#define HMM4J_EXPORT __attribute__((visibility("default")))

/*
 * A backend's copy functions. Each returns 0 or a negative errno and keeps
 * the backend's raw code in device->last_error. Called from the fault
 * handler, so they must not call into the JVM. `pinned` says the host range
 * was registered with register_host (the device can DMA it directly).
 */
struct hmm4j_device_ops {
    const char *name;
    int (*to_device)(struct hmm4j_device *dev, uint64_t device_addr, const void *host, size_t bytes, bool pinned);
    int (*to_host)(struct hmm4j_device *dev, void *host, uint64_t device_addr, size_t bytes, bool pinned);
    /*
     * Optional (NULL: copies are synchronous): enqueue a copy to the device without waiting for it, on the queue
     * kernels run on, and record an event that wait_event / release_event take.
     */
    int (*to_device_async)(struct hmm4j_device *dev, uint64_t device_addr, const void *host, size_t bytes,
                           bool pinned, uint64_t *event);
    /* Optional (NULL): page-lock a host range for direct DMA, and undo it. */
    int (*register_host)(struct hmm4j_device *dev, void *host, size_t bytes);
    void (*unregister_host)(struct hmm4j_device *dev, void *host);
    /*
     * Optional (NULL: the device addresses host memory only if it is emulated): the address a kernel uses for host
     * memory registered with register_host (zero-copy placement, region_zerocopy.c).
     */
    int (*host_device_pointer)(struct hmm4j_device *dev, void *host, uint64_t *device_addr);
    int (*zero)(struct hmm4j_device *dev, uint64_t device_addr, size_t bytes);
    int (*synchronize)(struct hmm4j_device *dev);
    /* Optional (NULL): wait for one recorded launch event, and free it (see fence.c). */
    int (*wait_event)(struct hmm4j_device *dev, uint64_t event);
    void (*release_event)(struct hmm4j_device *dev, uint64_t event);
    /*
     * Optional (NULL: uploads run in launch order already): make the next launch enqueued on the device's launch
     * queue start after the copies to the device enqueued so far on its copy queue (hmm4j_device_order_launch).
     */
    int (*order_launch)(struct hmm4j_device *dev);
    /*
     * Optional (NULL): the owner let go (hmm4j_device_destroy, before its put). Work the backend queued must not
     * touch the device's memory after this returns: fail it or finish it. Events stay waitable.
     */
    void (*shutdown)(struct hmm4j_device *dev);
    void (*destroy)(struct hmm4j_device *dev);
    /*
     * Optional (NULL: through host): copies `bytes` from `src_addr` on `src` to `dst_addr` on `dev` directly (both
     * devices of this table), done when it returns. -EOPNOTSUPP when the pair cannot (another backend, no peer
     * access): the engine then copies through host memory. Never called from the fault handler.
     */
    int (*peer_copy)(struct hmm4j_device *dev, uint64_t dst_addr, struct hmm4j_device *src, uint64_t src_addr,
                     size_t bytes);
    /*
     * Optional (NULL: copies take the time they take): to_device / to_host with a modelled transfer time (an
     * emulated bus) not waited out: the bytes have moved, and *paced_until is when the copy would have returned
     * (hmm4j_device_copy_unpaced). Never called from the fault handler.
     */
    int (*to_device_unpaced)(struct hmm4j_device *dev, uint64_t device_addr, const void *host, size_t bytes,
                             uint64_t *paced_until);
    int (*to_host_unpaced)(struct hmm4j_device *dev, void *host, uint64_t device_addr, size_t bytes,
                           uint64_t *paced_until);
    /*
     * Copies home go on the in-order queue kernels run on: a copy enqueued after a launch starts only once its
     * kernel is done, so a fault needs no wait of its own for the launches that write the region.
     */
    bool copies_follow_launches;
    /*
     * to_device_async takes an armed HMM4J_INJECT_COPY_TO_DEVICE itself (hmm4j_device_take_injection) and fails
     * the queued copy through its event, so tests reach the asynchronous failure path.
     */
    bool async_injection;
};

struct hmm4j_device {
    const struct hmm4j_device_ops *ops;
    _Atomic int64_t last_error;
    _Atomic int32_t inject_what;
    _Atomic uint64_t inject_after;
    atomic_bool lost;
    atomic_bool unreadable;
    /* The owner's reference plus one per bound region; the last one frees (hmm4j_device_put). */
    atomic_int refs;
    atomic_bool closed; /* the owner destroyed it: what it copies through may be gone */
    /* test hooks: how often a wait drained the whole device, and how often it waited for one launch's event */
    _Atomic uint64_t synchronizations;
    _Atomic uint64_t event_waits;
    _Atomic uint64_t async_copies;
    _Atomic uint64_t unpaced_copies; /* test hook: copies whose modelled time the caller waited out */
    /* Host bytes page-locked with this device (register_host), held under pinned_limit (hmm4j_device_pin). */
    _Atomic uint64_t pinned_bytes;
    _Atomic uint64_t pinned_limit;
    _Atomic uint64_t pin_refusals;
    atomic_bool pretend_pinning; /* test hook: a device without register_host accounts pins as if it had one */
    void *backend; /* the backend's private state */
};

#define HMM4J_REGION_FENCES 16
/* A block's valid copies are one bit per binding (uint8_t valid[]). */
_Static_assert(HMM4J_MAX_BINDINGS <= 8, "valid[] holds one bit per binding");

struct hmm4j_binding {
    struct hmm4j_device *device; /* NULL: the slot is free */
    uint64_t base;               /* block i lives at base + i * block_size */
};
/* Faults that found the region lock taken and wait for a batched copy (region.c, fault batching). */
#define HMM4J_PENDING_FAULTS 32

struct hmm4j_region {
    atomic_int lock;
    int memfd;
    uint8_t *user;
    uint8_t *engine;
    uint64_t size;
    uint64_t bytes;               /* hmm4j_region_create's size, before rounding to blocks (0: whole blocks) */
    uint64_t block_size;
    uint64_t nblocks;
    int block_shift;
    _Atomic uint8_t *state;       /* enum hmm4j_block_state per block: the host's view */
    /*
     * Per block, bit i set: bindings[i] holds a valid copy (region lock). 0 exactly for HOST blocks; SHARED and
     * DEVICE blocks have at least one bit (DEVICE: the host copy is stale).
     */
    _Atomic uint8_t *valid;
    /*
     * Per block, 1: a HOST block whose user view is still read-only, left so by a move home with HMM4J_INTENT_LAZY
     * (region lock; NULL until the first bind). Read only together with a HOST state: any protection change clears it.
     */
    uint8_t *host_ro;
    struct hmm4j_binding bindings[HMM4J_MAX_BINDINGS];
    uint32_t bound;               /* slots of bindings[] in use */
    /*
     * The lowest bound slot's device and base, NULL / UINT64_MAX when unbound: what paths that ask "is there a device
     * at all" read (host tier, file force, shared regions, which hold one binding at most).
     */
    struct hmm4j_device *device;
    uint64_t device_base;
    int pinned_slot;              /* the binding the engine view is page-locked with (host_registered) */
    struct hmm4j_device *upload_device; /* the device of `upload` */
    struct hmm4j_stats *stats;    /* may be NULL */
    _Atomic int32_t launches_in_flight;
    /* Of those, launches still being placed: handed over, kernel not enqueued (launch_enqueued / _abandoned). */
    _Atomic int32_t launches_placing;
    /* Events of in-flight launches that write this region (region lock); fewer than launches_in_flight: sync. */
    /*
     * The last copy to the device still possibly in flight (HMM4J_INTENT_ASYNC; region lock): the device reads
     * the host pages until it completes. One suffices: copies run in order on the device's queue.
     */
    struct hmm4j_fence *upload;
    int upload_error[HMM4J_MAX_BINDINGS]; /* per binding slot: a failed upload's error, until settle_uploads reports it */
    struct hmm4j_fence *fences[HMM4J_REGION_FENCES];
    int32_t nfences;
    /* adaptive sequential prefetch of host faults */
    uint64_t prefetch_max;
    uint64_t last_fault_block;
    uint64_t prefetch_window;
    int slot;                     /* index in the fault registry */
    bool release_host;            /* DEVICE blocks give their host RAM back */
    bool host_registered;         /* the engine view is page-locked with the device (never punched then) */
    bool host_reclaimed;          /* the host tier punched kept pages: reserve before copying home */
    /* The heap's host headroom (hmm4j_region_set_host_headroom), shared by its regions; NULL: no budget here */
    _Atomic int64_t *host_headroom;
    bool host_spill;              /* the engine may write HOST blocks back to the device to keep within the budget */
    _Atomic uint64_t recency;     /* Java's use stamp (hmm4j_region_touch): the oldest region spills first */
    /* test hook: protection changes to let through, then to fail (hmm4j_region_inject_protect_failure) */
    _Atomic uint32_t inject_protect_skip;
    _Atomic uint32_t inject_protect_count;
    /* region_file.c: bytes of the user view that map a file (0: memfd-backed); such pages are never punched */
    uint64_t file_bytes;
    bool read_only;               /* mapped from a read-only file: the user view never gets PROT_WRITE */
    /* uffd.c: the user view is registered with userfaultfd, which replaces mprotect for its states */
    bool uffd;
    atomic_bool uffd_fell_back;   /* an unservable fault left a block PROT_NONE for the SIGSEGV path */
    /* region.c: faults waiting for the lock, (block + 1) << 1 | write, 0 = free; served by the holder's batch */
    _Atomic uint64_t pending_faults[HMM4J_PENDING_FAULTS];
    /*
     * The blocks the fault being served brings home, [keep_first, keep_end) (region lock): where the heap is over its
     * host budget, the fault makes room with this region's own clean pages outside them and outside the previous
     * fault's, [last_keep_first, last_keep_end): one instruction may touch two blocks (a vector load across their
     * border), and each of its faults giving back the other's block would leave it faulting forever. keep_end 0: no
     * fault is being served, and nothing of the region's own is given back for a copy home.
     */
    uint64_t keep_first, keep_end;
    uint64_t last_keep_first, last_keep_end;
    bool readahead;               /* the copy home being charged is a fault's read-ahead: skipped where no room is */
    /*
     * region.c (region lock): a fault opens only the page it touched (fault_page, 0 when none is being served), so
     * that the next launch takes access away from one page and not a whole block. partial: one byte per block,
     * set while a block is opened only in part (allocated at the first bind; NULL: whole blocks only). A host that
     * then touches more of such a block (a spurious fault there) makes this region open whole blocks from then on.
     */
    uintptr_t fault_page;
    uint8_t *partial;
    bool open_whole_blocks;
    /* region_shared.c: this process's attachment to a region shared between processes (NULL: not shared) */
    struct hmm4j_shared *shared;
    /* region_zerocopy.c: the device addresses the engine view; nothing migrates, every block stays HOST */
    bool zero_copy;
    int32_t zc_launches;              /* zero-copy launches begun and not ended (region lock) */
    uint8_t zc_state;                 /* the block state whose protection the user view has while they run */
    bool zc_lowered;                  /* a fault lifted that protection before the launch's kernel was enqueued */
    struct hmm4j_device *zc_device;   /* their device, referenced while any is in flight (NULL: none, or no engine) */
};

/* registry.c: regions the fault handler may serve, looked up without locks. */
int hmm4j_registry_add(struct hmm4j_region *region);
void hmm4j_registry_remove(struct hmm4j_region *region);
struct hmm4j_region *hmm4j_registry_enter(uintptr_t address, int *slot);
void hmm4j_registry_leave(int slot);
/* Walking every region (the host tier's reclaim for a block coming home): slots [0, span); enter_slot returns the
 * slot's region held like enter does (leave it after), or NULL for an empty slot. */
int hmm4j_registry_span(void);
struct hmm4j_region *hmm4j_registry_enter_slot(int slot);

/* region.c */
void hmm4j_region_lock(struct hmm4j_region *region);
void hmm4j_region_unlock(struct hmm4j_region *region);
bool hmm4j_region_trylock(struct hmm4j_region *region);
/*
 * Reserves the host pages of blocks [first, first+count) before a copy home (region lock held). Where none can be
 * had it reclaims kept pages for them first (hmm4j_host_reclaim_kept) and returns -HMM4J_ENOHOSTMEM only when even
 * that did not help. Async-signal-safe.
 */
int hmm4j_region_reserve_host_locked(struct hmm4j_region *region, uint64_t first, uint64_t count);
/* For the host tier: punch a run's pages (never a file's); change a run's protection as the region does. */
/* The run of blocks from `first` (whose state is `state`) that share that state, at most `limit` long. */
uint64_t hmm4j_region_run_of(struct hmm4j_region *r, uint64_t first, uint8_t state, uint64_t limit);
void hmm4j_region_punch_locked(struct hmm4j_region *r, uint64_t first, uint64_t count);
int hmm4j_region_protect_locked(struct hmm4j_region *r, uint64_t first, uint64_t count, uint8_t state);
/* Zero-copy's guard (region_zerocopy.c): the user view's pages that hold the region's bytes get `state`'s protection. */
int hmm4j_region_protect_bytes_locked(struct hmm4j_region *r, uint8_t state);
/* Unpins the engine view (after settling uploads that read it); no-op when not pinned. */
void hmm4j_region_unpin_locked(struct hmm4j_region *r);
/* Every bound device is healthy (not lost, readable, not closed): the host may give back copies they hold. */
bool hmm4j_region_devices_healthy_locked(struct hmm4j_region *r);
/* Drains every bound device (a launch writing the region may run on any of them). */
void hmm4j_region_synchronize_devices_locked(struct hmm4j_region *r);
/* Every bound device runs copies home after the launches enqueued before them (ops->copies_follow_launches). */
bool hmm4j_region_copies_follow_launches_locked(struct hmm4j_region *r);
/* Serves a host fault at `address` (lock held by callee). Returns 0 if served, -errno otherwise. */
int hmm4j_region_serve_fault(struct hmm4j_region *region, uintptr_t address, bool write);
/* migrate's collect/copy/finalize for callers that hold the region lock (region_file.c's force). */
int hmm4j_region_migrate_locked(struct hmm4j_region *region, uint64_t first, uint64_t n, int direction, int intent,
                                int cause, uint64_t *moved_blocks);

/* hosttier.c: gives back at least `bytes` (where that much is kept) of the kept pages of DEVICE blocks, of `self`
 * (whose lock the caller holds; may be NULL) and of every other region whose lock is free. No state or protection
 * changes, no copy: safe in the fault handler. Returns the bytes given back. */
uint64_t hmm4j_host_reclaim_kept(struct hmm4j_region *self, uint64_t bytes);
/* hosttier.c: the pages of blocks [first, first+count) of `r` are about to be reserved for a copy home (lock held):
 * what they will allocate is charged to
 * the heap's headroom, and where that goes below zero the heap's other regions (whose locks are free) give back that
 * much first, clean pages (kept pages of DEVICE blocks, SHARED blocks), then, in a fault, `r`'s own clean pages outside
 * the fault's blocks (keep_first, keep_end), then HOST blocks of other regions written back, so the heap stays within
 * its budget at every fault, not only when Java next looks. Returns the bytes charged, or -EDQUOT (nothing charged)
 * for a read-ahead (r->readahead) that would leave the heap over its budget. Safe in the fault handler. */
int64_t hmm4j_host_charge_locked(struct hmm4j_region *r, uint64_t first, uint64_t count);
/* Gives back a charge whose pages were not reserved after all. */
void hmm4j_host_uncharge(struct hmm4j_region *r, int64_t bytes);

/* uffd.c */
int hmm4j_uffd_protect(struct hmm4j_region *region, uint64_t first, uint64_t count, uint8_t state);
/* Maps the user view of block `block` again after a served fault (region lock held); the handler thread wakes. */
int hmm4j_uffd_resolve_locked(struct hmm4j_region *region, uint64_t block);

/* region_shared.c: the shootdown protocol (see the comment at the top of that file). */
/* A peer holds `block` (region lock held): the caller unlocks and waits with hmm4j_shared_wait_for_block. */
bool hmm4j_shared_fenced_locked(struct hmm4j_region *region, uint64_t block);
/* Waits (bounded, no lock held, async-signal-safe) until `block` is given back; 0, or -ETIMEDOUT. */
int hmm4j_shared_wait_for_block(struct hmm4j_region *region, uint64_t block);
/* Claims blocks for a migration to the device, peers fenced; returns 0 with the region lock held, or -errno. */
int hmm4j_shared_lock_for_device(struct hmm4j_region *region, uint64_t first, uint64_t n, int intent);
/* Gives back held blocks that are HOST again (region lock held), e.g. after an unbind. */
void hmm4j_shared_release_locked(struct hmm4j_region *region);
/* Stops the responder, gives back every held block and frees the slot (region unregistered first). */
void hmm4j_shared_detach(struct hmm4j_region *region);

/* region_zerocopy.c: serves a fault on a zero-copy region (lock held, released here): waits for the launches that use
 * it and lifts the user view's protection, no copy. Returns 0 or -errno. */
int hmm4j_zero_copy_serve_fault_locked(struct hmm4j_region *region, uint64_t block, bool write, uint64_t start_ns);
/* region_zerocopy.c: `bytes` if [addr, addr+bytes) lies in host memory mapped for `dev` (emulated), else 0. */
uint64_t hmm4j_zero_copy_mapped_bytes(struct hmm4j_device *dev, uint64_t addr, uint64_t bytes);

/* floor.c: serves a fault in the benchmark floor's memory; false for any other address. */
bool hmm4j_floor_serve(uintptr_t address);
/* fence.c: waits for the launches that write a region (lock held); gives up the region's fences at destroy. */
void hmm4j_region_wait_for_writers(struct hmm4j_region *region);
void hmm4j_region_drop_fences(struct hmm4j_region *region);
/* Waits like hmm4j_fence_wait, without counting as a launch wait (uploads are not launches). */
int hmm4j_fence_wait_uncounted(struct hmm4j_fence *fence);

/* engine.c */
void hmm4j_stats_add(struct hmm4j_stats *stats, size_t field_offset, uint64_t value);
uint64_t hmm4j_now_ns(void);

/* device.c: copies with fault injection applied; what the engine calls. */
int hmm4j_device_do_to_device(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes, bool pinned);
/* May return with the copy in flight: *event is its event then (release it), else 0 and the copy is done. */
int hmm4j_device_do_to_device_async(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes,
                                    bool pinned, uint64_t *event);
int hmm4j_device_do_to_host(struct hmm4j_device *dev, void *host, uint64_t addr, size_t bytes, bool pinned);
/*
 * Device to device: the pair's peer_copy where it has one, else through a host bounce buffer (allocates: not for the
 * fault handler). An armed HMM4J_INJECT_COPY_TO_DEVICE of `dst` fails it.
 */
int hmm4j_device_do_peer(struct hmm4j_device *dst, uint64_t dst_addr, struct hmm4j_device *src, uint64_t src_addr,
                         size_t bytes);
/* Consumes an armed one-shot injection for `what`; returns the bytes to copy before failing, or -1. */
int64_t hmm4j_device_take_injection(struct hmm4j_device *dev, int32_t what, size_t bytes);
int hmm4j_device_init(struct hmm4j_device *dev, const struct hmm4j_device_ops *ops, void *backend);
int hmm4j_device_do_synchronize(struct hmm4j_device *dev);
/*
 * Page-locks `bytes` of host memory at `host` with the device when its pinned-bytes limit has room and the driver
 * agrees; false otherwise (copies then stage through the driver). Every true is paired with one hmm4j_device_unpin
 * of the same range; `driver_too` false only accounts (a closed device's context may be gone).
 */
bool hmm4j_device_pin(struct hmm4j_device *dev, void *host, size_t bytes);
void hmm4j_device_unpin(struct hmm4j_device *dev, void *host, size_t bytes, bool driver_too);
/* A bound region holds a reference: the device outlives hmm4j_device_destroy until it is unbound or destroyed. */
void hmm4j_device_get(struct hmm4j_device *dev);
void hmm4j_device_put(struct hmm4j_device *dev);

#define HMM4J_STAT_ADD(stats, field, value) \
    hmm4j_stats_add((stats), offsetof(struct hmm4j_stats, field), (uint64_t)(value))

#endif
