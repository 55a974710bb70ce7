/*
 * The floor of serving a host fault, for benchmarks (FaultCostBench.rawFloor): what no fault engine can skip.
 * The memory is laid out as a region's is (a memfd mapped twice: a user view whose protection flips and an
 * engine view that is always writable), and the SIGSEGV handler does only the trap's work: one memcpy of the
 * faulting block from a stand-in for device memory into the engine view, then one mprotect of the user view.
 * No state table, no lock, no read-ahead, no device call.
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

struct hmm4j_floor {
    int memfd;
    uint8_t *user;
    uint8_t *engine;
    uint8_t *source;
    uint64_t size;
    int block_shift;
};

/* One floor at a time: the handler looks at a single pointer, so every other fault pays one load. */
static _Atomic(struct hmm4j_floor *) armed;
static atomic_int serving;

bool hmm4j_floor_serve(uintptr_t address)
{
    if (atomic_load_explicit(&armed, memory_order_relaxed) == NULL)
        return false;
    /* Announce first, look second: destroy clears the pointer, then waits for announcements to drain. */
    atomic_fetch_add(&serving, 1);
    struct hmm4j_floor *f = atomic_load(&armed);
    bool served = false;
    if (f && address >= (uintptr_t)f->user && address < (uintptr_t)f->user + f->size) {
        uint64_t block = (uint64_t)1 << f->block_shift;
        uint64_t offset = (((uint64_t)address - (uintptr_t)f->user) >> f->block_shift) << f->block_shift;
        memcpy(f->engine + offset, f->source + offset, block);
        /* A failed mprotect falls through to the JVM's handler: a crash beats a fault that re-traps forever. */
        served = mprotect(f->user + offset, block, PROT_READ | PROT_WRITE) == 0;
    }
    atomic_fetch_sub(&serving, 1);
    return served;
}

HMM4J_EXPORT int hmm4j_floor_create(uint64_t size, uint64_t block_size, struct hmm4j_floor **out)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (out == NULL || size == 0 || block_size < page || (block_size & (block_size - 1)) != 0 ||
        size % block_size != 0 || size > (UINT64_MAX >> 2))
        return -EINVAL;
    int rc;
    struct hmm4j_floor *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->size = size;
    f->block_shift = __builtin_ctzll(block_size);
    f->memfd = memfd_create("hmm4j-floor", MFD_CLOEXEC);
    if (f->memfd < 0) {
        rc = -errno;
        goto out_free;
    }
    if (ftruncate(f->memfd, (off_t)size) != 0) {
        rc = -errno;
        goto out_close_memfd;
    }
    f->user = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    if (f->user == MAP_FAILED) {
        rc = -errno;
        goto out_close_memfd;
    }
    f->engine = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    if (f->engine == MAP_FAILED) {
        rc = -errno;
        goto out_unmap_user;
    }
    f->source = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (f->source == MAP_FAILED) {
        rc = -errno;
        goto out_unmap_engine;
    }
    memset(f->source, 1, size);
    memset(f->engine, 0, size);
    struct hmm4j_floor *expected = NULL;
    if (!atomic_compare_exchange_strong(&armed, &expected, f)) {
        rc = -EBUSY;
        goto out_unmap_source;
    }
    *out = f;
    return 0;

out_unmap_source:
    munmap(f->source, size);
out_unmap_engine:
    munmap(f->engine, size);
out_unmap_user:
    munmap(f->user, size);
out_close_memfd:
    close(f->memfd);
out_free:
    free(f);
    return rc;
}

HMM4J_EXPORT void *hmm4j_floor_user_base(const struct hmm4j_floor *floor) { return floor->user; }

HMM4J_EXPORT int hmm4j_floor_protect(struct hmm4j_floor *floor, int32_t release)
{
    if (mprotect(floor->user, floor->size, PROT_NONE) != 0)
        return -errno;
    if (release && fallocate(floor->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)floor->size) != 0)
        return -errno;
    return 0;
}

HMM4J_EXPORT void hmm4j_floor_destroy(struct hmm4j_floor *floor)
{
    struct hmm4j_floor *expected = floor;
    atomic_compare_exchange_strong(&armed, &expected, NULL);
    while (atomic_load(&serving) != 0)
        sched_yield();
    munmap(floor->source, floor->size);
    munmap(floor->engine, floor->size);
    munmap(floor->user, floor->size);
    close(floor->memfd);
    free(floor);
}
