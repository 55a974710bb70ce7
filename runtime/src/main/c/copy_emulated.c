/*
 * The emulated backend's copy table: device memory is a separate host allocation.
 *
 * With overlap on, the device has two in-order engines, each a native worker thread started on first use: a copy
 * engine for uploads enqueued without waiting (HMM4J_INTENT_ASYNC) and a compute engine for the built-in kernels (C
 * bodies below). A kernel waits for every upload enqueued before it, so the uploads of launch k+1 run while kernel k
 * computes. Their events are native futex words: the fault handler may wait for them, since what completes them
 * never needs the JVM (DESIGN.md invariant 2). With overlap off nothing is queued: uploads and kernels run in the
 * calling thread, the same work serialized.
 */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct emu_event {
    struct emu_event *prev, *next; /* the device's live events (device lock): freed with it if never released */
    atomic_int refs;               /* the caller's, plus the queued operation's until it completes */
    _Atomic uint32_t done;         /* futex word: 0 until result is stored */
    int result;
};

/* The uploads enqueued between two kernels; the second fails where one of them failed (it read unknown bytes). */
struct emu_epoch {
    atomic_int refs;
    atomic_int error;
};

enum { OP_COPY, OP_KERNEL };

struct emu_op {
    struct emu_op *next;
    int kind;
    struct emu_event *event;
    struct emu_epoch *epoch;
    /* copy */
    uint64_t addr;
    const void *host;
    size_t bytes;
    int64_t fail_after; /* an armed injection taken at enqueue: bytes to copy before failing, or -1 */
    /* kernel */
    uint64_t copy_ticket; /* uploads to wait for */
    int32_t kernel;
    uint64_t args[HMM4J_EMULATED_MAX_ARGS];
};

struct emu_queue {
    struct emu_op *head, *tail; /* device lock */
    pthread_cond_t wake;
    pthread_t thread;
    bool started;
    _Atomic uint64_t enqueued;  /* tickets handed out (device lock) */
    _Atomic uint64_t completed; /* operations finished, in ticket order */
    _Atomic uint32_t progress;  /* futex word bumped with completed */
};

struct emulated_device {
    struct hmm4j_device base;
    uint64_t latency_ns;
    uint64_t bytes_per_second;
    uint64_t kernel_bytes_per_second;
    /* device to device from another emulated device (hmm4j_device_emulated_set_peer); default: the bus's price */
    _Atomic uint64_t peer_latency_ns;
    _Atomic uint64_t peer_bytes_per_second;
    bool overlap;
    pthread_mutex_t lock;
    bool stopping; /* device lock: the owner let go, queued work fails and nothing new is taken */
    struct emu_queue copies;
    struct emu_queue kernels;
    struct emu_epoch *epoch; /* device lock: the epoch uploads enqueued now belong to */
    struct emu_event events; /* list head */
};

static struct emulated_device *emu_of(struct hmm4j_device *dev) { return (struct emulated_device *)dev; }
static void emulated_destroy(struct hmm4j_device *dev);

static void futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word) { syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0); }

/*
 * Imitates a bus or a compute unit: returns once `cost` has passed since `start_ns`. Sleeps through most of a long
 * wait, so that on a small machine a modelled copy does not take the core another engine computes on, and spins the
 * last stretch, where a sleep would overshoot. Async-signal-safe.
 */
static void wait_until(uint64_t start_ns, uint64_t cost)
{
    const uint64_t spin_ns = 100000;
    uint64_t elapsed = hmm4j_now_ns() - start_ns;
    if (cost > elapsed + 2 * spin_ns) {
        uint64_t sleep_ns = cost - elapsed - spin_ns;
        struct timespec ts = {.tv_sec = (time_t)(sleep_ns / 1000000000u), .tv_nsec = (long)(sleep_ns % 1000000000u)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    while (hmm4j_now_ns() - start_ns < cost)
        __builtin_ia32_pause();
}

static uint64_t cost_of(uint64_t latency_ns, uint64_t bytes_per_second, size_t bytes)
{
    uint64_t cost = latency_ns;
    if (bytes_per_second)
        cost += (uint64_t)((double)bytes * 1e9 / (double)bytes_per_second);
    return cost;
}

static void wait_for_bus(const struct emulated_device *emu, uint64_t start_ns, size_t bytes)
{
    wait_until(start_ns, cost_of(emu->latency_ns, emu->bytes_per_second, bytes));
}

static void wait_completed(struct emu_queue *q, uint64_t ticket)
{
    while (true) {
        uint32_t seen = atomic_load(&q->progress);
        if (atomic_load(&q->completed) >= ticket)
            return;
        futex_wait(&q->progress, seen);
    }
}

/* ---- events ---- */

static struct emu_event *event_new(struct emulated_device *emu)
{
    struct emu_event *ev = calloc(1, sizeof *ev);
    if (!ev)
        return NULL;
    atomic_store(&ev->refs, 1);
    pthread_mutex_lock(&emu->lock);
    ev->next = emu->events.next;
    ev->prev = &emu->events;
    emu->events.next->prev = ev;
    emu->events.next = ev;
    pthread_mutex_unlock(&emu->lock);
    return ev;
}

static void event_put(struct emulated_device *emu, struct emu_event *ev)
{
    if (atomic_fetch_sub(&ev->refs, 1) != 1)
        return;
    pthread_mutex_lock(&emu->lock);
    ev->prev->next = ev->next;
    ev->next->prev = ev->prev;
    pthread_mutex_unlock(&emu->lock);
    free(ev);
}

static void event_signal(struct emu_event *ev, int result)
{
    ev->result = result;
    atomic_store(&ev->done, 1);
    futex_wake(&ev->done);
}

static int emulated_wait_event(struct hmm4j_device *dev, uint64_t event)
{
    (void)dev;
    struct emu_event *ev = (struct emu_event *)(uintptr_t)event;
    while (!atomic_load(&ev->done))
        futex_wait(&ev->done, 0);
    return ev->result;
}

static void emulated_release_event(struct hmm4j_device *dev, uint64_t event)
{
    event_put(emu_of(dev), (struct emu_event *)(uintptr_t)event);
}

static void epoch_put(struct emu_epoch *epoch)
{
    if (epoch && atomic_fetch_sub(&epoch->refs, 1) == 1)
        free(epoch);
}

/* ---- the built-in kernels (BuiltinSignature's parameters; float results as Java's, sums in double) ---- */

static float as_float(uint64_t bits)
{
    uint32_t low = (uint32_t)bits;
    float f;
    memcpy(&f, &low, sizeof f);
    return f;
}

static float *floats(uint64_t addr) { return (float *)(uintptr_t)addr; }

/*
 * The element-wise kernels a vector at a time: GCC at -O2 leaves their loops scalar (it would have to version them
 * for aliasing), and a kernel's CPU time is taken from the copies that run beside it. Lane by lane the same float
 * operations as the scalar loops (no contraction into fused multiply-adds under -std=c11), so the same results.
 * Loads and stores go through memcpy: the buffers need only float alignment. 16 bytes: SSE, which every x86-64 has.
 */
typedef float floatv __attribute__((vector_size(16)));
#define FLOATV_LANES (sizeof(floatv) / sizeof(float))

static floatv splat(float f) { return (floatv){f, f, f, f}; }

static floatv load_floatv(const float *p)
{
    floatv v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void store_floatv(float *p, floatv v) { memcpy(p, &v, sizeof v); }

/* Runs `kernel` over args; returns the bytes it read and wrote (for the compute model), or -1 for an unknown id. */
static int64_t run_kernel(int32_t kernel, const uint64_t *a)
{
    switch (kernel) {
    case HMM4J_EMULATED_FILL: {
        float *out = floats(a[0]), value = as_float(a[1]);
        uint64_t n = a[2], i = 0;
        floatv v = splat(value);
        for (; i + FLOATV_LANES <= n; i += FLOATV_LANES)
            store_floatv(out + i, v);
        for (; i < n; i++)
            out[i] = value;
        return (int64_t)(4 * n);
    }
    case HMM4J_EMULATED_SCALE: {
        float *x = floats(a[0]), factor = as_float(a[1]);
        uint64_t n = a[2], i = 0;
        floatv f = splat(factor);
        for (; i + FLOATV_LANES <= n; i += FLOATV_LANES)
            store_floatv(x + i, load_floatv(x + i) * f);
        for (; i < n; i++)
            x[i] = x[i] * factor;
        return (int64_t)(8 * n);
    }
    case HMM4J_EMULATED_AXPY: {
        const float *x = floats(a[0]);
        float *y = floats(a[1]), alpha = as_float(a[2]);
        uint64_t n = a[3], i = 0;
        /*
         * y a few floats past x reads, element by element, what the previous elements wrote: a vector would read
         * them before they are written. Every other overlap (none, the same buffer, y before x, y far past x) gives
         * the element-by-element result either way.
         */
        uint64_t gap = (uint64_t)(uintptr_t)y - (uint64_t)(uintptr_t)x;
        if (gap == 0 || gap >= sizeof(floatv)) {
            floatv av = splat(alpha);
            for (; i + FLOATV_LANES <= n; i += FLOATV_LANES)
                store_floatv(y + i, av * load_floatv(x + i) + load_floatv(y + i));
        }
        for (; i < n; i++)
            y[i] = alpha * x[i] + y[i];
        return (int64_t)(12 * n);
    }
    case HMM4J_EMULATED_DOT: {
        const float *x = floats(a[0]), *y = floats(a[1]);
        uint64_t n = a[3];
        double sum = 0;
        for (uint64_t i = 0; i < n; i++)
            sum += (double)x[i] * y[i];
        floats(a[2])[0] = (float)sum;
        return (int64_t)(8 * n + 4);
    }
    case HMM4J_EMULATED_SUM: {
        const float *x = floats(a[0]);
        uint64_t n = a[2];
        double sum = 0;
        for (uint64_t i = 0; i < n; i++)
            sum += x[i];
        floats(a[1])[0] = (float)sum;
        return (int64_t)(4 * n + 4);
    }
    case HMM4J_EMULATED_STENCIL_2D: {
        const float *in = floats(a[0]);
        float *out = floats(a[1]);
        int64_t width = (int32_t)a[2], height = (int32_t)a[3];
        float alpha = as_float(a[4]);
        for (int64_t y = 0; y < height; y++) {
            for (int64_t x = 0; x < width; x++) {
                int64_t i = y * width + x;
                float c = in[i];
                if (x == 0 || y == 0 || x == width - 1 || y == height - 1) {
                    out[i] = c;
                } else {
                    float around = in[i - 1] + in[i + 1] + in[i - width] + in[i + width];
                    out[i] = c + alpha * (around - 4 * c);
                }
            }
        }
        return 8 * width * height;
    }
    default:
        return -1;
    }
}

/*
 * Zero-copy placement (region_zerocopy.c): the bytes a kernel reads and writes in host memory mapped for the device
 * cross the bus, at its bandwidth; arguments are {index, bytes} as run_kernel touches them.
 */
static uint64_t bus_bytes(struct emulated_device *emu, int32_t kernel, const uint64_t *a)
{
    struct {
        int arg;
        uint64_t bytes;
    } use[3] = {{-1, 0}, {-1, 0}, {-1, 0}};
    uint64_t grid = 4 * (uint64_t)(uint32_t)a[2] * (uint64_t)(uint32_t)a[3];
    switch (kernel) {
    case HMM4J_EMULATED_FILL: use[0].arg = 0, use[0].bytes = 4 * a[2]; break;
    case HMM4J_EMULATED_SCALE: use[0].arg = 0, use[0].bytes = 8 * a[2]; break;
    case HMM4J_EMULATED_AXPY: use[0].arg = 0, use[0].bytes = 4 * a[3], use[1].arg = 1, use[1].bytes = 8 * a[3]; break;
    case HMM4J_EMULATED_DOT:
        use[0].arg = 0, use[0].bytes = 4 * a[3], use[1].arg = 1, use[1].bytes = 4 * a[3], use[2].arg = 2, use[2].bytes = 4;
        break;
    case HMM4J_EMULATED_SUM: use[0].arg = 0, use[0].bytes = 4 * a[2], use[1].arg = 1, use[1].bytes = 4; break;
    case HMM4J_EMULATED_STENCIL_2D: use[0].arg = 0, use[0].bytes = grid, use[1].arg = 1, use[1].bytes = grid; break;
    default: return 0;
    }
    uint64_t total = 0;
    for (int i = 0; i < 3; i++)
        if (use[i].arg >= 0)
            total += hmm4j_zero_copy_mapped_bytes(&emu->base, a[use[i].arg], use[i].bytes);
    return total;
}

static int run_kernel_timed(struct emulated_device *emu, int32_t kernel, const uint64_t *args)
{
    uint64_t start = hmm4j_now_ns();
    uint64_t bus = emu->bytes_per_second ? bus_bytes(emu, kernel, args) : 0;
    int64_t bytes = run_kernel(kernel, args);
    if (bytes < 0)
        return -EINVAL;
    /* Device memory and the bus are read at once: the slower of the two bounds the kernel. */
    uint64_t compute = emu->kernel_bytes_per_second ? cost_of(0, emu->kernel_bytes_per_second, (size_t)bytes) : 0;
    uint64_t transfer = bus ? cost_of(0, emu->bytes_per_second, (size_t)bus) : 0;
    if (compute || transfer)
        wait_until(start, compute > transfer ? compute : transfer);
    return 0;
}

HMM4J_EXPORT int hmm4j_device_emulated_bus_wait(struct hmm4j_device *dev, uint64_t start_ns, uint64_t bytes)
{
    if (!dev || dev->ops->destroy != emulated_destroy)
        return -EINVAL;
    struct emulated_device *emu = emu_of(dev);
    if (emu->bytes_per_second && bytes)
        wait_until(start_ns, cost_of(0, emu->bytes_per_second, (size_t)bytes));
    return 0;
}

/* ---- the two engines ---- */

/* paced_until NULL: waits for the bus before it returns; else leaves that to the caller (to_device_unpaced). */
static int copy_now(struct emulated_device *emu, uint64_t addr, const void *host, size_t bytes, int64_t fail_after,
                    uint64_t *paced_until)
{
    uint64_t start = hmm4j_now_ns();
    if (fail_after >= 0) {
        memcpy((void *)(uintptr_t)addr, host, (size_t)fail_after);
        atomic_store(&emu->base.last_error, EIO);
        return -EIO;
    }
    memcpy((void *)(uintptr_t)addr, host, bytes);
    if (paced_until)
        *paced_until = start + cost_of(emu->latency_ns, emu->bytes_per_second, bytes);
    else
        wait_for_bus(emu, start, bytes);
    return 0;
}

static int run_op(struct emulated_device *emu, struct emu_op *op)
{
    if (op->kind == OP_COPY) {
        int rc = copy_now(emu, op->addr, op->host, op->bytes, op->fail_after, NULL);
        if (rc != 0) {
            int expected = 0;
            atomic_compare_exchange_strong(&op->epoch->error, &expected, rc);
        }
        return rc;
    }
    wait_completed(&emu->copies, op->copy_ticket);
    int rc = atomic_load(&op->epoch->error);
    return rc != 0 ? rc : run_kernel_timed(emu, op->kernel, op->args);
}

struct worker_start {
    struct emulated_device *emu;
    struct emu_queue *queue;
};

static void *worker(void *arg)
{
    struct emulated_device *emu = ((struct worker_start *)arg)->emu;
    struct emu_queue *q = ((struct worker_start *)arg)->queue;
    free(arg);
    pthread_mutex_lock(&emu->lock);
    while (true) {
        while (!q->head && !emu->stopping)
            pthread_cond_wait(&q->wake, &emu->lock);
        struct emu_op *op = q->head;
        if (!op)
            break;
        q->head = op->next;
        if (!q->head)
            q->tail = NULL;
        bool stopping = emu->stopping;
        pthread_mutex_unlock(&emu->lock);
        /* Work queued when the owner let go fails in order: what it would touch is about to be freed. */
        int rc = stopping ? -EIO : run_op(emu, op);
        if (stopping) {
            atomic_store(&emu->base.last_error, ENODEV);
            if (op->kind == OP_COPY) {
                int expected = 0;
                atomic_compare_exchange_strong(&op->epoch->error, &expected, rc);
            }
        }
        event_signal(op->event, rc);
        event_put(emu, op->event);
        epoch_put(op->epoch);
        free(op);
        atomic_fetch_add(&q->completed, 1);
        atomic_fetch_add(&q->progress, 1);
        futex_wake(&q->progress);
        pthread_mutex_lock(&emu->lock);
    }
    pthread_mutex_unlock(&emu->lock);
    return NULL;
}

/* Device lock held. The worker takes no signals: the JVM's are for its own threads. */
static int start_worker_locked(struct emulated_device *emu, struct emu_queue *q)
{
    if (q->started)
        return 0;
    struct worker_start *start = malloc(sizeof *start);
    if (!start)
        return -ENOMEM;
    start->emu = emu;
    start->queue = q;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&q->thread, NULL, worker, start);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        free(start);
        return -rc;
    }
    q->started = true;
    return 0;
}

/*
 * Device lock held. A kernel takes the uploads enqueued so far: it runs after the copy ticket returned and fails
 * with the error of any of them in the epoch returned (the device's reference passes to the caller).
 */
static int close_epoch_locked(struct emulated_device *emu, struct emu_epoch **epoch, uint64_t *copy_ticket)
{
    struct emu_epoch *next = calloc(1, sizeof *next);
    if (!next)
        return -ENOMEM;
    atomic_store(&next->refs, 1);
    *epoch = emu->epoch;
    emu->epoch = next;
    *copy_ticket = atomic_load(&emu->copies.enqueued);
    return 0;
}

/* For a kernel run in the calling thread: waits for the uploads enqueued so far; their first error, or 0. */
static int await_uploads(struct emulated_device *emu)
{
    struct emu_epoch *epoch;
    uint64_t ticket;
    pthread_mutex_lock(&emu->lock);
    int rc = close_epoch_locked(emu, &epoch, &ticket);
    pthread_mutex_unlock(&emu->lock);
    if (rc != 0)
        return rc;
    wait_completed(&emu->copies, ticket);
    rc = atomic_load(&epoch->error);
    epoch_put(epoch);
    return rc;
}

/* Queues `op` (its event and epoch filled in); the caller's event reference stays the caller's. */
static int enqueue(struct emulated_device *emu, struct emu_queue *q, struct emu_op *op)
{
    pthread_mutex_lock(&emu->lock);
    int rc = emu->stopping ? -EIO : start_worker_locked(emu, q);
    if (rc != 0) {
        pthread_mutex_unlock(&emu->lock);
        if (rc == -EIO)
            atomic_store(&emu->base.last_error, ENODEV);
        return rc;
    }
    if (op->kind == OP_COPY) {
        atomic_fetch_add(&emu->epoch->refs, 1);
        op->epoch = emu->epoch;
    } else {
        rc = close_epoch_locked(emu, &op->epoch, &op->copy_ticket);
        if (rc != 0) {
            pthread_mutex_unlock(&emu->lock);
            return rc;
        }
    }
    atomic_fetch_add(&op->event->refs, 1);
    atomic_fetch_add(&q->enqueued, 1);
    op->next = NULL;
    if (q->tail)
        q->tail->next = op;
    else
        q->head = op;
    q->tail = op;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&emu->lock);
    return 0;
}

/* Creates the op's event and queues it; on success *event is the caller's reference. */
static int submit(struct emulated_device *emu, struct emu_queue *q, struct emu_op *op, uint64_t *event)
{
    struct emu_event *ev = event_new(emu);
    if (!ev) {
        free(op);
        return -ENOMEM;
    }
    op->event = ev;
    /* Once queued, the op is the worker's: it may be done and freed before enqueue returns. */
    int rc = enqueue(emu, q, op);
    if (rc != 0) {
        event_put(emu, ev);
        free(op);
        return rc;
    }
    *event = (uint64_t)(uintptr_t)ev;
    return 0;
}

/* Waits until everything queued on both engines so far has finished. Async-signal-safe. */
static void drain(struct emulated_device *emu)
{
    wait_completed(&emu->copies, atomic_load(&emu->copies.enqueued));
    wait_completed(&emu->kernels, atomic_load(&emu->kernels.enqueued));
}

/* ---- the copy table ---- */

static int emulated_to_device(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes, bool pinned)
{
    (void)pinned;
    struct emulated_device *emu = emu_of(dev);
    /* After the queued uploads, as on one in-order copy engine: a later copy of the same bytes lands last. */
    wait_completed(&emu->copies, atomic_load(&emu->copies.enqueued));
    return copy_now(emu, addr, host, bytes, -1, NULL);
}

static int emulated_to_device_unpaced(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes,
                                      uint64_t *paced_until)
{
    struct emulated_device *emu = emu_of(dev);
    wait_completed(&emu->copies, atomic_load(&emu->copies.enqueued));
    return copy_now(emu, addr, host, bytes, -1, paced_until);
}

static int emulated_to_device_async(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes,
                                    bool pinned, uint64_t *event)
{
    (void)pinned;
    struct emulated_device *emu = emu_of(dev);
    struct emu_op *op = calloc(1, sizeof *op);
    if (!op)
        return -ENOMEM;
    op->kind = OP_COPY;
    op->addr = addr;
    op->host = host;
    op->bytes = bytes;
    op->fail_after = hmm4j_device_take_injection(dev, HMM4J_INJECT_COPY_TO_DEVICE, bytes);
    return submit(emu, &emu->copies, op, event);
}

static int emulated_to_host_unpaced(struct hmm4j_device *dev, void *host, uint64_t addr, size_t bytes,
                                    uint64_t *paced_until)
{
    struct emulated_device *emu = emu_of(dev);
    uint64_t start = hmm4j_now_ns();
    memcpy(host, (const void *)(uintptr_t)addr, bytes);
    *paced_until = start + cost_of(emu->latency_ns, emu->bytes_per_second, bytes);
    return 0;
}

/* The caller's half of an unpaced copy: the bus as a plain copy would have waited for it, from where it began. */
HMM4J_EXPORT void hmm4j_device_pace(uint64_t paced_until)
{
    uint64_t now = hmm4j_now_ns();
    if (paced_until > now)
        wait_until(now, paced_until - now);
}

static int emulated_to_host(struct hmm4j_device *dev, void *host, uint64_t addr, size_t bytes, bool pinned)
{
    (void)pinned;
    uint64_t paced_until;
    emulated_to_host_unpaced(dev, host, addr, bytes, &paced_until);
    hmm4j_device_pace(paced_until);
    return 0;
}

/*
 * A direct copy between two allocations, priced by the destination's peer bus. After both devices' queued uploads:
 * one of them may still be filling the source bytes, or about to overwrite the destination's.
 */
static int emulated_peer_copy(struct hmm4j_device *dev, uint64_t dst_addr, struct hmm4j_device *src,
                              uint64_t src_addr, size_t bytes)
{
    struct emulated_device *emu = emu_of(dev), *from = emu_of(src);
    wait_completed(&from->copies, atomic_load(&from->copies.enqueued));
    wait_completed(&emu->copies, atomic_load(&emu->copies.enqueued));
    uint64_t start = hmm4j_now_ns();
    memcpy((void *)(uintptr_t)dst_addr, (const void *)(uintptr_t)src_addr, bytes);
    wait_until(start, cost_of(atomic_load(&emu->peer_latency_ns), atomic_load(&emu->peer_bytes_per_second), bytes));
    return 0;
}

static int emulated_zero(struct hmm4j_device *dev, uint64_t addr, size_t bytes)
{
    (void)dev;
    memset((void *)(uintptr_t)addr, 0, bytes);
    return 0;
}

static int emulated_synchronize(struct hmm4j_device *dev)
{
    drain(emu_of(dev));
    return 0;
}

/* The owner lets go: queued work fails, the workers end; afterwards nothing runs on the device's memory. */
static void emulated_shutdown(struct hmm4j_device *dev)
{
    struct emulated_device *emu = emu_of(dev);
    pthread_mutex_lock(&emu->lock);
    if (emu->stopping) {
        pthread_mutex_unlock(&emu->lock);
        return;
    }
    emu->stopping = true;
    pthread_cond_broadcast(&emu->copies.wake);
    pthread_cond_broadcast(&emu->kernels.wake);
    bool copies = emu->copies.started, kernels = emu->kernels.started;
    pthread_mutex_unlock(&emu->lock);
    if (copies)
        pthread_join(emu->copies.thread, NULL);
    if (kernels)
        pthread_join(emu->kernels.thread, NULL);
}

static void emulated_destroy(struct hmm4j_device *dev)
{
    struct emulated_device *emu = emu_of(dev);
    emulated_shutdown(dev);
    /* Fences of a closed device leave their events to this teardown (fence.c). */
    while (emu->events.next != &emu->events) {
        struct emu_event *ev = emu->events.next;
        emu->events.next = ev->next;
        free(ev);
    }
    epoch_put(emu->epoch);
    pthread_cond_destroy(&emu->copies.wake);
    pthread_cond_destroy(&emu->kernels.wake);
    pthread_mutex_destroy(&emu->lock);
    free(emu);
}

static const struct hmm4j_device_ops emulated_ops = {
    .name = "emulated",
    .to_device = emulated_to_device,
    .to_host = emulated_to_host,
    .zero = emulated_zero,
    .synchronize = emulated_synchronize,
    .destroy = emulated_destroy,
    .peer_copy = emulated_peer_copy,
    .to_device_unpaced = emulated_to_device_unpaced,
    .to_host_unpaced = emulated_to_host_unpaced,
};

static const struct hmm4j_device_ops emulated_overlap_ops = {
    .name = "emulated",
    .to_device = emulated_to_device,
    .to_device_async = emulated_to_device_async,
    .to_host = emulated_to_host,
    .zero = emulated_zero,
    .synchronize = emulated_synchronize,
    .wait_event = emulated_wait_event,
    .release_event = emulated_release_event,
    .shutdown = emulated_shutdown,
    .destroy = emulated_destroy,
    .peer_copy = emulated_peer_copy,
    .to_device_unpaced = emulated_to_device_unpaced,
    .to_host_unpaced = emulated_to_host_unpaced,
    .async_injection = true,
};

HMM4J_EXPORT int hmm4j_device_create_emulated(uint64_t latency_ns, uint64_t bytes_per_second,
                                              struct hmm4j_device **out)
{
    return hmm4j_device_create_emulated_engines(latency_ns, bytes_per_second, 0, 0, out);
}

HMM4J_EXPORT int hmm4j_device_create_emulated_engines(uint64_t latency_ns, uint64_t bytes_per_second,
                                                      uint64_t kernel_bytes_per_second, int32_t overlap,
                                                      struct hmm4j_device **out)
{
    if (!out)
        return -EINVAL;
    struct emulated_device *emu = calloc(1, sizeof *emu);
    if (!emu)
        return -ENOMEM;
    emu->epoch = calloc(1, sizeof *emu->epoch);
    if (!emu->epoch) {
        free(emu);
        return -ENOMEM;
    }
    atomic_store(&emu->epoch->refs, 1);
    pthread_mutex_init(&emu->lock, NULL);
    pthread_cond_init(&emu->copies.wake, NULL);
    pthread_cond_init(&emu->kernels.wake, NULL);
    emu->events.next = emu->events.prev = &emu->events;
    hmm4j_device_init(&emu->base, overlap ? &emulated_overlap_ops : &emulated_ops, emu);
    emu->latency_ns = latency_ns;
    emu->bytes_per_second = bytes_per_second;
    emu->kernel_bytes_per_second = kernel_bytes_per_second;
    atomic_store(&emu->peer_latency_ns, latency_ns);
    atomic_store(&emu->peer_bytes_per_second, bytes_per_second);
    emu->overlap = overlap != 0;
    *out = &emu->base;
    return 0;
}

HMM4J_EXPORT int hmm4j_device_emulated_launch(struct hmm4j_device *dev, int32_t kernel, const uint64_t *args,
                                              int32_t nargs, uint64_t *event)
{
    if (!dev || dev->ops->destroy != emulated_destroy || nargs < 0 || nargs > HMM4J_EMULATED_MAX_ARGS ||
        (nargs > 0 && !args) || kernel < HMM4J_EMULATED_HOST_KERNEL || kernel > HMM4J_EMULATED_STENCIL_2D)
        return -EINVAL;
    if (atomic_load(&dev->closed) || atomic_load(&dev->lost)) {
        atomic_store(&dev->last_error, ENODEV);
        return -EIO;
    }
    struct emulated_device *emu = emu_of(dev);
    if (event)
        *event = 0;
    if (kernel == HMM4J_EMULATED_HOST_KERNEL || !event || !emu->overlap) {
        int rc = await_uploads(emu);
        if (rc == 0 && kernel != HMM4J_EMULATED_HOST_KERNEL)
            rc = run_kernel_timed(emu, kernel, args);
        if (rc != 0 || !event || !emu->overlap)
            return rc;
        struct emu_event *done = event_new(emu);
        if (!done)
            return -ENOMEM;
        event_signal(done, 0);
        *event = (uint64_t)(uintptr_t)done;
        return 0;
    }
    struct emu_op *op = calloc(1, sizeof *op);
    if (!op)
        return -ENOMEM;
    op->kind = OP_KERNEL;
    op->kernel = kernel;
    memcpy(op->args, args, (size_t)nargs * sizeof *args);
    return submit(emu, &emu->kernels, op, event);
}

HMM4J_EXPORT int hmm4j_device_emulated_set_peer(struct hmm4j_device *dev, uint64_t latency_ns, uint64_t bytes_per_second)
{
    if (!dev || dev->ops->destroy != emulated_destroy)
        return -EINVAL;
    atomic_store(&emu_of(dev)->peer_latency_ns, latency_ns);
    atomic_store(&emu_of(dev)->peer_bytes_per_second, bytes_per_second);
    return 0;
}
