/*
 * Regions shared between processes: one /dev/shm object, opened by name, mapped by every process that attaches
 * (each with its own user and engine views and its own engine), and a control area in front of the data that all
 * of them see. Coherence follows the kernel's rule for migrating a page that several processes map: before a
 * block's only valid copy may leave the shared host pages for one process's device, every other process drops
 * its access to that block (a shootdown, like a TLB shootdown IPI).
 *
 * Object layout: [control area: header, 16 attachment slots, one holder word per block][data: the region's bytes].
 *
 * Holder word of a block: 0 when the shared host pages are the block's copy (every attachment maps it per its own
 * state, which is then HOST); otherwise the identity of the one attachment that may keep the block on its device
 * (bits 0-7 slot + 1, bits 8-29 an epoch, so a reused slot never matches a dead one's words), plus WANTED (a peer
 * asked for the block back) and DIRTY (the holder may have a device copy newer than the host pages).
 * Invariant, per attachment: a block whose local state is SHARED or DEVICE is held by that attachment; a block
 * held by another attachment is HOST locally and PROT_NONE in the user view ("fenced").
 *
 * Protocol:
 * - Acquire (hmm4j_migrate to a device, a Java thread, no region lock held): take the control area's acquire
 *   lock (a CAS word; a dead owner's is taken over), claim each block (CAS 0 -> self; a block held by another
 *   attachment is marked WANTED, its holder's doorbell rung, and claimed once given back), then bump the
 *   generation, ring every peer's doorbell and wait until each live peer has acknowledged that generation.
 *   Then the region lock is taken and the claim checked again (a peer may have asked for a block back
 *   in between): the migration runs only over blocks the attachment still holds.
 * - Each attachment runs a responder, a native thread (never a Java thread, never in a signal handler) that
 *   sleeps on its slot's doorbell (a futex in the shared area). Woken, it (1) gives back held blocks that a peer
 *   wants: under the region lock it waits for the launches that write the region (as a local fault does; while
 *   a launch is still being placed it defers: see below), copies DEVICE blocks home, makes them HOST and
 *   clears their holder words; (2) fences blocks now held by others (PROT_NONE) and unfences those given back;
 *   (3) acknowledges the generation it read before looking.
 * - A host fault on a fenced block (the SIGSEGV handler) leaves the region lock, marks the block WANTED, rings
 *   the holder and waits on the control area's "released" futex in bounded steps; once the block is given back
 *   the access is executed again and faults into the usual path.
 * A request gives back every block the holder has (not just the one asked for): one round trip instead of one
 * per block when a peer walks the array.
 *
 * What a fault handler waits for (DESIGN.md invariant 2, across processes): another process's responder, a native
 * thread, which takes only that process's region lock and waits only for its kernels, plus the deferral while a
 * launch is being placed there (handed over, kernel not yet enqueued; on the emulated backend that includes its
 * kernel). The deferral has no bound of its own: giving the blocks back then would silently drop that kernel's
 * writes. The requester's wait is bounded (the timeout), so even a cycle through two JVMs' safepoints (each one's
 * fault waiting for the other's deferring responder) breaks, loudly: the waiting access fails.
 *
 * Dead peers: an attachment's slot records its pid and the process's start time (/proc/<pid>/stat), so a
 * reused pid is not taken for the dead process. Every wait checks the peers it waits for about every 50 ms; a
 * dead one is recovered by whoever notices: its holder words are cleared (each DIRTY one counts in lost_blocks:
 * that block's newest bytes died with the peer's device, and the survivors see the last host copy, which for a
 * launch is the bytes from before its kernel), its acquire lock is dropped and its slot freed. A live peer that
 * does not answer within the timeout (10 s) fails the wait: -ETIMEDOUT for an acquire (the launch fails), and an
 * unservable fault (the JVM's InternalError) in a fault handler. No wait is unbounded, so a crashed peer never
 * wedges the survivor. Processes must share a pid namespace. An attachment that closes brings its device-only
 * blocks home first (the Java side unbinds); if that fails it abandons them (hmm4j_region_shared_abandon: counted
 * lost, never again served from device memory that is about to be freed).
 */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SHARED_MAGIC 0x31414853346d6d68ull /* "hmm4SHA1" */
#define SHARED_VERSION 1
#define SHARED_SLOTS 16
#define HOLDER_ID_MASK 0x3fffffffu
#define HOLDER_WANTED 0x40000000u
#define HOLDER_DIRTY 0x80000000u
#define SHARED_NAME_MAX 200
/* How long a wait looks at its peers' liveness between futex wake-ups. */
#define POLL_MS 50
/* How long an opener waits for the creator to finish writing the header. */
#define OPEN_WAIT_MS 2000

struct shared_slot {
    _Atomic uint64_t owner;      /* pid << 32 | identity; 0: free */
    _Atomic uint64_t start_time; /* the owner's start time in clock ticks after boot; 0 until written */
    _Atomic uint32_t doorbell;   /* futex: rung by requests and shootdowns */
    _Atomic uint32_t acked;      /* the last generation whose shootdown this attachment has applied */
};

struct shared_control {
    _Atomic uint64_t magic; /* written last by the creator */
    uint32_t version;
    uint32_t element_size;
    uint64_t bytes;      /* as asked for at creation */
    uint64_t block_size;
    uint64_t nblocks;
    uint64_t control_bytes; /* the data starts here */
    _Atomic uint32_t generation; /* bumped by every acquisition that changed holders */
    _Atomic uint32_t acks;       /* futex: bumped by every acknowledgement */
    _Atomic uint32_t released;   /* futex: bumped whenever blocks are given back or recovered */
    _Atomic uint32_t acquiring;  /* identity of the attachment inside an acquisition; 0: none */
    _Atomic uint32_t next_epoch;
    uint32_t reserved;
    _Atomic uint64_t lost_blocks;
    _Atomic uint64_t recovered_peers;
    struct shared_slot slots[SHARED_SLOTS];
    _Atomic uint32_t holder[];
};

/* This process's attachment. */
struct hmm4j_shared {
    struct shared_control *ctl;
    uint64_t control_bytes;
    uint32_t id;
    int slot;
    uint8_t *fenced; /* per block (region lock): the user view is PROT_NONE because a peer holds the block */
    bool fence_pending; /* an acquisition changed holders but did not see every acknowledgement */
    pthread_t responder;
    bool responder_started;
    bool abandoned; /* region lock: the device copies were given up (hmm4j_region_shared_abandon) */
    atomic_bool stopping;
    uint64_t deferred_since;
};

static _Atomic uint32_t timeout_ms = 10000;

static uint64_t deadline_after(uint64_t ms) { return hmm4j_now_ns() + ms * 1000000ull; }

static void futex_wait_ms(_Atomic uint32_t *word, uint32_t expected, uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0); }

static void ring(struct shared_slot *slot)
{
    atomic_fetch_add(&slot->doorbell, 1);
    futex_wake_all(&slot->doorbell);
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * Reads a process's state letter and start time from /proc/<pid>/stat with async-signal-safe calls only (the
 * fault handler checks peers too). Returns false when the process does not exist.
 */
static bool read_proc_stat(int32_t pid, char *state, uint64_t *start_time)
{
    char path[32] = "/proc/";
    char digits[12];
    int n = 0;
    for (uint32_t v = (uint32_t)pid; v > 0 || n == 0; v /= 10)
        digits[n++] = (char)('0' + v % 10);
    size_t at = 6;
    while (n > 0)
        path[at++] = digits[--n];
    memcpy(path + at, "/stat", 6);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    char buf[1024];
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return false;
    buf[len] = 0;
    /* The command name may hold spaces and parentheses: fields are counted from the last ')'. */
    char *p = NULL;
    for (ssize_t i = len - 1; i >= 0; i--)
        if (buf[i] == ')') {
            p = buf + i + 1;
            break;
        }
    if (!p)
        return false;
    int field = 2;
    uint64_t value = 0;
    bool in_value = false;
    *state = '?';
    for (; *p; p++) {
        if (*p == ' ') {
            if (in_value && field == 22)
                break;
            field++;
            in_value = false;
            value = 0;
            continue;
        }
        in_value = true;
        if (field == 3)
            *state = *p;
        else if (field == 22 && *p >= '0' && *p <= '9')
            value = value * 10 + (uint64_t)(*p - '0');
    }
    *start_time = value;
    return true;
}

static uint64_t own_start_time(void)
{
    char state;
    uint64_t start = 0;
    return read_proc_stat(getpid(), &state, &start) ? start : 0;
}

/* Whether the attachment that owned `owner` (a slot's owner word) is gone: its process exited or was killed. */
static bool owner_dead(uint64_t owner, uint64_t start_time)
{
    int32_t pid = (int32_t)(owner >> 32);
    if (pid <= 0 || pid == getpid())
        return false;
    if (kill(pid, 0) != 0 && errno == ESRCH)
        return true;
    char state;
    uint64_t now_start;
    if (!read_proc_stat(pid, &state, &now_start))
        return kill(pid, 0) != 0 && errno == ESRCH;
    /* A zombie has released nothing but will never answer; a different start time is a reused pid. */
    return state == 'Z' || state == 'X' || (start_time != 0 && now_start != start_time);
}

static struct shared_slot *slot_of(struct shared_control *ctl, uint32_t id)
{
    uint32_t index = (id & 0xffu) - 1;
    return index < SHARED_SLOTS ? &ctl->slots[index] : NULL;
}

/*
 * Frees the slot of a dead attachment whose identity is `id`: its blocks are given back (DIRTY ones counted as
 * lost), its acquire lock dropped. Any attachment may do it, from any context; CAS makes each step happen once.
 */
static void recover(struct shared_control *ctl, uint32_t id, uint64_t owner)
{
    uint64_t lost = 0;
    for (uint64_t b = 0; b < ctl->nblocks; b++) {
        uint32_t h = atomic_load(&ctl->holder[b]);
        while ((h & HOLDER_ID_MASK) == id) {
            if (atomic_compare_exchange_weak(&ctl->holder[b], &h, 0)) {
                lost += (h & HOLDER_DIRTY) != 0;
                break;
            }
        }
    }
    if (lost)
        atomic_fetch_add(&ctl->lost_blocks, lost);
    uint32_t expected = id;
    atomic_compare_exchange_strong(&ctl->acquiring, &expected, 0);
    struct shared_slot *slot = slot_of(ctl, id);
    if (slot && owner != 0 && atomic_compare_exchange_strong(&slot->owner, &owner, 0))
        atomic_fetch_add(&ctl->recovered_peers, 1);
    atomic_fetch_add(&ctl->released, 1);
    futex_wake_all(&ctl->released);
}

/* Recovers the attachment `id` if it is dead; returns true then (or when its slot was already freed). */
static bool recover_if_dead(struct shared_control *ctl, uint32_t id)
{
    struct shared_slot *slot = slot_of(ctl, id);
    if (!slot)
        return false;
    uint64_t owner = atomic_load(&slot->owner);
    if ((uint32_t)owner != id) {
        /* The slot was freed (or reused) after its holder died: only the words it left behind remain. */
        recover(ctl, id, 0);
        return true;
    }
    if (!owner_dead(owner, atomic_load(&slot->start_time)))
        return false;
    recover(ctl, id, owner);
    return true;
}

/* Asks the holder of `block` to give it back; returns false if the block is not held by another attachment. */
static bool request_block(struct hmm4j_shared *s, uint64_t block)
{
    struct shared_control *ctl = s->ctl;
    uint32_t h = atomic_load(&ctl->holder[block]);
    while (true) {
        uint32_t id = h & HOLDER_ID_MASK;
        if (id == 0 || id == s->id)
            return false;
        if (h & HOLDER_WANTED)
            break;
        if (atomic_compare_exchange_weak(&ctl->holder[block], &h, h | HOLDER_WANTED))
            break;
    }
    struct shared_slot *slot = slot_of(ctl, h & HOLDER_ID_MASK);
    if (slot)
        ring(slot);
    return true;
}

bool hmm4j_shared_fenced_locked(struct hmm4j_region *r, uint64_t block)
{
    struct hmm4j_shared *s = r->shared;
    uint32_t id = atomic_load(&s->ctl->holder[block]) & HOLDER_ID_MASK;
    if (id != 0 && id != s->id)
        return true;
    /* Given back: the usual path restores the protection the local state says. */
    s->fenced[block] = 0;
    return false;
}

int hmm4j_shared_wait_for_block(struct hmm4j_region *r, uint64_t block)
{
    struct hmm4j_shared *s = r->shared;
    struct shared_control *ctl = s->ctl;
    uint64_t deadline = deadline_after(atomic_load(&timeout_ms));
    while (true) {
        uint32_t seen = atomic_load(&ctl->released);
        if (!request_block(s, block))
            return 0;
        uint32_t id = atomic_load(&ctl->holder[block]) & HOLDER_ID_MASK;
        if (id != 0 && id != s->id && recover_if_dead(ctl, id))
            continue;
        uint64_t now = hmm4j_now_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        uint64_t left_ms = (deadline - now) / 1000000 + 1;
        futex_wait_ms(&ctl->released, seen, left_ms < POLL_MS ? left_ms : POLL_MS);
    }
}

/* Fences blocks held by others and unfences the rest (region lock held). Returns 0 or a protection error. */
static int apply_holders_locked(struct hmm4j_region *r)
{
    struct hmm4j_shared *s = r->shared;
    int result = 0;
    for (uint64_t b = 0; b < r->nblocks; b++) {
        uint32_t id = atomic_load(&s->ctl->holder[b]) & HOLDER_ID_MASK;
        bool other = id != 0 && id != s->id;
        if (other == (s->fenced[b] != 0))
            continue;
        uint8_t state = other ? HMM4J_BLOCK_DEVICE : atomic_load_explicit(&r->state[b], memory_order_relaxed);
        int rc = hmm4j_region_protect_locked(r, b, 1, state);
        if (rc == 0)
            s->fenced[b] = other;
        else if (result == 0)
            result = rc;
    }
    return result;
}

/* Gives back every block this attachment holds whose local copy is HOST (region lock held). */
static uint64_t release_host_blocks_locked(struct hmm4j_region *r)
{
    struct hmm4j_shared *s = r->shared;
    uint64_t released = 0;
    for (uint64_t b = 0; b < r->nblocks; b++) {
        uint32_t h = atomic_load(&s->ctl->holder[b]);
        if ((h & HOLDER_ID_MASK) != s->id)
            continue;
        if (atomic_load_explicit(&r->state[b], memory_order_relaxed) != HMM4J_BLOCK_HOST)
            continue;
        while ((h & HOLDER_ID_MASK) == s->id && !atomic_compare_exchange_weak(&s->ctl->holder[b], &h, 0))
            ;
        released++;
    }
    return released;
}

static void announce_release(struct shared_control *ctl)
{
    atomic_fetch_add(&ctl->released, 1);
    futex_wake_all(&ctl->released);
}

/* Serves peers' requests: all held blocks come home and are given back when any of them is wanted. */
static void serve_requests(struct hmm4j_region *r)
{
    struct hmm4j_shared *s = r->shared;
    bool wanted = false;
    for (uint64_t b = 0; b < r->nblocks && !wanted; b++) {
        uint32_t h = atomic_load(&s->ctl->holder[b]);
        wanted = (h & HOLDER_ID_MASK) == s->id && (h & HOLDER_WANTED);
    }
    if (!wanted) {
        s->deferred_since = 0;
        return;
    }
    hmm4j_region_lock(r);
    /*
     * A launch that is being placed has handed blocks to its device but not yet enqueued its kernel: giving them
     * back now would drop that kernel's writes. Wait for the enqueue (or the launch's failure), however long;
     * the requester's own wait is the bounded one.
     */
    if (atomic_load(&r->launches_placing) > 0) {
        if (s->deferred_since == 0)
            s->deferred_since = hmm4j_now_ns();
        hmm4j_region_unlock(r);
        sleep_ms(1);
        return;
    }
    s->deferred_since = 0;
    if (r->device && !s->abandoned) {
        hmm4j_region_wait_for_writers(r);
        uint64_t moved = 0;
        /* A block whose copy fails stays held (and DEVICE): the requester retries until its timeout. */
        hmm4j_region_migrate_locked(r, 0, r->nblocks, HMM4J_TO_HOST, HMM4J_INTENT_WRITE, HMM4J_CAUSE_FAULT, &moved);
    }
    uint64_t released = release_host_blocks_locked(r);
    hmm4j_region_unlock(r);
    if (released)
        announce_release(s->ctl);
}

static void *responder_main(void *arg)
{
    struct hmm4j_region *r = arg;
    struct hmm4j_shared *s = r->shared;
    struct shared_control *ctl = s->ctl;
    struct shared_slot *me = &ctl->slots[s->slot];
    while (!atomic_load(&s->stopping)) {
        uint32_t bell = atomic_load(&me->doorbell);
        uint32_t generation = atomic_load(&ctl->generation);
        serve_requests(r);
        hmm4j_region_lock(r);
        int rc = apply_holders_locked(r);
        hmm4j_region_unlock(r);
        /* A block that could not be fenced is not acknowledged: the acquirer times out rather than race. */
        if (rc == 0 && atomic_load(&me->acked) != generation) {
            atomic_store(&me->acked, generation);
            atomic_fetch_add(&ctl->acks, 1);
            futex_wake_all(&ctl->acks);
        }
        /* Deferred requests and hung peers are looked at again without a ring. */
        futex_wait_ms(&me->doorbell, bell, s->deferred_since ? 1 : POLL_MS * 4);
    }
    return NULL;
}

/* Takes the acquire lock; a dead owner's is taken over. */
static int lock_acquiring(struct hmm4j_shared *s, uint64_t deadline)
{
    struct shared_control *ctl = s->ctl;
    uint64_t backoff = 1;
    while (true) {
        uint32_t expected = 0;
        if (atomic_compare_exchange_strong(&ctl->acquiring, &expected, s->id))
            return 0;
        if (recover_if_dead(ctl, expected))
            continue;
        if (hmm4j_now_ns() >= deadline)
            return -ETIMEDOUT;
        sleep_ms(backoff);
        backoff = backoff < 16 ? backoff * 2 : 16;
    }
}

static void unlock_acquiring(struct hmm4j_shared *s)
{
    uint32_t expected = s->id;
    atomic_compare_exchange_strong(&s->ctl->acquiring, &expected, 0);
}

/* Claims blocks [first, first + n); returns 0 with every one held, whether a holder word changed in *changed. */
static int claim(struct hmm4j_shared *s, uint64_t first, uint64_t n, bool write, uint64_t deadline, bool *changed)
{
    struct shared_control *ctl = s->ctl;
    uint32_t mine = s->id | (write ? HOLDER_DIRTY : 0);
    while (true) {
        uint32_t seen = atomic_load(&ctl->released);
        uint32_t waiting_for = 0;
        for (uint64_t b = first; b < first + n; b++) {
            uint32_t h = atomic_load(&ctl->holder[b]);
            while (true) {
                uint32_t id = h & HOLDER_ID_MASK;
                if (id == s->id) {
                    if ((h | mine) == h || atomic_compare_exchange_weak(&ctl->holder[b], &h, h | mine))
                        break;
                    continue;
                }
                if (id == 0) {
                    if (atomic_compare_exchange_weak(&ctl->holder[b], &h, mine)) {
                        *changed = true;
                        break;
                    }
                    continue;
                }
                if (request_block(s, b))
                    waiting_for = id;
                break;
            }
        }
        if (waiting_for == 0)
            return 0;
        if (recover_if_dead(ctl, waiting_for))
            continue;
        if (hmm4j_now_ns() >= deadline)
            return -ETIMEDOUT;
        futex_wait_ms(&ctl->released, seen, POLL_MS);
    }
}

/* Waits until every live peer has applied generation `generation`; dead ones are recovered. */
static int await_acks(struct hmm4j_shared *s, uint32_t generation, uint64_t deadline)
{
    struct shared_control *ctl = s->ctl;
    while (true) {
        uint32_t seen = atomic_load(&ctl->acks);
        bool all = true;
        for (int i = 0; i < SHARED_SLOTS; i++) {
            if (i == s->slot)
                continue;
            struct shared_slot *slot = &ctl->slots[i];
            uint64_t owner = atomic_load(&slot->owner);
            if (owner == 0 || (int32_t)(atomic_load(&slot->acked) - generation) >= 0)
                continue;
            if (recover_if_dead(ctl, (uint32_t)owner))
                continue;
            all = false;
        }
        if (all)
            return 0;
        if (hmm4j_now_ns() >= deadline)
            return -ETIMEDOUT;
        futex_wait_ms(&ctl->acks, seen, POLL_MS);
    }
}

static bool holds_all(struct hmm4j_shared *s, uint64_t first, uint64_t n)
{
    for (uint64_t b = first; b < first + n; b++)
        if ((atomic_load(&s->ctl->holder[b]) & HOLDER_ID_MASK) != s->id)
            return false;
    return true;
}

int hmm4j_shared_lock_for_device(struct hmm4j_region *r, uint64_t first, uint64_t n, int intent)
{
    struct hmm4j_shared *s = r->shared;
    uint64_t deadline = deadline_after(atomic_load(&timeout_ms));
    while (true) {
        int rc = lock_acquiring(s, deadline);
        if (rc != 0)
            return rc;
        bool changed = false;
        rc = claim(s, first, n, (intent & HMM4J_INTENT_WRITE) != 0, deadline, &changed);
        if (rc == 0 && (changed || s->fence_pending)) {
            uint32_t generation = atomic_fetch_add(&s->ctl->generation, 1) + 1;
            for (int i = 0; i < SHARED_SLOTS; i++)
                if (i != s->slot && atomic_load(&s->ctl->slots[i].owner) != 0)
                    ring(&s->ctl->slots[i]);
            rc = await_acks(s, generation, deadline);
            s->fence_pending = rc != 0;
        } else if (changed) {
            s->fence_pending = true;
        }
        unlock_acquiring(s);
        if (rc != 0)
            return rc;
        hmm4j_region_lock(r);
        if (s->abandoned) {
            hmm4j_region_unlock(r);
            return -EINVAL;
        }
        if (holds_all(s, first, n))
            return 0;
        /* The responder gave blocks back to a peer in between: claim them again. */
        hmm4j_region_unlock(r);
        if (hmm4j_now_ns() >= deadline)
            return -ETIMEDOUT;
    }
}

void hmm4j_shared_release_locked(struct hmm4j_region *r)
{
    if (release_host_blocks_locked(r))
        announce_release(r->shared->ctl);
}

static bool valid_name(const char *name)
{
    size_t len = strnlen(name, SHARED_NAME_MAX + 1);
    if (len == 0 || len > SHARED_NAME_MAX || name[0] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

static int path_of(const char *name, char *path, size_t size)
{
    if (!name || !valid_name(name))
        return -EINVAL;
    size_t prefix = strlen("/dev/shm/hmm4j-");
    size_t len = strlen(name);
    if (prefix + len + 1 > size)
        return -EINVAL;
    memcpy(path, "/dev/shm/hmm4j-", prefix);
    memcpy(path + prefix, name, len + 1);
    return 0;
}

static uint64_t control_bytes_for(uint64_t nblocks, uint64_t page)
{
    uint64_t bytes = sizeof(struct shared_control) + nblocks * sizeof(uint32_t);
    return (bytes + page - 1) / page * page;
}

/* Creates and initialises the object; the magic is written last, so an opener never sees half a header. */
static int create_object(const char *path, uint64_t bytes, uint32_t element_size, uint64_t block_size,
                         struct shared_control **out_ctl)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    int shift = __builtin_ctzll(block_size);
    uint64_t nblocks = (bytes + block_size - 1) >> shift;
    uint64_t control = control_bytes_for(nblocks, page);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    int rc;
    if (ftruncate(fd, (off_t)(control + (nblocks << shift))) != 0) {
        rc = -errno;
        goto out_unlink;
    }
    struct shared_control *ctl = mmap(NULL, control, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ctl == MAP_FAILED) {
        rc = -errno;
        goto out_unlink;
    }
    ctl->version = SHARED_VERSION;
    ctl->element_size = element_size;
    ctl->bytes = bytes;
    ctl->block_size = block_size;
    ctl->nblocks = nblocks;
    ctl->control_bytes = control;
    atomic_store(&ctl->next_epoch, 1);
    atomic_store_explicit(&ctl->magic, SHARED_MAGIC, memory_order_release);
    *out_ctl = ctl;
    return fd;

out_unlink:
    unlink(path);
    close(fd);
    return rc;
}

/* Opens an existing object and maps its control area after checking the header. */
static int open_object(const char *path, struct shared_control **out_ctl)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -errno;
    int rc = -EPROTO;
    struct stat st;
    uint64_t deadline = deadline_after(OPEN_WAIT_MS);
    struct shared_control *head = MAP_FAILED;
    /* The creator truncates, then writes the header: wait a moment for a fresh object. */
    while (true) {
        if (fstat(fd, &st) != 0) {
            rc = -errno;
            goto out_close;
        }
        if ((uint64_t)st.st_size >= page) {
            if (head == MAP_FAILED)
                head = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
            if (head == MAP_FAILED) {
                rc = -errno;
                goto out_close;
            }
            if (atomic_load_explicit(&head->magic, memory_order_acquire) == SHARED_MAGIC)
                break;
        }
        if (hmm4j_now_ns() >= deadline)
            goto out_unmap_head;
        sleep_ms(5);
    }
    uint64_t bytes = head->bytes, block_size = head->block_size, nblocks = head->nblocks;
    uint64_t control = head->control_bytes;
    if (head->version != SHARED_VERSION || block_size < page || (block_size & (block_size - 1)) != 0 ||
        bytes == 0 || bytes > (UINT64_MAX >> 2) || nblocks != (bytes + block_size - 1) / block_size ||
        control != control_bytes_for(nblocks, page) || (uint64_t)st.st_size < control + nblocks * block_size)
        goto out_unmap_head;
    munmap(head, page);
    struct shared_control *ctl = mmap(NULL, control, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ctl == MAP_FAILED) {
        rc = -errno;
        goto out_close;
    }
    *out_ctl = ctl;
    return fd;

out_unmap_head:
    if (head != MAP_FAILED)
        munmap(head, page);
out_close:
    close(fd);
    return rc;
}

/* Takes a free slot (or a dead attachment's, recovered first). */
static int claim_slot(struct hmm4j_shared *s)
{
    struct shared_control *ctl = s->ctl;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < SHARED_SLOTS; i++) {
            struct shared_slot *slot = &ctl->slots[i];
            uint64_t owner = atomic_load(&slot->owner);
            if (owner != 0) {
                if (pass == 0 || !owner_dead(owner, atomic_load(&slot->start_time)))
                    continue;
                recover(ctl, (uint32_t)owner, owner);
                owner = 0;
            }
            uint32_t epoch = atomic_fetch_add(&ctl->next_epoch, 1) & 0x3fffffu;
            uint32_t id = (epoch << 8) | (uint32_t)(i + 1);
            if (!atomic_compare_exchange_strong(&slot->owner, &owner, ((uint64_t)(uint32_t)getpid() << 32) | id))
                continue;
            /* Nothing is acknowledged before this attachment has looked at the holders (see the create). */
            atomic_store(&slot->acked, atomic_load(&ctl->generation) - 1);
            atomic_store(&slot->start_time, own_start_time());
            s->id = id;
            s->slot = i;
            return 0;
        }
    }
    return -EUSERS;
}

static void free_slot(struct hmm4j_shared *s)
{
    struct shared_slot *slot = &s->ctl->slots[s->slot];
    uint64_t owner = atomic_load(&slot->owner);
    if ((uint32_t)owner == s->id)
        atomic_compare_exchange_strong(&slot->owner, &owner, 0);
}

static int start_responder(struct hmm4j_region *r)
{
    /* The thread takes no signals: the JVM's (SIGQUIT, its suspend signals) must go to the JVM's threads. */
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    int rc = pthread_create(&r->shared->responder, NULL, responder_main, r);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (rc != 0)
        return -rc;
    r->shared->responder_started = true;
    return 0;
}

HMM4J_EXPORT int hmm4j_region_create_shared(const char *name, uint64_t size, uint32_t element_size,
                                            uint64_t block_size, int32_t create, struct hmm4j_stats *stats,
                                            struct hmm4j_region **out)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    char path[256];
    if (!out || path_of(name, path, sizeof path) != 0)
        return -EINVAL;
    if (create && (size == 0 || size > (UINT64_MAX >> 2) || element_size == 0 || size % element_size != 0 ||
                   block_size < page || (block_size & (block_size - 1)) != 0))
        return -EINVAL;
    struct shared_control *ctl = NULL;
    int fd = create ? create_object(path, size, element_size, block_size, &ctl) : open_object(path, &ctl);
    if (fd < 0)
        return fd;
    int rc;
    struct hmm4j_region *r = calloc(1, sizeof *r);
    struct hmm4j_shared *s = calloc(1, sizeof *s);
    if (!r || !s) {
        rc = -ENOMEM;
        goto out_free;
    }
    s->ctl = ctl;
    s->control_bytes = ctl->control_bytes;
    r->shared = s;
    r->memfd = fd;
    r->block_size = ctl->block_size;
    r->block_shift = __builtin_ctzll(ctl->block_size);
    r->nblocks = ctl->nblocks;
    r->size = r->nblocks << r->block_shift;
    /* The pages are every attachment's data: never punched, like a file's (DESIGN.md invariant 4). */
    r->file_bytes = r->size;
    r->stats = stats;
    r->last_fault_block = UINT64_MAX;
    r->device_base = UINT64_MAX;
    r->release_host = false;
    r->state = calloc(r->nblocks, 1);
    s->fenced = calloc(r->nblocks, 1);
    if (!r->state || !s->fenced) {
        rc = -ENOMEM;
        goto out_free;
    }
    r->user = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)s->control_bytes);
    if (r->user == MAP_FAILED) {
        rc = -errno;
        goto out_free;
    }
    r->engine = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)s->control_bytes);
    if (r->engine == MAP_FAILED) {
        rc = -errno;
        goto out_unmap_user;
    }
    rc = claim_slot(s);
    if (rc != 0)
        goto out_unmap_engine;
    /* Blocks peers hold now are fenced before anyone can touch the user view (no lock: nobody else can yet). */
    uint32_t generation = atomic_load(&ctl->generation);
    rc = apply_holders_locked(r);
    if (rc != 0)
        goto out_free_slot;
    atomic_store(&ctl->slots[s->slot].acked, generation);
    rc = hmm4j_registry_add(r);
    if (rc != 0)
        goto out_free_slot;
    rc = start_responder(r);
    if (rc != 0)
        goto out_registry_remove;
    *out = r;
    return 0;

out_registry_remove:
    hmm4j_registry_remove(r);
out_free_slot:
    free_slot(s);
out_unmap_engine:
    munmap(r->engine, r->size);
out_unmap_user:
    munmap(r->user, r->size);
out_free:
    if (create)
        unlink(path);
    if (r)
        free((void *)r->state);
    if (s)
        free(s->fenced);
    free(s);
    free(r);
    munmap(ctl, ctl->control_bytes);
    close(fd);
    return rc;
}

/*
 * Gives back every held block, whatever its local state (region lock held). A block still DEVICE was not brought
 * home: its newest bytes are lost, counted for everyone; peers see the last host copy.
 */
static void give_up_locked(struct hmm4j_region *r)
{
    struct hmm4j_shared *s = r->shared;
    uint64_t lost = 0, released = 0;
    for (uint64_t b = 0; b < r->nblocks; b++) {
        uint32_t h = atomic_load(&s->ctl->holder[b]);
        if ((h & HOLDER_ID_MASK) != s->id)
            continue;
        bool device_only = atomic_load_explicit(&r->state[b], memory_order_relaxed) == HMM4J_BLOCK_DEVICE;
        while ((h & HOLDER_ID_MASK) == s->id && !atomic_compare_exchange_weak(&s->ctl->holder[b], &h, 0))
            ;
        lost += device_only && (h & HOLDER_DIRTY);
        released++;
    }
    if (lost)
        atomic_fetch_add(&s->ctl->lost_blocks, lost);
    if (released)
        announce_release(s->ctl);
}

HMM4J_EXPORT int hmm4j_region_shared_abandon(struct hmm4j_region *r)
{
    if (!r || !r->shared)
        return -EINVAL;
    hmm4j_region_lock(r);
    give_up_locked(r);
    /* Nothing is served from this device any more: its memory may be freed and reused right after. */
    r->shared->abandoned = true;
    hmm4j_region_unlock(r);
    return 0;
}

void hmm4j_shared_detach(struct hmm4j_region *r)
{
    struct hmm4j_shared *s = r->shared;
    if (s->responder_started) {
        atomic_store(&s->stopping, true);
        ring(&s->ctl->slots[s->slot]);
        pthread_join(s->responder, NULL);
    }
    hmm4j_region_lock(r);
    give_up_locked(r);
    hmm4j_region_unlock(r);
    unlock_acquiring(s);
    free_slot(s);
    announce_release(s->ctl);
    munmap(s->ctl, s->control_bytes);
    free(s->fenced);
    free(s);
    r->shared = NULL;
}

HMM4J_EXPORT int hmm4j_shared_unlink(const char *name)
{
    char path[256];
    if (path_of(name, path, sizeof path) != 0)
        return -EINVAL;
    return unlink(path) == 0 ? 0 : -errno;
}

HMM4J_EXPORT int64_t hmm4j_region_shared_info(const struct hmm4j_region *r, int32_t what)
{
    if (!r || !r->shared)
        return -EINVAL;
    struct shared_control *ctl = r->shared->ctl;
    switch (what) {
    case HMM4J_SHARED_BYTES:
        return (int64_t)ctl->bytes;
    case HMM4J_SHARED_ELEMENT_SIZE:
        return ctl->element_size;
    case HMM4J_SHARED_LOST_BLOCKS:
        return (int64_t)atomic_load(&ctl->lost_blocks);
    case HMM4J_SHARED_RECOVERED_PEERS:
        return (int64_t)atomic_load(&ctl->recovered_peers);
    case HMM4J_SHARED_ATTACHMENTS: {
        int64_t n = 0;
        for (int i = 0; i < SHARED_SLOTS; i++)
            n += atomic_load(&ctl->slots[i].owner) != 0;
        return n;
    }
    default:
        return -EINVAL;
    }
}

HMM4J_EXPORT void hmm4j_shared_set_timeout(uint32_t milliseconds) { atomic_store(&timeout_ms, milliseconds); }
