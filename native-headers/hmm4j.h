/*
 * hmm4j.h - the C API of the hmm4j fault engine.
 *
 * This header is the one contract between the Java runtime (bindings in
 * io.hmm4j.internal.ffm.hmm4j_h) and the native engine. Java is the policy,
 * C is the mechanism: every state transition of a block (lock, copy, mprotect)
 * happens inside one call into this library, so no Java code ever holds a lock
 * that the SIGSEGV handler could wait on.
 *
 * Conventions: functions return 0 (or a count) on success and -errno on
 * failure. Backend error codes fold into -ENOMEM (device full), -EIO (copy
 * failed or device lost), -EINVAL (misuse) and -EBUSY (contended); the raw
 * backend code is kept in the device's last-error field.
 */
#ifndef HMM4J_H
#define HMM4J_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Raised with every change of a signature, struct layout or constant below: the runtime refuses a library of
 * another version (-Dhmm4j.native.path may name one built from other sources), since a call through a changed
 * signature would corrupt memory instead of failing. 2: per-device bindings, advice, zero-copy, range launches,
 * settle_uploads per device.
 */
#define HMM4J_ABI_VERSION 2
/* Devices one region may hold memory on at once (hmm4j_region_bind). */
#define HMM4J_MAX_BINDINGS 8

/*
 * Returned (negated) when the engine could not change the protection of a
 * region's user view because the process is at the kernel's limit of memory
 * mappings (mprotect's ENOMEM, vm.max_map_count). Nothing was committed for
 * the blocks concerned: their state still matches their protection. Beyond
 * errno's range so that callers do not mistake it for a full device (-ENOMEM).
 */
#define HMM4J_EMAPLIMIT 4096

/*
 * Returned (negated) when a block could not come home because no host memory
 * could be had for it: reserving its pages (fallocate on the memfd) failed
 * with ENOSPC or ENOMEM even after the kept pages of DEVICE blocks (this
 * region's and every other region's) were given back. The block stays DEVICE
 * with its data on the device; nothing was lost. Beyond errno's range so that
 * callers do not mistake it for a full device (-ENOMEM).
 */
#define HMM4J_ENOHOSTMEM 4097

/* Block states, MSI-like. */
enum hmm4j_block_state {
    HMM4J_BLOCK_HOST = 0,   /* host valid and writable; device copy absent or stale */
    HMM4J_BLOCK_SHARED = 1, /* both valid; host pages read-only */
    HMM4J_BLOCK_DEVICE = 2, /* only the device copy is valid; host pages PROT_NONE */
};

enum hmm4j_direction {
    HMM4J_TO_DEVICE = 0,
    HMM4J_TO_HOST = 1,
};

/* What the destination will do with the blocks (bits). */
enum hmm4j_intent {
    HMM4J_INTENT_READ = 1,  /* destination reads: stale blocks are copied */
    HMM4J_INTENT_WRITE = 2, /* destination writes: the other copy becomes invalid */
    /*
     * With TO_DEVICE + WRITE: blocks become DEVICE but keep their host pages, so a launch that fails
     * before its kernel ran can be undone with DISCARD; hmm4j_region_reclaim gives the pages back later.
     */
    HMM4J_INTENT_KEEP_HOST = 4,
    /*
     * With TO_HOST: the device copy is not newer than the host pages (the kernel that was to write it
     * never ran): DEVICE blocks become HOST without a copy. Only for blocks made DEVICE with KEEP_HOST.
     */
    HMM4J_INTENT_DISCARD = 8,
    /*
     * With TO_DEVICE: copies may still run when the call returns (where the device can enqueue a copy without
     * waiting; elsewhere they are synchronous). Their blocks are SHARED at once, so host pages are read-only;
     * whatever would change or free those pages first waits for the copies (a fault, reclaim, a move home,
     * unbind, destroy), and hmm4j_region_settle_uploads reports a copy that failed.
     */
    HMM4J_INTENT_ASYNC = 16,
    /*
     * With TO_HOST + WRITE: SHARED blocks (host copy valid) become HOST without a protection change: the device
     * copies are dropped and the user view stays read-only until the first host write, whose fault makes the block
     * writable without a copy (as Linux upgrades a clean page on its write fault), and a launch that reads the
     * blocks next needs no protection change either. A system call cannot take that fault (EFAULT): a caller that
     * lets the kernel write the pages moves them home with WRITE and without LAZY, which makes them writable.
     * Ignored for regions served by userfaultfd, shared between processes or zero-copy.
     */
    HMM4J_INTENT_LAZY = 32,
};

/* Why bytes moved; indexes the by-cause counters. */
enum hmm4j_cause {
    HMM4J_CAUSE_FAULT = 0,
    HMM4J_CAUSE_LAUNCH = 1,
    HMM4J_CAUSE_PREFETCH = 2,
    HMM4J_CAUSE_EVICTION = 3,
    HMM4J_CAUSE_COUNT = 4,
};

/* Per-block outcome bits written into hmm4j_migrate.state. */
#define HMM4J_MIGRATE_COPIED  0x1u /* bytes were copied */
#define HMM4J_MIGRATE_CHANGED 0x2u /* state changed without a copy (already valid, or write-only) */
#define HMM4J_MIGRATE_FAILED  0x4u /* the copy failed; the block kept its previous state */

/* Fault-injection points of a device (one-shot). */
enum hmm4j_inject {
    HMM4J_INJECT_NONE = 0,
    HMM4J_INJECT_COPY_TO_DEVICE = 1, /* the next copy to the device fails after `after_bytes` */
    HMM4J_INJECT_COPY_TO_HOST = 2,   /* the next copy to the host fails after `after_bytes` */
    HMM4J_INJECT_DEVICE_LOST = 3,    /* every later copy to the device fails (sticky) */
    HMM4J_INJECT_DEVICE_UNREADABLE = 4, /* every later copy to the host fails too (sticky) */
};

/*
 * Counters. Updated with relaxed atomic adds by the engine (the fault handler
 * included); read by Java as plain 64-bit loads. A heap owns one; the engine
 * also keeps a process-wide one (hmm4j_stats_global).
 */
struct hmm4j_stats {
    uint64_t read_faults;        /* host reads of DEVICE blocks */
    uint64_t write_faults;       /* host writes of SHARED or DEVICE blocks */
    uint64_t spurious_faults;    /* faults already served by another thread */
    uint64_t fault_ns;           /* total time spent serving faults */
    uint64_t blocks_to_device;
    uint64_t blocks_to_host;
    uint64_t bytes_to_device[HMM4J_CAUSE_COUNT];
    uint64_t bytes_to_host[HMM4J_CAUSE_COUNT];
    uint64_t prefetched_blocks;  /* blocks pulled back ahead of a sequential fault walk */
    uint64_t copy_errors;
    uint64_t migrate_ns;         /* total time spent in explicit migrations (launch, prefetch, eviction) */
    uint64_t migrations;         /* number of hmm4j_migrate calls that moved something */
    uint64_t batched_faults;     /* faults served by the copy of another fault's batch (counted in read/write too) */
    uint64_t host_reclaimed_bytes;  /* kept pages the engine gave back itself, for blocks coming home */
    uint64_t host_reserve_failures; /* copies home that got no host pages even after that (-HMM4J_ENOHOSTMEM) */
    uint64_t blocks_peer;        /* blocks copied device to device (not counted in blocks_to_device) */
    uint64_t bytes_peer;         /* their bytes (not counted in bytes_to_device) */
};

/* One three-phase migration request: collect, copy, finalize. */
struct hmm4j_migrate {
    struct hmm4j_region *region; /* in */
    uint64_t first_block;        /* in */
    uint64_t nblocks;            /* in */
    int32_t direction;           /* in: enum hmm4j_direction */
    int32_t intent;              /* in: enum hmm4j_intent bits */
    int32_t cause;               /* in: enum hmm4j_cause */
    int32_t binding;             /* in: to the device, the binding (hmm4j_region_bind's result) it targets */
    uint8_t *state;              /* out, optional: HMM4J_MIGRATE_* bits, one per block */
    uint64_t moved_blocks;       /* out: blocks copied */
    uint64_t moved_bytes;        /* out: bytes copied */
};

struct hmm4j_region;
struct hmm4j_device;

/* Layout ids for hmm4j_layout_describe. */
enum hmm4j_layout_id {
    HMM4J_LAYOUT_STATS = 0,
    HMM4J_LAYOUT_MIGRATE = 1,
};

/* ---- engine ---- */

/* Returns HMM4J_ABI_VERSION of the loaded library. Async-signal-safe. */
int hmm4j_abi_version(void);

/*
 * Installs the SIGSEGV handler with sigaction (once; later calls return 0).
 * Faults outside hmm4j regions are forwarded to the handler that was installed
 * before, with its flags. A fault inside a region that cannot be served (the
 * device cannot give the block back) is forwarded to the previous SIGBUS handler
 * as BUS_ADRERR, which the JVM turns into an InternalError for memory-segment
 * accesses, as for a truncated mapped file. Call before creating regions.
 */
int hmm4j_engine_init(void);

/*
 * Puts the handler back in front if something replaced it: another library
 * restored the handler hmm4j chains to (a save/install/restore that overlapped
 * hmm4j_engine_init), or installed a handler that cannot chain (SA_RESETHAND,
 * as LLVM does inside PoCL during a program build; SIG_DFL; SIG_IGN). Faults
 * outside hmm4j regions still go to the handler saved by hmm4j_engine_init,
 * never to the replaced one. The other signals LLVM takes over the same way
 * (SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGUSR2, SIGTERM,
 * SIGXCPU, SIGXFSZ, SIGSYS) are looked at when the SIGSEGV handler had to be
 * put back, and get the action they had at hmm4j_engine_init again where an
 * SA_RESETHAND handler replaced it. When a driver has put a SIGFPE handler in
 * front of the JVM's (PoCL steps over integer division traps for its
 * kernels), hmm4j's goes in front of it: traps in code of no loaded object
 * (the JVM's generated code, whose ArithmeticException relies on them) go to
 * the JVM's handler, all others to the driver's. Returns 1 if it
 * re-installed anything, 0 if all was in place (or a third party that chains
 * now sits in front, which is left alone), -errno on error. Cheap (two
 * sigaction queries when nothing changed); the runtime calls it when a heap
 * opens, at every launch and after every OpenCL program build. Concurrent
 * callers may both re-install, which is harmless.
 */
int hmm4j_engine_ensure_handler(void);

/*
 * How many registry slots the fault handler scans for each SIGSEGV of the
 * process (the highest slot of a live region, plus one). A test hook: it
 * shrinks again when regions are destroyed.
 */
int hmm4j_engine_registry_span(void);

/*
 * Opens the process's userfaultfd and starts its handler thread (native, never attached to the JVM), for
 * hmm4j_region_use_uffd. Needs userfaultfd(2) or /dev/userfaultfd with shmem missing, minor and write-protect
 * support, and entries installed write-protected (Linux 6.4 or later). Returns 0 (also when already on) or the
 * -errno of the probe, which later calls return again without probing.
 */
int hmm4j_uffd_enable(void);

/* 1 when userfaultfd is on, 0 when never asked for, else the probe's -errno. */
int hmm4j_uffd_status(void);

/* Page size the engine works with. */
int64_t hmm4j_engine_page_size(void);

/*
 * Writes the size of the struct `layout_id` followed by the offset of each of
 * its fields, in declaration order (arrays count as one field), into out[0..max).
 * Returns the number of values written, or -EINVAL. Lets the bindings check
 * that they agree with this header.
 */
int hmm4j_layout_describe(int layout_id, uint64_t *out, int max);

/* The process-wide counters (all heaps). */
struct hmm4j_stats *hmm4j_stats_global(void);

/*
 * Counts `bytes` the runtime copied itself, outside a region's migration (the tiles of a tiled launch), in
 * bytes_to_device[cause] or bytes_to_host[cause] of `stats` (may be NULL) and of the process-wide counters, as a
 * migration's copies are counted. Never waits. Returns 0, or -EINVAL for a bad direction or cause.
 */
int hmm4j_stats_count_copy(struct hmm4j_stats *stats, int32_t direction, int32_t cause, uint64_t bytes);

/* ---- regions ---- */

/*
 * Creates a region of `size` bytes (rounded up to whole blocks) backed by a
 * memfd, mapped twice: the user view, whose protection the engine flips, and
 * the engine view, always read-write. All blocks start HOST and zeroed.
 * `block_size` must be a power-of-two multiple of the page size. `stats` (may
 * be NULL) must outlive the region. On success *out is set and 0 returned.
 */
int hmm4j_region_create(uint64_t size, uint64_t block_size, struct hmm4j_stats *stats,
                        struct hmm4j_region **out);

/*
 * Creates a region over bytes [offset, offset + length) of the regular file at `path`: the file's pages are
 * the host copy (both views map the file, MAP_SHARED), and blocks migrate like those of any region. `offset`
 * must be a multiple of the page size. A writable region (`writable` 1) opens the file read-write and grows
 * it to offset + length if it is shorter (sparse, as FileChannel.map does; the file stays grown if a later
 * step fails); a read-only one opens it read-only, refuses a range beyond the end of the file (-ENXIO), never
 * gives the user view write access, refuses migrations that would write blocks on the device (-EACCES) and
 * reports host write faults as unservable. The part of the last block beyond the file's last page is plain
 * memory (never written to the file). Pages of a file are never punched: hmm4j_region_reclaim and
 * hmm4j_region_set_release_host leave them alone. If the file is truncated below the range while mapped,
 * accesses to the missing pages raise SIGBUS, as with any shared file mapping. Errors: -EINVAL for bad
 * arguments, -ENODEV when `path` is no regular file, open(2)'s and mmap(2)'s errno otherwise.
 */
int hmm4j_region_create_file(const char *path, uint64_t offset, uint64_t length, uint64_t block_size,
                             int32_t writable, struct hmm4j_stats *stats, struct hmm4j_region **out);

/*
 * Regions shared between processes (region_shared.c; its top comment is the protocol). Creates (`create` 1) or
 * opens (`create` 0) the shared memory object /dev/shm/hmm4j-<name> and attaches this process to it: the object
 * holds a control area (block holders, one slot per attachment) and the data, which both views map. `name` is
 * 1-200 characters of [A-Za-z0-9._-], not starting with '.'. Creating takes `size` bytes (a multiple of
 * `element_size`, rounded up to whole blocks of `block_size`) and fails with -EEXIST if the name exists; opening
 * ignores size, element size and block size and takes the creator's (hmm4j_region_shared_info). Every attachment
 * keeps its own block states and its own device copy; before a block goes to one attachment's device
 * (hmm4j_migrate to the device claims it, waiting up to the timeout) every other attachment has made it PROT_NONE,
 * and a host fault on it asks the holder to bring it home and waits (bounded). A dead attachment's blocks are
 * recovered (their device copies are lost: the host copy stays, counted in HMM4J_SHARED_LOST_BLOCKS). Each
 * attachment runs one native responder thread. Errors: -EINVAL bad arguments, -ENOENT no such name, -EEXIST,
 * -EPROTO not an hmm4j shared array (or not initialised within 2 s), -EUSERS all 16 attachment slots taken,
 * open(2)/mmap(2)'s -errno.
 */
int hmm4j_region_create_shared(const char *name, uint64_t size, uint32_t element_size, uint64_t block_size,
                               int32_t create, struct hmm4j_stats *stats, struct hmm4j_region **out);

/* Removes the name (as shm_unlink): attachments keep working, new opens fail with -ENOENT. 0 or -errno. */
int hmm4j_shared_unlink(const char *name);

enum {
    HMM4J_SHARED_BYTES = 0,           /* size asked for at creation */
    HMM4J_SHARED_ELEMENT_SIZE = 1,
    HMM4J_SHARED_LOST_BLOCKS = 2,     /* blocks whose device copy died with an attachment's process */
    HMM4J_SHARED_RECOVERED_PEERS = 3, /* dead attachments recovered */
    HMM4J_SHARED_ATTACHMENTS = 4,     /* attachments now */
};

/* One of the HMM4J_SHARED_* values of a shared region, or -EINVAL. Never waits. */
int64_t hmm4j_region_shared_info(const struct hmm4j_region *region, int32_t what);

/* How long a wait for a live peer may take before it fails (default 10000 ms); for every shared region. */
void hmm4j_shared_set_timeout(uint32_t milliseconds);

/*
 * Gives up this attachment's device copies before its device memory is freed when they could not be brought home
 * (hmm4j_region_unbind failed): every held block is given back, those still DEVICE counted in
 * HMM4J_SHARED_LOST_BLOCKS, and no peer request is served from the device any more; later migrations to the
 * device fail with -EINVAL. Call only on the way to hmm4j_region_destroy. 0 or -EINVAL.
 */
int hmm4j_region_shared_abandon(struct hmm4j_region *region);

/*
 * Writes a file-backed region's data to its file, like msync: DEVICE blocks are copied home first (they
 * become SHARED, the device copy stays valid), then the file's pages are written back (MS_SYNC; nothing for
 * a read-only region). No launch that writes the region may run meanwhile (the caller waits for them).
 * Returns 0, -EINVAL for a region that is not file-backed, -EIO (or -HMM4J_EMAPLIMIT) when a block could not
 * come home (nothing written then), msync's -errno when writeback failed.
 */
int hmm4j_region_force(struct hmm4j_region *region, int32_t cause);

/*
 * Serves the region's faults with userfaultfd instead of mprotect + SIGSEGV (after hmm4j_uffd_enable; call
 * right after hmm4j_region_create, before the region is bound or shared): a DEVICE block has no page-table
 * entries in the user view and is write-protected, a SHARED one is write-protected, so faults the kernel takes
 * on them (read(2) into a DEVICE block, write(2) from one) are served like the process's own instead of failing
 * with EFAULT, and states never split the user view's mapping (no vm.max_map_count limit). Every first touch of
 * a block is served by the handler thread too (counted as a spurious fault). Returns 0, -ENODEV when
 * userfaultfd is not on, -EINVAL for a file-backed region, UFFDIO_REGISTER's -errno otherwise (the region then
 * keeps mprotect).
 */
int hmm4j_region_use_uffd(struct hmm4j_region *region);

/*
 * Unregisters the region, waits until no fault handler uses it, unmaps both
 * views and frees it. The caller guarantees that no thread accesses the user
 * view any more (the Java side closes the view's arena first).
 */
void hmm4j_region_destroy(struct hmm4j_region *region);

void *hmm4j_region_user_base(const struct hmm4j_region *region);
void *hmm4j_region_engine_base(const struct hmm4j_region *region);
uint64_t hmm4j_region_size(const struct hmm4j_region *region);
uint64_t hmm4j_region_block_size(const struct hmm4j_region *region);
uint64_t hmm4j_region_block_count(const struct hmm4j_region *region);

/*
 * Gives the region a home on `device` at `device_base` (block i lives at
 * device_base + i * block_size), beside the homes it has on other devices
 * (at most HMM4J_MAX_BINDINGS; a region shared between processes: one). Each
 * block is valid on a set of them: a migration to a device copies only blocks
 * not valid there, from the host where the host copy is valid, else from
 * another device (hmm4j_stats.bytes_peer). It holds a reference to the device
 * until that binding ends (hmm4j_region_unbind_device, hmm4j_region_unbind) or
 * the region is destroyed. Returns the binding's slot (>= 0, what
 * hmm4j_migrate.binding names), -EBUSY if bound to `device` already (or a
 * shared region is bound), -ENOSPC if every slot is taken, -ENOMEM, -EINVAL on
 * bad arguments or a destroyed device.
 */
int hmm4j_region_bind(struct hmm4j_region *region, struct hmm4j_device *device, uint64_t device_base);

/*
 * Ends the region's binding on `device` only: blocks whose only valid copy is
 * there are copied home first (HOST), other blocks lose that copy. On a copy
 * error nothing is detached (-EIO, -HMM4J_EMAPLIMIT, -HMM4J_ENOHOSTMEM as
 * hmm4j_region_unbind). The region's last binding ends as with
 * hmm4j_region_unbind. 0 if the region was not bound to `device`.
 */
int hmm4j_region_unbind_device(struct hmm4j_region *region, struct hmm4j_device *device, int32_t cause);

/*
 * Writes one byte per block into masks[0..n): bit i set when binding slot i
 * holds a valid copy of the block (0 for HOST blocks). Takes the region lock
 * (not for the fault path). Returns the number of blocks written.
 */
int64_t hmm4j_region_snapshot_valid(struct hmm4j_region *region, uint8_t *masks, uint64_t n);

/*
 * Makes every block host-valid (copying DEVICE blocks back) and detaches the
 * region from its device. On a copy error nothing is detached, the blocks
 * keep their state and -EIO is returned (-HMM4J_EMAPLIMIT when a protection
 * change failed, -HMM4J_ENOHOSTMEM when no host memory could be had for a
 * block). 0 if the region was unbound.
 */
int hmm4j_region_unbind(struct hmm4j_region *region, int32_t cause);

/*
 * Gives back the host pages of the region's DEVICE blocks (punch hole), as a
 * migration to the device does unless it was asked to KEEP_HOST. Nothing
 * happens when the region keeps host pages (hmm4j_region_set_release_host 0).
 * Returns the number of blocks whose pages were released.
 */
int64_t hmm4j_region_reclaim(struct hmm4j_region *region);

/*
 * Host RAM the region holds (the memfd's allocated bytes: HOST and SHARED
 * blocks, and DEVICE blocks whose pages were kept). Takes the region lock, so
 * that a fault's charge to the heap's headroom and its pages are seen together:
 * not for the fault path, which holds that lock. -errno on failure.
 */
int64_t hmm4j_region_host_bytes(const struct hmm4j_region *region);

/*
 * The host tier's reclaim: gives back the host pages of up to `max_blocks`
 * blocks whose bytes are valid on the device, in block order: DEVICE blocks
 * (pages kept) are punched; SHARED blocks are made PROT_NONE first, then
 * DEVICE, then punched (a later host access faults them home). HOST blocks
 * are never touched. A region with a launch in flight (launch_begin without
 * launch_end), without a device, or whose device is lost, unreadable or
 * closed releases nothing. Page-locked host memory
 * is unregistered first. From then on every copy home reserves its pages
 * before it copies. Returns the number of blocks released, or -errno
 * (-HMM4J_EMAPLIMIT) if the first protection change failed.
 */
int64_t hmm4j_region_reclaim_host(struct hmm4j_region *region, uint64_t max_blocks);

/*
 * Gives the region its heap's host headroom: one int64_t that every region of the heap shares (NULL: none), the
 * bytes the heap may still take before it is over its host budget. Java sets it after it looked at the heap's host
 * RAM; the engine subtracts the pages it reserves for blocks coming home and, where the headroom goes below zero,
 * first gives back as much from the heap's other regions (kept pages of DEVICE blocks, SHARED blocks; regions whose
 * lock is taken are skipped), adding back what it released. The memory must outlive the region.
 */
void hmm4j_region_set_host_headroom(struct hmm4j_region *region, int64_t *headroom);

/*
 * Whether the engine may, when clean pages are not enough to keep the heap within its headroom, write the region's
 * HOST blocks back to its device (an eviction-caused migration, only while it is bound, has no launch in flight and
 * its device is healthy) and give their pages back; they come home by fault. Off by default; Java turns it on for
 * arrays whose memory group allows device memory (not DevicePolicy.NEVER). Never for a file-backed region.
 */
void hmm4j_region_set_host_spill(struct hmm4j_region *region, int32_t allow);

/*
 * Java's recency stamp for the region (larger: used more recently); the engine spills the oldest first. Takes no
 * lock. Async-signal-safe.
 */
void hmm4j_region_touch(struct hmm4j_region *region, uint64_t stamp);

/*
 * Opens a PSI trigger on `path` (/proc/pressure/memory or a cgroup v2
 * memory.pressure): an event when tasks stalled on memory for `stall_us`
 * within any `window_us` (unprivileged: the window a multiple of 2 s).
 * Returns the file descriptor or -errno (-EINVAL: trigger refused).
 */
int hmm4j_pressure_open(const char *path, uint64_t stall_us, uint64_t window_us);

/*
 * Waits up to `timeout_ms` for the trigger's event. Blocks (no lock held):
 * call it from a thread of its own. 1 on an event, 0 on timeout or signal,
 * -errno (-EIO: the trigger's source went away).
 */
int hmm4j_pressure_wait(int32_t fd, int32_t timeout_ms);

void hmm4j_pressure_close(int32_t fd);

/* The device base of a bound region's lowest binding, or UINT64_MAX when unbound. */
uint64_t hmm4j_region_device_base(const struct hmm4j_region *region);

/*
 * Writes one enum hmm4j_block_state byte per block into states[0..n).
 * Returns the number of blocks written.
 */
int64_t hmm4j_region_snapshot(struct hmm4j_region *region, uint8_t *states, uint64_t n);

/*
 * Marks a kernel that writes this region as in flight (begin) or finished (end).
 * While one is in flight, a host fault on the region first waits for the
 * device (the backend's synchronize).
 */
void hmm4j_region_launch_begin(struct hmm4j_region *region);
/* A launch that began on the region failed before its kernel was enqueued (no hmm4j_region_launch_enqueued). */
void hmm4j_region_launch_abandoned(struct hmm4j_region *region);
void hmm4j_region_launch_end(struct hmm4j_region *region);

/*
 * Sets the adaptive sequential prefetch of host faults: when faults walk the
 * region in order, up to `max_blocks` following DEVICE blocks are pulled back
 * with the faulting one, the window doubling each step. 0 disables it.
 */
void hmm4j_region_set_prefetch(struct hmm4j_region *region, uint64_t max_blocks);

/*
 * Whether blocks that become DEVICE give their host RAM back (punch hole; the
 * default, 1). Keeping it (0) trades host memory for faster faults: a block
 * coming home then needs no fresh, zeroed pages, and on devices that can
 * page-lock host memory (CUDA) the engine view is registered while bound, so
 * migrations DMA it directly instead of staging through a bounce buffer.
 */
void hmm4j_region_set_release_host(struct hmm4j_region *region, int32_t release);

/*
 * Test hook, like a device's fault injection: after `skip` more protection
 * changes of this region's user view succeed, the next `count` fail with
 * -HMM4J_EMAPLIMIT without changing anything, as mprotect does at the mapping
 * limit. count 0 disarms it.
 */
void hmm4j_region_inject_protect_failure(struct hmm4j_region *region, uint32_t skip, uint32_t count);

/*
 * Test hook for the whole process: after `skip` more reservations of host
 * pages for a copy home succeed, the next `count` fail with ENOSPC, as
 * fallocate on a memfd does when no memory can be had. count 0 disarms it.
 * Async-signal-safe.
 */
void hmm4j_engine_inject_host_reserve_failure(uint32_t skip, uint32_t count);

/*
 * Moves blocks [first_block, first_block + nblocks) of a bound region.
 * Collect: lock the region, pick the blocks whose state must change.
 * Copy: through the device's copy table; WRITE-only intent to the device copies
 * nothing. Finalize: commit the blocks that were copied, set protections, punch
 * the host RAM of DEVICE blocks, and leave any block whose copy failed as it was.
 * Protection changes before state: a block whose protection cannot be changed
 * keeps the state its protection says (its previous state; SHARED after a
 * completed copy to the device) and is marked HMM4J_MIGRATE_FAILED.
 * Returns 0 when every block reached the requested state, -EIO if a copy
 * failed (state[] tells which), -HMM4J_EMAPLIMIT if a protection change failed
 * at the mapping limit, -HMM4J_ENOHOSTMEM if a block coming home got no host
 * pages even after kept pages were reclaimed for it (it stays DEVICE), -EINVAL
 * on misuse (unbound region, range).
 */
int hmm4j_migrate(struct hmm4j_migrate *request);

/* ---- devices (copy tables) ---- */

/*
 * An emulated device: device addresses are host pointers of a separate
 * allocation that the caller owns. Copies cost `latency_ns` plus bytes at
 * `bytes_per_second` (0 = memcpy speed), to imitate PCIe.
 */
int hmm4j_device_create_emulated(uint64_t latency_ns, uint64_t bytes_per_second,
                                 struct hmm4j_device **out);

/*
 * An emulated device with engines: as hmm4j_device_create_emulated, and with
 * `overlap` != 0 two in-order engines, each a native worker thread: copies
 * enqueued without waiting (HMM4J_INTENT_ASYNC) run on a copy engine while
 * kernels queued with hmm4j_device_emulated_launch run on a compute engine,
 * every kernel after the copies enqueued before it. With `overlap` 0 nothing
 * is queued (the same copies and kernels, serialized in the calling thread).
 * A kernel takes at least the bytes it reads and writes at
 * `kernel_bytes_per_second` (0 = as fast as it runs), to imitate a device
 * whose kernels cost as much as its copies.
 */
int hmm4j_device_create_emulated_engines(uint64_t latency_ns, uint64_t bytes_per_second,
                                         uint64_t kernel_bytes_per_second, int32_t overlap,
                                         struct hmm4j_device **out);

/* The emulated built-in kernels (io.hmm4j.BuiltinKernel's parameters, in that order). */
enum hmm4j_emulated_kernel {
    HMM4J_EMULATED_HOST_KERNEL = 0, /* the caller runs it: only the wait for queued copies */
    HMM4J_EMULATED_FILL = 1,
    HMM4J_EMULATED_SCALE = 2,
    HMM4J_EMULATED_AXPY = 3,
    HMM4J_EMULATED_DOT = 4,
    HMM4J_EMULATED_SUM = 5,
    HMM4J_EMULATED_STENCIL_2D = 6,
};
#define HMM4J_EMULATED_MAX_ARGS 8

/*
 * Runs an emulated kernel over `args` (arrays: device addresses; float: its
 * bits in the low 32; int and long: the value), after every copy to the device
 * enqueued before. With `event` NULL, or on a device without overlap, it runs
 * in the calling thread before this returns (*event, if given, is 0). Else it
 * is queued on the compute engine and *event is an event for hmm4j_fence_create
 * that completes with its result. A kernel some of whose preceding queued
 * copies (those since the kernel before) failed does not run and fails with
 * their error. HOST_KERNEL only waits for the queued copies, failing like a
 * kernel (the caller runs a kernel of its own next), and returns an event
 * already complete. Returns 0, -EINVAL (not an emulated device, bad
 * kernel or count), -EIO (device closed or lost), -ENOMEM. Arguments are not
 * checked against any array: the caller checked them.
 */
int hmm4j_device_emulated_launch(struct hmm4j_device *device, int32_t kernel, const uint64_t *args,
                                 int32_t nargs, uint64_t *event);

/*
 * Prices an emulated device's copies from another emulated device (device to
 * device, direct): `latency_ns` plus bytes at `bytes_per_second` (0 = memcpy
 * speed). Default: its own bus's price. 0, or -EINVAL for a device that is not
 * emulated.
 */
int hmm4j_device_emulated_set_peer(struct hmm4j_device *device, uint64_t latency_ns, uint64_t bytes_per_second);

/*
 * A CUDA device: libcuda (`libcuda_path`, dlopen'd) in the primary context
 * `context` (a CUcontext) on `stream` (a CUstream, 0 = default stream).
 * Device addresses are CUdeviceptr values.
 */
int hmm4j_device_create_cuda(const char *libcuda_path, uint64_t context, uint64_t stream,
                             struct hmm4j_device **out);

/*
 * An OpenCL device: libOpenCL (`libopencl_path`, dlopen'd) on the command
 * queue `queue` (a cl_command_queue created by JOCL). Device addresses encode
 * a buffer slot in their top 16 bits and a byte offset in the low 48 bits;
 * slots are filled with hmm4j_device_opencl_set_buffer.
 */
int hmm4j_device_create_opencl(const char *libopencl_path, uint64_t queue,
                               struct hmm4j_device **out);
int hmm4j_device_opencl_set_buffer(struct hmm4j_device *device, uint32_t slot, uint64_t mem);
/*
 * Gives an OpenCL device a second in-order queue (a cl_command_queue of the
 * same context and device) for copies to the device enqueued without waiting
 * (HMM4J_INTENT_ASYNC), so they overlap the kernels on the launch queue. Every
 * other copy, and every launch after hmm4j_device_order_launch, starts after
 * the uploads enqueued before it. Set it once, before any region is bound;
 * -EBUSY if one is set. The caller keeps the queue until the device is destroyed.
 */
int hmm4j_device_opencl_set_copy_queue(struct hmm4j_device *device, uint64_t queue);
/*
 * The CUDA counterpart: `stream` (a CUstream of the device's context) becomes
 * the copy stream for copies to the device enqueued without waiting; launches
 * after hmm4j_device_order_launch and every other copy wait for the uploads
 * enqueued before them (cuStreamWaitEvent). Once, before any region is bound;
 * -EBUSY if one is set. The caller keeps the stream until the device is destroyed.
 */
int hmm4j_device_cuda_set_copy_stream(struct hmm4j_device *device, uint64_t stream);

/*
 * Releases the owner's hold on the copy table. Regions should be unbound
 * first; one still bound keeps the struct alive (it is freed when the last
 * such region is unbound or destroyed), but the device counts as closed:
 * every later copy, zero or synchronize through it fails with -EIO (raw code
 * ENODEV), since what it copied through belongs to the owner that let go.
 */
void hmm4j_device_destroy(struct hmm4j_device *device);

/* Direct copies for backends and tests; same error convention as migrations. */
int hmm4j_device_copy_to_device(struct hmm4j_device *device, uint64_t device_addr,
                                const void *host, uint64_t bytes);
int hmm4j_device_copy_to_host(struct hmm4j_device *device, void *host, uint64_t device_addr,
                              uint64_t bytes);
/*
 * The copy above of `direction` (HMM4J_TO_DEVICE: host to device_addr;
 * HMM4J_TO_HOST: device_addr to host) without waiting out its modelled time
 * (an emulated device's bus: latency plus bytes at its bandwidth). The bytes
 * have moved when it returns 0, and *paced_until is the hmm4j_now_ns() time
 * before which the plain copy would not have returned, or 0 where nothing is
 * modelled (other backends copy for real). The caller does what it can
 * meanwhile and then calls hmm4j_device_pace(*paced_until), so that copies
 * made one after another occupy the modelled bus as plain ones do. Same
 * errors as the plain copies. Not async-signal-safe.
 */
int hmm4j_device_copy_unpaced(struct hmm4j_device *device, int32_t direction, uint64_t device_addr,
                              void *host, uint64_t bytes, uint64_t *paced_until);
/* Returns once hmm4j_now_ns() >= paced_until (at once for 0); see hmm4j_device_copy_unpaced. */
void hmm4j_device_pace(uint64_t paced_until);
int hmm4j_device_zero(struct hmm4j_device *device, uint64_t device_addr, uint64_t bytes);
int hmm4j_device_synchronize(struct hmm4j_device *device);
/*
 * Call right before enqueueing a launch on the device's launch queue (an OpenCL
 * queue, a CUDA stream): the launch then starts after the copies to the device
 * enqueued so far on the device's copy queue or stream, if it has one (else
 * this does nothing). 0 or -errno (-EIO: device closed, or the driver failed).
 */
int hmm4j_device_order_launch(struct hmm4j_device *device);

/*
 * Per-launch completion. A fence owns one event a backend recorded after a
 * launch's last command (OpenCL: a cl_event; CUDA: a CUevent recorded on the
 * device's stream), so a wait drains that launch, not the whole device.
 * hmm4j_fence_create takes the event over, also when it fails (-ENOMEM; or
 * -EOPNOTSUPP for a device without events, which then waits with
 * synchronize). The creator holds one reference; hmm4j_fence_get adds one
 * (take it while the creator's is certainly held), hmm4j_fence_put drops one
 * and the last frees the event. hmm4j_fence_wait returns 0 once the launch is
 * complete, or -EIO (the raw code in the device's last error) if it failed;
 * the first wait's outcome is kept, so a launch is waited for at most once.
 * Not async-signal-safe; the fault handler reaches fences through regions.
 */
struct hmm4j_fence;
int hmm4j_fence_create(struct hmm4j_device *device, uint64_t event, struct hmm4j_fence **out);
void hmm4j_fence_get(struct hmm4j_fence *fence);
void hmm4j_fence_put(struct hmm4j_fence *fence);
int hmm4j_fence_wait(struct hmm4j_fence *fence);

/*
 * Waits for the region's copies to the device still in flight (HMM4J_INTENT_ASYNC). Returns 0, or the error of
 * one to `device` that failed since the last call for that device (its blocks are no longer valid there; those
 * valid nowhere else are HOST again: the host pages are the valid copy, and the device read bytes that are not
 * known): a launch on `device` that read the region reports it. Another device's failure is not returned.
 */
int hmm4j_region_settle_uploads(struct hmm4j_region *region, struct hmm4j_device *device);

/*
 * Tells a region that a launch writing it (handed over with HMM4J_INTENT_KEEP_HOST) has its kernel enqueued:
 * blocks a host read fault copied home in between (SHARED, bytes from before the kernel) become DEVICE again,
 * keeping their host pages, without a copy. Call it after the enqueue, before or after attaching the fence.
 * Returns 0 or the protection error (-HMM4J_EMAPLIMIT); a block that could not change stays SHARED.
 */
int hmm4j_region_launch_enqueued(struct hmm4j_region *region);
/*
 * hmm4j_region_launch_enqueued for a range launch: only blocks [first_block, first_block + count) go back to
 * DEVICE (the range from the first block the launch writes to the last; count 0 for a launch that writes none).
 * -EINVAL (and nothing counted) for a range outside the region.
 */
int hmm4j_region_launch_enqueued_blocks(struct hmm4j_region *region, uint64_t first_block, uint64_t count);

/*
 * Tells a region that the launch of `fence` writes it (between
 * hmm4j_region_launch_begin and _end): a host fault on the region waits for
 * that fence instead of the device's synchronize, as long as every launch in
 * flight on the region has attached one. The region holds its own reference
 * until hmm4j_region_fence_detach (call it before hmm4j_region_launch_end) or
 * its destroy. Returns 0, or -ENOSPC when the region's table is full (the
 * fault path then keeps synchronizing, which is correct, only slower).
 */
int hmm4j_region_fence_attach(struct hmm4j_region *region, struct hmm4j_fence *fence);
void hmm4j_region_fence_detach(struct hmm4j_region *region, struct hmm4j_fence *fence);

/*
 * Zero-copy placement (region_zerocopy.c): the device addresses the region's engine view directly, nothing
 * migrates and every block stays HOST. hmm4j_region_set_zero_copy(on) needs an unbound region whose blocks are all
 * HOST (-EBUSY otherwise), not shared between processes nor served by userfaultfd (-EOPNOTSUPP), not a read-only
 * file (-EACCES); off needs no zero-copy launch in flight (-EBUSY). hmm4j_region_is_zero_copy: 1, 0 or -EINVAL.
 */
int hmm4j_region_set_zero_copy(struct hmm4j_region *region, int32_t on);
int32_t hmm4j_region_is_zero_copy(struct hmm4j_region *region);
/*
 * A launch on `device` (NULL: one without a copy engine) uses the zero-copy region: instead of
 * hmm4j_region_launch_begin. The user view becomes read-only (`writes` 0) or PROT_NONE until the last such launch
 * ends, so a host access faults and waits for the launches (their fences attached with hmm4j_region_fence_attach,
 * or the device while one has none) and lifts the protection without a copy. Returns 0, -EINVAL (not zero-copy),
 * -EBUSY (launches on another device in flight) or the protection error (nothing changed then). After the enqueue
 * call _enqueued instead of hmm4j_region_launch_enqueued; at the end _end instead of hmm4j_region_launch_end
 * (hmm4j_region_launch_abandoned as usual for a launch that failed before its kernel).
 */
int hmm4j_region_zero_copy_begin(struct hmm4j_region *region, struct hmm4j_device *device, int32_t writes);
int hmm4j_region_zero_copy_enqueued(struct hmm4j_region *region);
void hmm4j_region_zero_copy_end(struct hmm4j_region *region);
/*
 * Makes `bytes` of host memory at `host` (a region's engine view) addressable by kernels on `device` and returns
 * the address they use: CUDA page-locks and maps it (cuMemHostRegister, cuMemHostGetDevicePointer) under the pinned
 * limit (-ENOMEM when it is full or the driver refuses); the emulated device reads it at its bus bandwidth (its
 * kernels pay the bus for the bytes they touch there; hmm4j_device_emulated_bus_wait for Java kernels). -EOPNOTSUPP
 * for other devices (OpenCL wraps host memory in its own buffers). unmap undoes it (same host, bytes).
 */
int hmm4j_device_map_host(struct hmm4j_device *device, void *host, uint64_t bytes, uint64_t *device_addr);
void hmm4j_device_unmap_host(struct hmm4j_device *device, void *host, uint64_t bytes);
/* `bytes` when [addr, addr+bytes) lies in host memory mapped for the (emulated) device, else 0. */
uint64_t hmm4j_device_host_mapped_bytes(struct hmm4j_device *device, uint64_t addr, uint64_t bytes);
/* Emulated device: returns once moving `bytes` over its bus would be done, counted from `start_ns`. */
int hmm4j_device_emulated_bus_wait(struct hmm4j_device *device, uint64_t start_ns, uint64_t bytes);

/* Test hooks: how many waits drained the whole device, and how many waited for one launch's event. */
uint64_t hmm4j_device_synchronizations(const struct hmm4j_device *device);
uint64_t hmm4j_device_event_waits(const struct hmm4j_device *device);
/* Test hook: how many copies were enqueued without waiting (HMM4J_INTENT_ASYNC). */
uint64_t hmm4j_device_async_copies(const struct hmm4j_device *device);
/* Test hook: how many copies left their modelled time to the caller (hmm4j_device_copy_unpaced). */
uint64_t hmm4j_device_unpaced_copies(const struct hmm4j_device *device);

/*
 * Host memory page-locked with the device (CUDA: cuMemHostRegister of a region's kept pages, so moves DMA
 * directly): at most `bytes` at a time (default unlimited); a region over the limit stays unpinned and its copies
 * stage through the driver. Lowering the limit unpins nothing already pinned.
 */
void hmm4j_device_set_pinned_limit(struct hmm4j_device *device, uint64_t bytes);
uint64_t hmm4j_device_pinned_bytes(const struct hmm4j_device *device);
/* How many regions found the limit full. */
uint64_t hmm4j_device_pin_refusals(const struct hmm4j_device *device);
/* Test hook: a device that cannot page-lock (emulated) accounts pins as if it did, so the limit can be tested. */
void hmm4j_device_test_pretend_pinning(struct hmm4j_device *device);

/* The raw backend error code of the last failure (CUresult, cl_int, errno). */
int64_t hmm4j_device_last_error(const struct hmm4j_device *device);

/* Arms a one-shot fault injection (enum hmm4j_inject). Any backend. */
void hmm4j_device_inject(struct hmm4j_device *device, int32_t what, uint64_t after_bytes);

/*
 * Benchmark floor (FaultCostBench.rawFloor): the least work that serves a host
 * fault. A memfd of `size` bytes mapped twice like a region (user view and an
 * always-writable engine view) plus a stand-in for device memory filled with
 * byte 1. While it exists, the engine's SIGSEGV handler serves a fault in the
 * user view with one memcpy of the block into the engine view and one
 * mprotect(PROT_READ|PROT_WRITE) of the block in the user view, nothing else.
 * One floor at a time (-EBUSY); not for regions, not for production use.
 * Bound by the benchmarks module itself, not by hmm4j_h.
 */
struct hmm4j_floor;
int hmm4j_floor_create(uint64_t size, uint64_t block_size, struct hmm4j_floor **out);
void *hmm4j_floor_user_base(const struct hmm4j_floor *floor);
/* Makes the whole user view PROT_NONE (and, with `release`, punches the memfd's pages out). */
int hmm4j_floor_protect(struct hmm4j_floor *floor, int32_t release);
/* Disarms the handler, waits for a fault being served to finish, then unmaps and frees. */
void hmm4j_floor_destroy(struct hmm4j_floor *floor);

#ifdef __cplusplus
}
#endif
#endif /* HMM4J_H */
