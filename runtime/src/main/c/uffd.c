/*
 * userfaultfd: faults that the kernel itself takes on a region's user view (read(2) into a DEVICE block) reach
 * the engine instead of failing with EFAULT. A region served this way never uses mprotect for its states: a
 * DEVICE block has no page-table entries in the user view (zapped) and is write-protected, a SHARED block is
 * write-protected with userfaultfd's WP mode, a HOST block is plain. Any access to a missing entry (minor
 * fault: the memfd page exists; missing fault: it was punched) and any write to a protected one wakes the
 * handler thread, which serves it with the same hmm4j_region_serve_fault as the SIGSEGV handler and installs
 * the entries (UFFDIO_CONTINUE) before it lets the region lock go. The thread is native, never attached to the
 * JVM, and waits only for the region lock, which no Java code holds (DESIGN.md invariant 2).
 */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Linux 6.3 (newer than the headers of some build machines): entries installed already write-protected. */
#ifndef UFFDIO_CONTINUE_MODE_WP
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif

/*
 * UFFDIO_CONTINUE_MODE_WP has no feature bit of its own: WP_UNPOPULATED (Linux 6.4) is the first one after it,
 * so asking for it proves the kernel can install a SHARED block's entries without a writable moment.
 */
#define NEEDED_FEATURES                                                                                         \
    (UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_WP_HUGETLBFS_SHMEM |                 \
     UFFD_FEATURE_WP_UNPOPULATED)
#define REGISTER_MODES (UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR | UFFDIO_REGISTER_MODE_WP)

static int uffd = -1;
static atomic_int enabled; /* 0 never probed, 1 on, -errno: the probe failed with that */
static pthread_mutex_t enable_lock = PTHREAD_MUTEX_INITIALIZER;
/* Set by the handler thread for the fault it serves: a minor fault's memfd page exists, no fallocate needed. */
static _Thread_local bool serving_minor_fault;

static int open_uffd(void)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0)
        return fd;
    int syscall_errno = errno;
    /* Where vm.unprivileged_userfaultfd is 0, the device node grants it to whoever may open it. */
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev < 0)
        return -syscall_errno;
    fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
    int rc = fd < 0 ? -errno : fd;
    close(dev);
    return rc;
}

static void wake(uint64_t start, uint64_t len)
{
    struct uffdio_range range = {.start = start, .len = len};
    ioctl(uffd, UFFDIO_WAKE, &range);
}

static void serve(const struct uffd_msg *msg)
{
    uintptr_t address = (uintptr_t)msg->arg.pagefault.address;
    uint64_t page = (uint64_t)hmm4j_engine_page_size();
    int slot;
    struct hmm4j_region *r = hmm4j_registry_enter(address, &slot);
    if (!r) {
        /* Unmapped meanwhile: the thread faults again and meets whatever is there now. */
        wake(address & ~(page - 1), page);
        return;
    }
    bool write = (msg->arg.pagefault.flags & (UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP)) != 0;
    serving_minor_fault = (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR) != 0;
    int rc = hmm4j_region_serve_fault(r, address, write);
    serving_minor_fault = false;
    uintptr_t block = (uintptr_t)r->user + (((address - (uintptr_t)r->user) >> r->block_shift) << r->block_shift);
    if (rc != 0) {
        /*
         * Unservable (a dead device): the access must fail, not wait. PROT_NONE makes the retry a SIGSEGV, which
         * the SIGSEGV handler reports as the JVM's SIGBUS for a user access, and the kernel as EFAULT for its own;
         * the next fault of the block puts the protection back (hmm4j_region_serve_fault).
         */
        if (mprotect((void *)block, r->block_size, PROT_NONE) == 0)
            atomic_store(&r->uffd_fell_back, true);
    }
    /* Only now: the faulting thread must find the fault counted, as after a SIGSEGV served on its own stack. */
    wake(block, r->block_size);
    hmm4j_registry_leave(slot);
}

static void *handler_main(void *unused)
{
    (void)unused;
    for (;;) {
        struct pollfd p = {.fd = uffd, .events = POLLIN};
        if (poll(&p, 1, -1) < 0)
            continue;
        struct uffd_msg msg;
        ssize_t n = read(uffd, &msg, sizeof msg);
        if (n != (ssize_t)sizeof msg || msg.event != UFFD_EVENT_PAGEFAULT)
            continue;
        serve(&msg);
    }
    return NULL;
}

HMM4J_EXPORT int hmm4j_uffd_enable(void)
{
    pthread_mutex_lock(&enable_lock);
    int rc = atomic_load(&enabled);
    if (rc != 0)
        goto out_unlock;
    int fd = open_uffd();
    if (fd < 0) {
        rc = fd;
        goto out_record;
    }
    struct uffdio_api api = {.api = UFFD_API, .features = NEEDED_FEATURES};
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        rc = -errno;
        goto out_close_fd;
    }
    if ((api.features & NEEDED_FEATURES) != NEEDED_FEATURES) {
        rc = -EOPNOTSUPP;
        goto out_close_fd;
    }
    uffd = fd;
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = -pthread_create(&thread, &attr, handler_main, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        uffd = -1;
        goto out_close_fd;
    }
    rc = 1;
    goto out_record;

out_close_fd:
    close(fd);
out_record:
    atomic_store(&enabled, rc);
out_unlock:
    pthread_mutex_unlock(&enable_lock);
    return rc == 1 ? 0 : rc;
}

HMM4J_EXPORT int hmm4j_uffd_status(void)
{
    int state = atomic_load(&enabled);
    return state == 1 ? 1 : state;
}

HMM4J_EXPORT int hmm4j_region_use_uffd(struct hmm4j_region *r)
{
    if (!r || r->file_bytes != 0)
        return -EINVAL;
    if (atomic_load(&enabled) != 1)
        return -ENODEV;
    struct uffdio_register reg = {.range = {.start = (uintptr_t)r->user, .len = r->size}, .mode = REGISTER_MODES};
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0)
        return -errno;
    r->uffd = true;
    return 0;
}

static int write_protect(uint64_t start, uint64_t len, bool protect)
{
    /*
     * Waiters are woken by the handler thread once their fault is served and counted, never by a state change
     * (the kernel takes DONTWAKE only when unprotecting: protecting wakes nobody anyway).
     */
    struct uffdio_writeprotect wp = {.range = {.start = start, .len = len},
                                     .mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : UFFDIO_WRITEPROTECT_MODE_DONTWAKE};
    while (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp) != 0) {
        if (errno != EAGAIN)
            return -errno;
    }
    return 0;
}

int hmm4j_uffd_protect(struct hmm4j_region *r, uint64_t first, uint64_t count, uint8_t state)
{
    uint64_t start = (uintptr_t)r->user + (first << r->block_shift);
    uint64_t len = count << r->block_shift;
    if (state == HMM4J_BLOCK_HOST)
        return write_protect(start, len, false);
    int rc = write_protect(start, len, true);
    if (rc != 0 || state == HMM4J_BLOCK_SHARED)
        return rc;
    /* Protected first, so no write slips in between; the zapped entries keep the protection as markers. */
    if (madvise((void *)start, len, MADV_DONTNEED) != 0)
        return -errno;
    return 0;
}

int hmm4j_uffd_resolve_locked(struct hmm4j_region *r, uint64_t block)
{
    uint64_t page = (uint64_t)hmm4j_engine_page_size();
    uint64_t start = (uintptr_t)r->user + (block << r->block_shift);
    uint64_t len = r->block_size;
    /*
     * A block never touched (or punched) has no memfd pages for the entries to point at. A minor fault says the
     * faulting page exists, and a block's pages come and go together (punched, reserved and copied per block).
     */
    if (!serving_minor_fault) {
        int rc = hmm4j_region_reserve_host_locked(r, block, 1);
        if (rc != 0)
            return rc;
    }
    /*
     * A SHARED block's entries must never be writable, not even between installing and protecting them: a host
     * write in that moment would change the host copy behind a device copy still called current, and the next
     * launch would compute on (and bring home) the old bytes.
     */
    bool shared = atomic_load_explicit(&r->state[block], memory_order_relaxed) == HMM4J_BLOCK_SHARED;
    uint64_t mode = UFFDIO_CONTINUE_MODE_DONTWAKE | (shared ? UFFDIO_CONTINUE_MODE_WP : 0);
    uint64_t done = 0;
    while (done < len) {
        struct uffdio_continue c = {.range = {.start = start + done, .len = len - done}, .mode = mode};
        if (ioctl(uffd, UFFDIO_CONTINUE, &c) == 0)
            break;
        if (errno == EAGAIN)
            continue;
        if (errno != EEXIST)
            return -errno;
        /* Some pages are mapped already: step over the first of them and go on with the rest. */
        done += (c.mapped > 0 ? (uint64_t)c.mapped : 0) + page;
    }
    return 0;
}
