/* Engine entry points: handler installation, counters, layout self-description. */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

static struct sigaction previous_segv;
static struct sigaction previous_bus;

/*
 * The other signals LLVM (inside PoCL) takes over during a program build with a non-chaining SA_RESETHAND
 * handler: the JVM's SIGQUIT thread dumps, SIGTERM/SIGINT/SIGHUP shutdown and SIGBUS InternalErrors would first
 * go through it, and each time it runs it unregisters itself, so the next build installs it again, SIGSEGV
 * included. Their actions at engine start are put back the same way as ours.
 */
static const int guarded_signals[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGILL,  SIGTRAP, SIGABRT,
                                      SIGBUS,  SIGUSR2, SIGTERM, SIGXCPU, SIGXFSZ, SIGSYS};
#define GUARDED_COUNT (sizeof guarded_signals / sizeof guarded_signals[0])
static struct sigaction guarded_at_start[GUARDED_COUNT];
static atomic_int handler_installed;
static struct hmm4j_stats global_stats;

HMM4J_EXPORT int hmm4j_abi_version(void) { return HMM4J_ABI_VERSION; }

HMM4J_EXPORT int64_t hmm4j_engine_page_size(void) { return sysconf(_SC_PAGESIZE); }

HMM4J_EXPORT struct hmm4j_stats *hmm4j_stats_global(void) { return &global_stats; }

uint64_t hmm4j_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* async-signal-safe */
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hmm4j_stats_add(struct hmm4j_stats *stats, size_t field_offset, uint64_t value)
{
    /* Counters are plain uint64_t in the shared layout so Java can read them
     * directly; writers add atomically through the builtin. */
    __atomic_fetch_add((uint64_t *)((char *)&global_stats + field_offset), value, __ATOMIC_RELAXED);
    if (stats)
        __atomic_fetch_add((uint64_t *)((char *)stats + field_offset), value, __ATOMIC_RELAXED);
}

HMM4J_EXPORT int hmm4j_stats_count_copy(struct hmm4j_stats *stats, int32_t direction, int32_t cause, uint64_t bytes)
{
    if (cause < 0 || cause >= HMM4J_CAUSE_COUNT)
        return -EINVAL;
    if (direction == HMM4J_TO_DEVICE)
        HMM4J_STAT_ADD(stats, bytes_to_device[cause], bytes);
    else if (direction == HMM4J_TO_HOST)
        HMM4J_STAT_ADD(stats, bytes_to_host[cause], bytes);
    else
        return -EINVAL;
    return 0;
}

static bool fault_is_write(const void *context)
{
#if defined(__x86_64__)
    const ucontext_t *uc = context;
    return (uc->uc_mcontext.gregs[REG_ERR] & 0x2) != 0;
#else
#error "hmm4j: read/write fault decoding is only implemented for x86-64"
#endif
}

static void forward_to(const struct sigaction *previous, int signo, siginfo_t *info, void *context)
{
    if (previous->sa_flags & SA_SIGINFO) {
        previous->sa_sigaction(signo, info, context);
    } else if (previous->sa_handler == SIG_DFL) {
        /* Re-executing the access with the default action gives the usual crash and core. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(signo, &dfl, NULL);
    } else if (previous->sa_handler != SIG_IGN) {
        previous->sa_handler(signo);
    }
}

/* Filled before the handler is installed: the synchronous error signals, unblocked while a fault is served. */
static sigset_t error_signals;

static void on_segv(int signo, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    uintptr_t address = (uintptr_t)info->si_addr;
    if (hmm4j_floor_serve(address)) {
        errno = saved_errno;
        return;
    }
    int slot;
    struct hmm4j_region *region = hmm4j_registry_enter(address, &slot);
    if (region) {
        /*
         * As HotSpot's own handler does (JDK-8252533): a crash while serving (a driver's fault, a bug here) must
         * reach the handlers again and end in the JVM's error report with this stack. Left blocked, the kernel
         * kills the process without a word. Serving never touches the user view, so no fault here is ours.
         */
        pthread_sigmask(SIG_UNBLOCK, &error_signals, NULL);
        int rc = hmm4j_region_serve_fault(region, address, fault_is_write(context));
        hmm4j_registry_leave(slot);
        if (rc == 0) {
            errno = saved_errno;
            return;
        }
        /*
         * Unservable: the device cannot give the block back. Reported to the JVM as the SIGBUS of a
         * truncated mapped file, which it turns into an InternalError for FFM and Unsafe accesses
         * instead of a crash.
         */
        siginfo_t bus = *info;
        bus.si_signo = SIGBUS;
        bus.si_code = BUS_ADRERR;
        errno = saved_errno;
        forward_to(&previous_bus, SIGBUS, &bus, context);
        return;
    }
    errno = saved_errno;
    forward_to(&previous_segv, signo, info, context);
}

static void fill_error_signals(void)
{
    sigemptyset(&error_signals);
    sigaddset(&error_signals, SIGSEGV);
    sigaddset(&error_signals, SIGBUS);
    sigaddset(&error_signals, SIGFPE);
    sigaddset(&error_signals, SIGILL);
    sigaddset(&error_signals, SIGTRAP);
}

static int install_handler(void)
{
    static pthread_once_t error_signals_filled = PTHREAD_ONCE_INIT;
    pthread_once(&error_signals_filled, fill_error_signals);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_segv;
    /* Keep the JVM's flags (SA_ONSTACK, SA_RESTART, ...) so its stack-overflow handling still works. */
    action.sa_flags = (previous_segv.sa_flags | SA_SIGINFO | SA_ONSTACK) & ~SA_RESETHAND;
    action.sa_mask = previous_segv.sa_mask;
    return sigaction(SIGSEGV, &action, NULL) == 0 ? 0 : -errno;
}

static bool same_handler(const struct sigaction *a, const struct sigaction *b)
{
    if ((a->sa_flags & SA_SIGINFO) != (b->sa_flags & SA_SIGINFO))
        return false;
    return (a->sa_flags & SA_SIGINFO) ? a->sa_sigaction == b->sa_sigaction : a->sa_handler == b->sa_handler;
}

/*
 * A handler that cannot be chained behind: SA_RESETHAND means it removes itself when it runs (LLVM's crash
 * handler inside PoCL restores what it saved and lets the fault re-issue), and SIG_DFL/SIG_IGN would kill or
 * spin on any fault. Such a handler never forwards a fault in one of our regions to us.
 */
static bool is_non_chaining(const struct sigaction *action)
{
    if (action->sa_flags & SA_RESETHAND)
        return true;
    return !(action->sa_flags & SA_SIGINFO) && (action->sa_handler == SIG_DFL || action->sa_handler == SIG_IGN);
}

/*
 * SIGFPE: PoCL installs a handler that steps over integer division traps so that an OpenCL kernel dividing by
 * zero does not kill the process, for every thread. The JVM's compiled code relies on that very trap for
 * ArithmeticException; stepped over, `x / 0` in Java silently yields garbage. Once a driver has taken SIGFPE,
 * ours goes in front: a trap in code that belongs to no loaded object (the JVM's JIT and interpreter code lives
 * in anonymous memory) goes to the JVM's handler, anything else (kernels are dlopen'ed shared objects) to the
 * driver's. dladdr is not on POSIX's async-signal-safe list; it takes the loader's lock, which no thread holds
 * while waiting for a safepoint, and an integer trap cannot happen inside the loader.
 */
static struct sigaction jvm_fpe;
static struct sigaction driver_fpe;

static void on_fpe(int signo, siginfo_t *info, void *context)
{
    int saved_errno = errno;
    Dl_info where;
    bool integer_trap = info->si_code == FPE_INTDIV || info->si_code == FPE_INTOVF;
    bool generated_code = integer_trap && dladdr(info->si_addr, &where) == 0;
    errno = saved_errno;
    forward_to(generated_code ? &jvm_fpe : &driver_fpe, signo, info, context);
}

static int ensure_fpe_handler(void)
{
    struct sigaction current;
    if (sigaction(SIGFPE, NULL, &current) != 0)
        return -errno;
    if (((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_fpe) || same_handler(&current, &jvm_fpe))
        return 0;
    driver_fpe = current;
    atomic_thread_fence(memory_order_seq_cst);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fpe;
    action.sa_flags = (jvm_fpe.sa_flags | SA_SIGINFO | SA_ONSTACK) & ~SA_RESETHAND;
    action.sa_mask = jvm_fpe.sa_mask;
    return sigaction(SIGFPE, &action, NULL) == 0 ? 1 : -errno;
}

/*
 * Native libraries loaded later save the SIGSEGV handler, install their own and restore what they saved; when
 * that overlaps our installation they restore the JVM's handler and ours is gone. LLVM (PoCL's compiler)
 * installs a non-chaining SA_RESETHAND handler during a program build and keeps it until a signal arrives.
 * Either way ours goes back in front, still chaining to the JVM's original handler and never to the
 * non-chaining one: a self-removing handler would re-issue every JVM fault, and as long as LLVM's never runs,
 * LLVM counts its handlers as installed and does not install them again. A third party that chains properly
 * is left in front, or faults would loop between the two.
 */
static int ensure_segv_handler(void)
{
    struct sigaction current;
    if (sigaction(SIGSEGV, NULL, &current) != 0)
        return -errno;
    if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_segv)
        return 0;
    if (!same_handler(&current, &previous_segv) && !is_non_chaining(&current))
        return 0;
    int rc = install_handler();
    return rc == 0 ? 1 : rc;
}

/* Only a self-removing handler is replaced: one that chains, or that the application chose, stays. */
static int restore_guarded_signals(void)
{
    int restored = 0;
    for (size_t i = 0; i < GUARDED_COUNT; i++) {
        struct sigaction current;
        if (sigaction(guarded_signals[i], NULL, &current) != 0)
            return -errno;
        if (!(current.sa_flags & SA_RESETHAND) || same_handler(&current, &guarded_at_start[i]))
            continue;
        if (sigaction(guarded_signals[i], &guarded_at_start[i], NULL) != 0)
            return -errno;
        restored = 1;
    }
    return restored;
}

HMM4J_EXPORT int hmm4j_engine_ensure_handler(void)
{
    if (!atomic_load(&handler_installed))
        return -EINVAL;
    int fpe = ensure_fpe_handler();
    if (fpe < 0)
        return fpe;
    int segv = ensure_segv_handler();
    /* LLVM takes all of them at once, SIGSEGV included: while ours is in place the others need no look. */
    if (segv <= 0)
        return segv < 0 ? segv : fpe;
    int others = restore_guarded_signals();
    return others < 0 ? others : 1;
}

HMM4J_EXPORT int hmm4j_engine_init(void)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&handler_installed, &expected, 1))
        return 0;
    int rc;
    if (sigaction(SIGSEGV, NULL, &previous_segv) != 0 || sigaction(SIGBUS, NULL, &previous_bus) != 0 ||
        sigaction(SIGFPE, NULL, &jvm_fpe) != 0) {
        rc = -errno;
        goto out_reset;
    }
    for (size_t i = 0; i < GUARDED_COUNT; i++) {
        if (sigaction(guarded_signals[i], NULL, &guarded_at_start[i]) != 0) {
            rc = -errno;
            goto out_reset;
        }
    }
    rc = install_handler();
    if (rc != 0)
        goto out_reset;
    return 0;

out_reset:
    atomic_store(&handler_installed, 0);
    return rc;
}

#define DESCRIBE(value)              \
    do {                             \
        if (count >= max)            \
            return -EINVAL;          \
        out[count++] = (value);      \
    } while (0)

HMM4J_EXPORT int hmm4j_layout_describe(int layout_id, uint64_t *out, int max)
{
    int count = 0;
    switch (layout_id) {
    case HMM4J_LAYOUT_STATS:
        DESCRIBE(sizeof(struct hmm4j_stats));
        DESCRIBE(offsetof(struct hmm4j_stats, read_faults));
        DESCRIBE(offsetof(struct hmm4j_stats, write_faults));
        DESCRIBE(offsetof(struct hmm4j_stats, spurious_faults));
        DESCRIBE(offsetof(struct hmm4j_stats, fault_ns));
        DESCRIBE(offsetof(struct hmm4j_stats, blocks_to_device));
        DESCRIBE(offsetof(struct hmm4j_stats, blocks_to_host));
        DESCRIBE(offsetof(struct hmm4j_stats, bytes_to_device));
        DESCRIBE(offsetof(struct hmm4j_stats, bytes_to_host));
        DESCRIBE(offsetof(struct hmm4j_stats, prefetched_blocks));
        DESCRIBE(offsetof(struct hmm4j_stats, copy_errors));
        DESCRIBE(offsetof(struct hmm4j_stats, migrate_ns));
        DESCRIBE(offsetof(struct hmm4j_stats, migrations));
        DESCRIBE(offsetof(struct hmm4j_stats, batched_faults));
        DESCRIBE(offsetof(struct hmm4j_stats, host_reclaimed_bytes));
        DESCRIBE(offsetof(struct hmm4j_stats, host_reserve_failures));
        DESCRIBE(offsetof(struct hmm4j_stats, blocks_peer));
        DESCRIBE(offsetof(struct hmm4j_stats, bytes_peer));
        return count;
    case HMM4J_LAYOUT_MIGRATE:
        DESCRIBE(sizeof(struct hmm4j_migrate));
        DESCRIBE(offsetof(struct hmm4j_migrate, region));
        DESCRIBE(offsetof(struct hmm4j_migrate, first_block));
        DESCRIBE(offsetof(struct hmm4j_migrate, nblocks));
        DESCRIBE(offsetof(struct hmm4j_migrate, direction));
        DESCRIBE(offsetof(struct hmm4j_migrate, intent));
        DESCRIBE(offsetof(struct hmm4j_migrate, cause));
        DESCRIBE(offsetof(struct hmm4j_migrate, binding));
        DESCRIBE(offsetof(struct hmm4j_migrate, state));
        DESCRIBE(offsetof(struct hmm4j_migrate, moved_blocks));
        DESCRIBE(offsetof(struct hmm4j_migrate, moved_bytes));
        return count;
    default:
        return -EINVAL;
    }
}
