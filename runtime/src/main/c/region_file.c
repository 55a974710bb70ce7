/*
 * File-backed regions: the file's pages are the host copy of the blocks. Both views map the file (MAP_SHARED),
 * so what the engine copies home lands in the page cache and reaches the file on writeback; the part of the
 * last block beyond the file's last page maps a small memfd instead, because file pages past the end of the
 * file fault with SIGBUS. Pages of a file are never punched (region.c's release_host_backing checks).
 */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Maps `tail` bytes of a fresh memfd over [view + at, view + at + tail) of both views. */
static int map_tail(struct hmm4j_region *r, uint64_t at, uint64_t tail, int protection)
{
    int memfd = memfd_create("hmm4j-file-tail", MFD_CLOEXEC);
    if (memfd < 0)
        return -errno;
    int rc = 0;
    if (ftruncate(memfd, (off_t)tail) != 0) {
        rc = -errno;
        goto out_close_memfd;
    }
    if (mmap(r->user + at, tail, protection, MAP_SHARED | MAP_FIXED, memfd, 0) == MAP_FAILED ||
        mmap(r->engine + at, tail, protection, MAP_SHARED | MAP_FIXED, memfd, 0) == MAP_FAILED)
        rc = -errno;
out_close_memfd:
    /* The mappings keep the memfd's pages alive. */
    close(memfd);
    return rc;
}

/* Opens the file and makes it cover [offset, offset + length): a writable one grows (sparse), as FileChannel.map. */
static int open_covering(const char *path, uint64_t offset, uint64_t length, bool writable)
{
    int fd = open(path, (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out_close_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -ENODEV;
        goto out_close_fd;
    }
    if ((uint64_t)st.st_size < offset + length) {
        if (!writable) {
            rc = -ENXIO;
            goto out_close_fd;
        }
        if (ftruncate(fd, (off_t)(offset + length)) != 0) {
            rc = -errno;
            goto out_close_fd;
        }
    }
    return fd;

out_close_fd:
    close(fd);
    return rc;
}

HMM4J_EXPORT int hmm4j_region_create_file(const char *path, uint64_t offset, uint64_t length, uint64_t block_size,
                                          int32_t writable, struct hmm4j_stats *stats, struct hmm4j_region **out)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    if (!path || !out || length == 0 || block_size < page || (block_size & (block_size - 1)) != 0 ||
        offset % page != 0 || length > (UINT64_MAX >> 2) || offset > (uint64_t)INT64_MAX - length)
        return -EINVAL;
    int fd = open_covering(path, offset, length, writable != 0);
    if (fd < 0)
        return fd;
    int rc;
    struct hmm4j_region *r = calloc(1, sizeof *r);
    if (!r) {
        rc = -ENOMEM;
        goto out_close_fd;
    }
    r->memfd = -1;
    r->block_size = block_size;
    r->block_shift = __builtin_ctzll(block_size);
    r->nblocks = (length + block_size - 1) >> r->block_shift;
    r->size = r->nblocks << r->block_shift;
    r->file_bytes = (length + page - 1) / page * page;
    r->read_only = writable == 0;
    r->stats = stats;
    r->last_fault_block = UINT64_MAX;
    r->device_base = UINT64_MAX;
    r->release_host = false;
    r->state = calloc(r->nblocks, 1);
    if (!r->state) {
        rc = -ENOMEM;
        goto out_free_region;
    }
    int protection = r->read_only ? PROT_READ : PROT_READ | PROT_WRITE;
    /* The whole block range is reserved by the file mapping; a tail past its last page is replaced below. */
    r->user = mmap(NULL, r->size, protection, MAP_SHARED, fd, (off_t)offset);
    if (r->user == MAP_FAILED) {
        rc = -errno;
        goto out_free_state;
    }
    r->engine = mmap(NULL, r->size, protection, MAP_SHARED, fd, (off_t)offset);
    if (r->engine == MAP_FAILED) {
        rc = -errno;
        goto out_unmap_user;
    }
    if (r->size > r->file_bytes) {
        rc = map_tail(r, r->file_bytes, r->size - r->file_bytes, protection);
        if (rc != 0)
            goto out_unmap_engine;
    }
    rc = hmm4j_registry_add(r);
    if (rc != 0)
        goto out_unmap_engine;
    close(fd);
    *out = r;
    return 0;

out_unmap_engine:
    munmap(r->engine, r->size);
out_unmap_user:
    munmap(r->user, r->size);
out_free_state:
    free((void *)r->state);
out_free_region:
    free(r);
out_close_fd:
    close(fd);
    return rc;
}

HMM4J_EXPORT int hmm4j_region_force(struct hmm4j_region *r, int32_t cause)
{
    if (!r || r->file_bytes == 0 || cause < 0 || cause >= HMM4J_CAUSE_COUNT)
        return -EINVAL;
    int rc = 0;
    uint64_t start = hmm4j_now_ns();
    uint64_t moved = 0;
    hmm4j_region_lock(r);
    /* READ intent: blocks come home SHARED, so the device keeps a valid copy and the next launch copies nothing. */
    if (r->device)
        rc = hmm4j_region_migrate_locked(r, 0, r->nblocks, HMM4J_TO_HOST, HMM4J_INTENT_READ, cause, &moved);
    hmm4j_region_unlock(r);
    if (moved) {
        HMM4J_STAT_ADD(r->stats, migrations, 1);
        HMM4J_STAT_ADD(r->stats, migrate_ns, hmm4j_now_ns() - start);
    }
    if (rc != 0)
        return rc;
    /* Outside the lock: writeback may wait for the disk, and faults must not wait for it. */
    if (!r->read_only && msync(r->engine, r->file_bytes, MS_SYNC) != 0)
        return -errno;
    return 0;
}
