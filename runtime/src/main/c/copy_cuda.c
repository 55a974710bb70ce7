/*
 * The CUDA copy table: libcuda is loaded with dlopen and driven in the primary
 * context that JCuda retained, so a host fault is served without leaving C.
 */
#define _GNU_SOURCE
#include "engine_internal.h"
#include "cuda_min.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Large copies may go through two pinned buffers so the DMA and the memcpy overlap. */
#define STAGING_CHUNK (4u << 20)
#define STAGING_THRESHOLD (8u << 20)

/*
 * Which directions use that staging rather than the driver's own pageable-memory path.
 * HMM4J_CUDA_STAGING=none|to-device|to-host|both (read once, at create) overrides the default, so the
 * two paths can be compared on a GPU host with the CUDA benchmarks (MigrationBench, releaseHost=false).
 * Measured on an H100 (driver 580): device to host, the driver's path took 8.0 ms for 64 MiB and 28 ms
 * for 256 MiB against 11.6 and 48.6 ms staged; host to device the two were within noise (9.9 / 42.8 ms
 * direct, 11.1 / 38.6 ms staged). So only copies to the device are staged by default.
 */
#define STAGE_TO_DEVICE 1u
#define STAGE_TO_HOST 2u
#define STAGING_DEFAULT STAGE_TO_DEVICE

/* CUdevice: an ordinal (cuda.h's typedef), used by the peer calls only. */
typedef int cuda_ordinal;
#define CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED 704
/* Peer access is enabled once per ordered pair of contexts; ordinals past this go through host. */
#define PEER_ORDINALS 64

struct cuda_api {
    CUresult (*ctx_push)(CUcontext);
    CUresult (*ctx_pop)(CUcontext *);
    CUresult (*ctx_synchronize)(void);
    CUresult (*memcpy_htod)(CUdeviceptr, const void *, size_t);
    CUresult (*memcpy_dtoh)(void *, CUdeviceptr, size_t);
    CUresult (*memcpy_htod_async)(CUdeviceptr, const void *, size_t, CUstream);
    CUresult (*memcpy_dtoh_async)(void *, CUdeviceptr, size_t, CUstream);
    CUresult (*memset_d8)(CUdeviceptr, unsigned char, size_t);
    CUresult (*stream_synchronize)(CUstream);
    CUresult (*mem_host_alloc)(void **, size_t, unsigned int);
    CUresult (*mem_free_host)(void *);
    CUresult (*event_create)(CUevent *, unsigned int);
    CUresult (*event_record)(CUevent, CUstream);
    CUresult (*event_synchronize)(CUevent);
    CUresult (*event_destroy)(CUevent);
    CUresult (*host_register)(void *, size_t, unsigned int);
    CUresult (*host_unregister)(void *);
    CUresult (*host_get_device_pointer)(CUdeviceptr *, void *, unsigned int);
    CUresult (*stream_wait_event)(CUstream, CUevent, unsigned int);
    /* Optional (NULL: device to device goes through host): peer to peer between two GPUs. */
    CUresult (*ctx_get_device)(cuda_ordinal *);
    CUresult (*device_can_access_peer)(int *, cuda_ordinal, cuda_ordinal);
    CUresult (*ctx_enable_peer_access)(CUcontext, unsigned int);
    CUresult (*memcpy_peer)(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t);
};

struct cuda_device {
    struct hmm4j_device base;
    void *library;
    struct cuda_api api;
    CUcontext context;
    CUstream stream;
    /* The second copy engine (hmm4j_device_cuda_set_copy_stream): uploads enqueued without waiting, NULL: none */
    _Atomic(CUstream) copy_stream;
    /* uploads enqueued there, and how many of them the launch stream already waits for (see follow_uploads) */
    _Atomic uint64_t uploads;
    _Atomic uint64_t followed;
    unsigned staging_directions;
    atomic_flag staging_busy;
    void *staging[2];
    CUevent staged[2];
    cuda_ordinal ordinal; /* -1: unknown (no peer copies) */
    /* per source ordinal: 1 peer access enabled from this context, -1 refused (through host), 0 not tried */
    _Atomic int peer[PEER_ORDINALS];
};

static int fold(struct hmm4j_device *dev, CUresult result)
{
    if (result == CUDA_SUCCESS)
        return 0;
    atomic_store(&dev->last_error, result);
    return result == CUDA_ERROR_OUT_OF_MEMORY ? -ENOMEM : -EIO;
}

static bool take_staging(struct cuda_device *cu)
{
    return cu->staging[0] && !atomic_flag_test_and_set_explicit(&cu->staging_busy, memory_order_acquire);
}

static void give_staging(struct cuda_device *cu) { atomic_flag_clear_explicit(&cu->staging_busy, memory_order_release); }

/*
 * Context current. Makes the launch stream's next work start after the uploads enqueued on the copy stream so far
 * (an event recorded there, waited for here; destroying it at once is allowed: the wait keeps what it needs), so
 * the launch stream stays the one order that kernels, staged copies and copies home follow.
 */
static CUresult follow_uploads(struct cuda_device *cu)
{
    CUstream copies = atomic_load(&cu->copy_stream);
    /* A fault's copy home pays for the event only where an upload came since the last wait. */
    uint64_t uploads = atomic_load(&cu->uploads);
    if (!copies || uploads == atomic_load(&cu->followed))
        return CUDA_SUCCESS;
    CUevent marker = NULL;
    CUresult rc = cu->api.event_create(&marker, CU_EVENT_DISABLE_TIMING);
    if (rc != CUDA_SUCCESS)
        return rc;
    rc = cu->api.event_record(marker, copies);
    if (rc == CUDA_SUCCESS)
        rc = cu->api.stream_wait_event(cu->stream, marker, 0);
    cu->api.event_destroy(marker);
    /* After the wait is on the stream: whoever sees this count enqueues behind it. */
    uint64_t seen = atomic_load(&cu->followed);
    while (rc == CUDA_SUCCESS && seen < uploads && !atomic_compare_exchange_weak(&cu->followed, &seen, uploads))
        ;
    return rc;
}

static CUresult staged_to_device(struct cuda_device *cu, CUdeviceptr dst, const uint8_t *src, size_t bytes)
{
    CUresult rc = CUDA_SUCCESS;
    size_t done = 0;
    for (unsigned i = 0; done < bytes && rc == CUDA_SUCCESS; i++) {
        unsigned k = i & 1;
        size_t n = bytes - done < STAGING_CHUNK ? bytes - done : STAGING_CHUNK;
        if (i >= 2 && (rc = cu->api.event_synchronize(cu->staged[k])) != CUDA_SUCCESS)
            break;
        memcpy(cu->staging[k], src + done, n);
        if ((rc = cu->api.memcpy_htod_async(dst + done, cu->staging[k], n, cu->stream)) == CUDA_SUCCESS)
            rc = cu->api.event_record(cu->staged[k], cu->stream);
        done += n;
    }
    CUresult sync = cu->api.stream_synchronize(cu->stream);
    return rc != CUDA_SUCCESS ? rc : sync;
}

static CUresult staged_to_host(struct cuda_device *cu, uint8_t *dst, CUdeviceptr src, size_t bytes)
{
    size_t chunks = (bytes + STAGING_CHUNK - 1) / STAGING_CHUNK;
    CUresult rc = CUDA_SUCCESS;
    /* Chunk i+1 is in flight on the copy engine while chunk i is memcpy'd out. */
    for (size_t i = 0; i <= chunks && rc == CUDA_SUCCESS; i++) {
        if (i < chunks) {
            size_t off = i * STAGING_CHUNK;
            size_t n = bytes - off < STAGING_CHUNK ? bytes - off : STAGING_CHUNK;
            rc = cu->api.memcpy_dtoh_async(cu->staging[i & 1], src + off, n, cu->stream);
            if (rc == CUDA_SUCCESS)
                rc = cu->api.event_record(cu->staged[i & 1], cu->stream);
        }
        if (i > 0 && rc == CUDA_SUCCESS) {
            size_t prev = i - 1;
            size_t off = prev * STAGING_CHUNK;
            size_t n = bytes - off < STAGING_CHUNK ? bytes - off : STAGING_CHUNK;
            rc = cu->api.event_synchronize(cu->staged[prev & 1]);
            if (rc == CUDA_SUCCESS)
                memcpy(dst + off, cu->staging[prev & 1], n);
        }
    }
    CUresult sync = cu->api.stream_synchronize(cu->stream);
    return rc != CUDA_SUCCESS ? rc : sync;
}

static int cuda_to_device(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes, bool pinned)
{
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUcontext previous;
    CUresult rc = cu->api.ctx_push(cu->context);
    if (rc != CUDA_SUCCESS)
        return fold(dev, rc);
    rc = follow_uploads(cu);
    if (rc != CUDA_SUCCESS) {
        cu->api.ctx_pop(&previous);
        return fold(dev, rc);
    }
    /* Page-locked host memory goes straight to the DMA engine: staging would only add a memcpy. */
    if (!pinned && bytes >= STAGING_THRESHOLD && (cu->staging_directions & STAGE_TO_DEVICE) && take_staging(cu)) {
        rc = staged_to_device(cu, addr, host, bytes);
        give_staging(cu);
    } else {
        rc = cu->api.memcpy_htod(addr, host, bytes);
    }
    cu->api.ctx_pop(&previous);
    return fold(dev, rc);
}

/*
 * Page-locked pages go to the DMA engine on the copy stream where there is one (the launch's kernel waits for it:
 * hmm4j_device_order_launch), else on the launch stream, where the kernel queues behind the copy; the event says
 * when the pages may change again. Pageable memory takes the synchronous path (the driver would
 * stage it before returning anyway).
 */
static int cuda_to_device_async(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes, bool pinned,
                                uint64_t *event)
{
    *event = 0;
    if (!pinned)
        return cuda_to_device(dev, addr, host, bytes, pinned);
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUcontext previous;
    CUresult rc = cu->api.ctx_push(cu->context);
    if (rc != CUDA_SUCCESS)
        return fold(dev, rc);
    CUstream copies = atomic_load(&cu->copy_stream);
    CUstream on = copies ? copies : cu->stream;
    CUevent recorded = NULL;
    rc = cu->api.event_create(&recorded, CU_EVENT_DISABLE_TIMING);
    if (rc == CUDA_SUCCESS)
        rc = cu->api.memcpy_htod_async(addr, host, bytes, on);
    if (rc == CUDA_SUCCESS && copies)
        atomic_fetch_add(&cu->uploads, 1);
    if (rc == CUDA_SUCCESS)
        rc = cu->api.event_record(recorded, on);
    if (rc == CUDA_SUCCESS) {
        *event = (uint64_t)(uintptr_t)recorded;
    } else {
        /* A copy enqueued before the failure may still read the pages: nothing may change them until it is done. */
        cu->api.stream_synchronize(on);
        if (recorded)
            cu->api.event_destroy(recorded);
    }
    cu->api.ctx_pop(&previous);
    return fold(dev, rc);
}

static int cuda_to_host(struct hmm4j_device *dev, void *host, uint64_t addr, size_t bytes, bool pinned)
{
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUcontext previous;
    CUresult rc = cu->api.ctx_push(cu->context);
    if (rc != CUDA_SUCCESS)
        return fold(dev, rc);
    rc = follow_uploads(cu);
    if (rc != CUDA_SUCCESS) {
        cu->api.ctx_pop(&previous);
        return fold(dev, rc);
    }
    if (!pinned && bytes >= STAGING_THRESHOLD && (cu->staging_directions & STAGE_TO_HOST) && take_staging(cu)) {
        rc = staged_to_host(cu, host, addr, bytes);
        give_staging(cu);
    } else {
        rc = cu->api.memcpy_dtoh(host, addr, bytes);
    }
    cu->api.ctx_pop(&previous);
    return fold(dev, rc);
}

static int cuda_zero(struct hmm4j_device *dev, uint64_t addr, size_t bytes)
{
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUcontext previous;
    CUresult rc = cu->api.ctx_push(cu->context);
    if (rc != CUDA_SUCCESS)
        return fold(dev, rc);
    rc = follow_uploads(cu);
    if (rc == CUDA_SUCCESS)
        rc = cu->api.memset_d8(addr, 0, bytes);
    if (rc == CUDA_SUCCESS)
        rc = cu->api.ctx_synchronize();
    cu->api.ctx_pop(&previous);
    return fold(dev, rc);
}

static int cuda_synchronize(struct hmm4j_device *dev)
{
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUcontext previous;
    CUresult rc = cu->api.ctx_push(cu->context);
    if (rc != CUDA_SUCCESS)
        return fold(dev, rc);
    rc = cu->api.ctx_synchronize();
    cu->api.ctx_pop(&previous);
    return fold(dev, rc);
}

static int cuda_order_launch(struct hmm4j_device *dev)
{
    struct cuda_device *cu = (struct cuda_device *)dev;
    if (!atomic_load(&cu->copy_stream))
        return 0;
    CUcontext previous;
    CUresult rc = cu->api.ctx_push(cu->context);
    if (rc != CUDA_SUCCESS)
        return fold(dev, rc);
    rc = follow_uploads(cu);
    cu->api.ctx_pop(&previous);
    return fold(dev, rc);
}

/* cuEventSynchronize waits for the work recorded before the event on the stream, that launch's kernel, alone. */
static int cuda_wait_event(struct hmm4j_device *dev, uint64_t event)
{
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUcontext previous;
    CUresult rc = cu->api.ctx_push(cu->context);
    if (rc != CUDA_SUCCESS)
        return fold(dev, rc);
    rc = cu->api.event_synchronize((CUevent)(uintptr_t)event);
    cu->api.ctx_pop(&previous);
    return fold(dev, rc);
}

static void cuda_release_event(struct hmm4j_device *dev, uint64_t event)
{
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUcontext previous;
    if (cu->api.ctx_push(cu->context) != CUDA_SUCCESS)
        return;
    cu->api.event_destroy((CUevent)(uintptr_t)event);
    cu->api.ctx_pop(&previous);
}

/*
 * Peer to peer where the driver says the pair can (cuDeviceCanAccessPeer; access enabled once, from the destination's
 * context); -EOPNOTSUPP otherwise, and the engine copies through host memory. The source's stream is drained first:
 * its last kernel may have written the bytes. cuMemcpyPeer returns once the copy is done.
 */
static int cuda_peer_copy(struct hmm4j_device *dev, uint64_t dst_addr, struct hmm4j_device *src, uint64_t src_addr,
                          size_t bytes)
{
    struct cuda_device *to = (struct cuda_device *)dev, *from = (struct cuda_device *)src;
    if (!to->api.memcpy_peer || to->ordinal < 0 || from->ordinal < 0 || from->ordinal >= PEER_ORDINALS ||
        to->ordinal == from->ordinal)
        return -EOPNOTSUPP;
    int access = atomic_load(&to->peer[from->ordinal]);
    if (access < 0)
        return -EOPNOTSUPP;
    CUcontext previous;
    CUresult rc = from->api.ctx_push(from->context);
    if (rc != CUDA_SUCCESS)
        return fold(src, rc);
    rc = from->api.stream_synchronize(from->stream);
    from->api.ctx_pop(&previous);
    if (rc != CUDA_SUCCESS)
        return fold(src, rc);
    if ((rc = to->api.ctx_push(to->context)) != CUDA_SUCCESS)
        return fold(dev, rc);
    if (access == 0) {
        int can = 0;
        rc = to->api.device_can_access_peer(&can, to->ordinal, from->ordinal);
        if (rc == CUDA_SUCCESS && can)
            rc = to->api.ctx_enable_peer_access(from->context, 0);
        access = rc == CUDA_SUCCESS && can ? 1 : rc == CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED ? 1 : -1;
        atomic_store(&to->peer[from->ordinal], access);
    }
    rc = access > 0 ? to->api.memcpy_peer((CUdeviceptr)dst_addr, to->context, (CUdeviceptr)src_addr, from->context,
                                          bytes)
                    : CUDA_SUCCESS;
    to->api.ctx_pop(&previous);
    if (access < 0)
        return -EOPNOTSUPP;
    return fold(dev, rc);
}

static void cuda_destroy(struct hmm4j_device *dev)
{
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUcontext previous;
    if (cu->staging[0] && cu->api.ctx_push(cu->context) == CUDA_SUCCESS) {
        for (int i = 0; i < 2; i++) {
            cu->api.mem_free_host(cu->staging[i]);
            cu->api.event_destroy(cu->staged[i]);
        }
        cu->api.ctx_pop(&previous);
    }
    dlclose(cu->library);
    free(cu);
}

static int cuda_register_host(struct hmm4j_device *dev, void *host, size_t bytes)
{
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUcontext previous;
    CUresult rc = cu->api.ctx_push(cu->context);
    if (rc != CUDA_SUCCESS)
        return fold(dev, rc);
    /* Mapped too, so zero-copy placement can address it (cuda_host_device_pointer); DMA is the same either way. */
    rc = cu->api.host_register(host, bytes, CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP);
    cu->api.ctx_pop(&previous);
    return fold(dev, rc);
}

static void cuda_unregister_host(struct hmm4j_device *dev, void *host)
{
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUcontext previous;
    if (cu->api.ctx_push(cu->context) != CUDA_SUCCESS)
        return;
    cu->api.host_unregister(host);
    cu->api.ctx_pop(&previous);
}

static int cuda_host_device_pointer(struct hmm4j_device *dev, void *host, uint64_t *device_addr)
{
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUcontext previous;
    CUresult rc = cu->api.ctx_push(cu->context);
    if (rc != CUDA_SUCCESS)
        return fold(dev, rc);
    CUdeviceptr pointer = 0;
    rc = cu->api.host_get_device_pointer(&pointer, host, 0);
    cu->api.ctx_pop(&previous);
    if (rc == CUDA_SUCCESS)
        *device_addr = (uint64_t)pointer;
    return fold(dev, rc);
}

static const struct hmm4j_device_ops cuda_ops = {
    .name = "cuda",
    .to_device = cuda_to_device,
    .to_host = cuda_to_host,
    .to_device_async = cuda_to_device_async,
    .register_host = cuda_register_host,
    .unregister_host = cuda_unregister_host,
    .host_device_pointer = cuda_host_device_pointer,
    .zero = cuda_zero,
    .synchronize = cuda_synchronize,
    .wait_event = cuda_wait_event,
    .release_event = cuda_release_event,
    .order_launch = cuda_order_launch,
    .destroy = cuda_destroy,
    .peer_copy = cuda_peer_copy,
};

#define RESOLVE(field, symbol)                                   \
    do {                                                         \
        *(void **)(&cu->api.field) = dlsym(cu->library, symbol); \
        if (!cu->api.field)                                      \
            goto out_close_library;                              \
    } while (0)

static unsigned staging_directions(void)
{
    const char *value = getenv("HMM4J_CUDA_STAGING");
    if (!value)
        return STAGING_DEFAULT;
    if (strcmp(value, "none") == 0)
        return 0;
    if (strcmp(value, "to-device") == 0)
        return STAGE_TO_DEVICE;
    if (strcmp(value, "to-host") == 0)
        return STAGE_TO_HOST;
    if (strcmp(value, "both") == 0)
        return STAGE_TO_DEVICE | STAGE_TO_HOST;
    return STAGING_DEFAULT;
}

/* Staging is an optimisation: without pinned memory every copy goes direct. */
static void create_staging(struct cuda_device *cu)
{
    CUcontext previous;
    cu->staging_directions = staging_directions();
    if (cu->staging_directions == 0)
        return;
    if (cu->api.ctx_push(cu->context) != CUDA_SUCCESS)
        return;
    for (int i = 0; i < 2; i++) {
        if (cu->api.mem_host_alloc(&cu->staging[i], STAGING_CHUNK, CU_MEMHOSTALLOC_PORTABLE) != CUDA_SUCCESS ||
            cu->api.event_create(&cu->staged[i], CU_EVENT_DISABLE_TIMING) != CUDA_SUCCESS) {
            for (int j = 0; j <= i; j++) {
                if (cu->staging[j])
                    cu->api.mem_free_host(cu->staging[j]);
                if (cu->staged[j])
                    cu->api.event_destroy(cu->staged[j]);
                cu->staging[j] = NULL;
                cu->staged[j] = NULL;
            }
            break;
        }
    }
    cu->api.ctx_pop(&previous);
}

HMM4J_EXPORT int hmm4j_device_create_cuda(const char *libcuda_path, uint64_t context, uint64_t stream,
                                          struct hmm4j_device **out)
{
    if (!out || !context)
        return -EINVAL;
    struct cuda_device *cu = calloc(1, sizeof *cu);
    if (!cu)
        return -ENOMEM;
    cu->library = dlopen(libcuda_path ? libcuda_path : "libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!cu->library) {
        free(cu);
        return -ENOENT;
    }
    RESOLVE(ctx_push, "cuCtxPushCurrent_v2");
    RESOLVE(ctx_pop, "cuCtxPopCurrent_v2");
    RESOLVE(ctx_synchronize, "cuCtxSynchronize");
    RESOLVE(memcpy_htod, "cuMemcpyHtoD_v2");
    RESOLVE(memcpy_dtoh, "cuMemcpyDtoH_v2");
    RESOLVE(memcpy_htod_async, "cuMemcpyHtoDAsync_v2");
    RESOLVE(memcpy_dtoh_async, "cuMemcpyDtoHAsync_v2");
    RESOLVE(memset_d8, "cuMemsetD8_v2");
    RESOLVE(stream_synchronize, "cuStreamSynchronize");
    RESOLVE(mem_host_alloc, "cuMemHostAlloc");
    RESOLVE(mem_free_host, "cuMemFreeHost");
    RESOLVE(event_create, "cuEventCreate");
    RESOLVE(event_record, "cuEventRecord");
    RESOLVE(event_synchronize, "cuEventSynchronize");
    RESOLVE(event_destroy, "cuEventDestroy_v2");
    RESOLVE(host_register, "cuMemHostRegister_v2");
    RESOLVE(host_unregister, "cuMemHostUnregister");
    RESOLVE(host_get_device_pointer, "cuMemHostGetDevicePointer_v2");
    RESOLVE(stream_wait_event, "cuStreamWaitEvent");
    *(void **)(&cu->api.ctx_get_device) = dlsym(cu->library, "cuCtxGetDevice");
    *(void **)(&cu->api.device_can_access_peer) = dlsym(cu->library, "cuDeviceCanAccessPeer");
    *(void **)(&cu->api.ctx_enable_peer_access) = dlsym(cu->library, "cuCtxEnablePeerAccess");
    *(void **)(&cu->api.memcpy_peer) = dlsym(cu->library, "cuMemcpyPeer");
    if (!cu->api.ctx_get_device || !cu->api.device_can_access_peer || !cu->api.ctx_enable_peer_access)
        cu->api.memcpy_peer = NULL;
    cu->context = (CUcontext)(uintptr_t)context;
    cu->stream = (CUstream)(uintptr_t)stream;
    cu->ordinal = -1;
    if (cu->api.memcpy_peer && cu->api.ctx_push(cu->context) == CUDA_SUCCESS) {
        CUcontext previous;
        if (cu->api.ctx_get_device(&cu->ordinal) != CUDA_SUCCESS)
            cu->ordinal = -1;
        cu->api.ctx_pop(&previous);
    }
    atomic_flag_clear(&cu->staging_busy);
    hmm4j_device_init(&cu->base, &cuda_ops, cu);
    create_staging(cu);
    *out = &cu->base;
    return 0;

out_close_library:
    dlclose(cu->library);
    free(cu);
    return -ENOSYS;
}

HMM4J_EXPORT int hmm4j_device_cuda_set_copy_stream(struct hmm4j_device *dev, uint64_t stream)
{
    if (!dev || dev->ops != &cuda_ops || !stream)
        return -EINVAL;
    struct cuda_device *cu = (struct cuda_device *)dev;
    CUstream expected = NULL;
    return atomic_compare_exchange_strong(&cu->copy_stream, &expected, (CUstream)(uintptr_t)stream) ? 0 : -EBUSY;
}
