/*
 * The OpenCL copy table: libOpenCL is loaded with dlopen and driven on the
 * queue and buffers that JOCL created, so a host fault is served in C.
 */
#define _GNU_SOURCE
#include "engine_internal.h"
#include "opencl_min.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>

#define BUFFER_SLOTS 4096
#define OFFSET_BITS 48
#define OFFSET_MASK ((UINT64_C(1) << OFFSET_BITS) - 1)

struct opencl_api {
    cl_int (*write_buffer)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *, cl_uint,
                           const cl_event *, cl_event *);
    cl_int (*read_buffer)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, void *, cl_uint, const cl_event *,
                          cl_event *);
    cl_int (*fill_buffer)(cl_command_queue, cl_mem, const void *, size_t, size_t, size_t, cl_uint,
                          const cl_event *, cl_event *);
    cl_int (*finish)(cl_command_queue);
    cl_int (*wait_for_events)(cl_uint, const cl_event *);
    cl_int (*get_event_info)(cl_event, cl_uint, size_t, void *, size_t *);
    cl_int (*release_event)(cl_event);
    cl_int (*enqueue_marker)(cl_command_queue, cl_uint, const cl_event *, cl_event *);
    cl_int (*enqueue_barrier)(cl_command_queue, cl_uint, const cl_event *, cl_event *);
};

struct opencl_device {
    struct hmm4j_device base;
    void *library;
    struct opencl_api api;
    cl_command_queue queue;
    /* The second copy engine (hmm4j_device_opencl_set_copy_queue): uploads enqueued without waiting, NULL: none */
    _Atomic(cl_command_queue) copy_queue;
    /* uploads enqueued there, and how many of them the launch queue already waits for (see follow_uploads) */
    _Atomic uint64_t uploads;
    _Atomic uint64_t followed;
    _Atomic(cl_mem) buffers[BUFFER_SLOTS];
};

static int fold(struct hmm4j_device *dev, cl_int result)
{
    if (result == CL_SUCCESS)
        return 0;
    atomic_store(&dev->last_error, result);
    return result == CL_MEM_OBJECT_ALLOCATION_FAILURE || result == CL_OUT_OF_RESOURCES ||
                   result == CL_OUT_OF_HOST_MEMORY
               ? -ENOMEM
               : -EIO;
}

/* NULL for a slot outside the table: a stray address must fail (-EINVAL), not alias another buffer. */
static cl_mem buffer_of(struct opencl_device *cl, uint64_t addr)
{
    uint64_t slot = addr >> OFFSET_BITS;
    return slot < BUFFER_SLOTS ? atomic_load(&cl->buffers[slot]) : NULL;
}

/*
 * Makes whatever is enqueued on the launch queue next start after the uploads enqueued on the copy queue so far
 * (a marker there, a barrier here), so that the launch queue stays the one order every other command follows: a
 * kernel reads its uploaded arguments, a copy home or a later copy of the same bytes comes after the upload.
 */
static int follow_uploads(struct opencl_device *cl)
{
    cl_command_queue copies = atomic_load(&cl->copy_queue);
    /* A fault's copy home pays for a marker and a barrier only where an upload came since the last barrier. */
    uint64_t uploads = atomic_load(&cl->uploads);
    if (!copies || uploads == atomic_load(&cl->followed))
        return 0;
    cl_event marker = NULL;
    int rc = fold(&cl->base, cl->api.enqueue_marker(copies, 0, NULL, &marker));
    if (rc != 0)
        return rc;
    rc = fold(&cl->base, cl->api.enqueue_barrier(cl->queue, 1, &marker, NULL));
    cl->api.release_event(marker);
    /* After the barrier is in the queue: whoever sees this count enqueues behind it. */
    uint64_t seen = atomic_load(&cl->followed);
    while (rc == 0 && seen < uploads && !atomic_compare_exchange_weak(&cl->followed, &seen, uploads))
        ;
    return rc;
}

static int opencl_to_device(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes, bool pinned)
{
    (void)pinned;
    struct opencl_device *cl = (struct opencl_device *)dev;
    cl_mem mem = buffer_of(cl, addr);
    if (!mem)
        return -EINVAL;
    int rc = follow_uploads(cl);
    if (rc != 0)
        return rc;
    return fold(dev, cl->api.write_buffer(cl->queue, mem, CL_TRUE, addr & OFFSET_MASK, bytes, host, 0, NULL, NULL));
}

static int opencl_to_device_async(struct hmm4j_device *dev, uint64_t addr, const void *host, size_t bytes,
                                  bool pinned, uint64_t *event)
{
    (void)pinned;
    struct opencl_device *cl = (struct opencl_device *)dev;
    cl_mem mem = buffer_of(cl, addr);
    if (!mem)
        return -EINVAL;
    cl_command_queue copies = atomic_load(&cl->copy_queue);
    cl_command_queue on = copies ? copies : cl->queue;
    cl_event recorded = NULL;
    int rc = fold(dev, cl->api.write_buffer(on, mem, CL_FALSE, addr & OFFSET_MASK, bytes, host, 0, NULL, &recorded));
    if (copies)
        atomic_fetch_add(&cl->uploads, 1);
    if (rc == 0 && !recorded)
        rc = fold(dev, cl->api.finish(on)); /* nothing to wait for later: the copy must be done now */
    *event = rc == 0 ? (uint64_t)(uintptr_t)recorded : 0;
    return rc;
}

static int opencl_to_host(struct hmm4j_device *dev, void *host, uint64_t addr, size_t bytes, bool pinned)
{
    (void)pinned;
    struct opencl_device *cl = (struct opencl_device *)dev;
    cl_mem mem = buffer_of(cl, addr);
    if (!mem)
        return -EINVAL;
    int rc = follow_uploads(cl);
    if (rc != 0)
        return rc;
    return fold(dev, cl->api.read_buffer(cl->queue, mem, CL_TRUE, addr & OFFSET_MASK, bytes, host, 0, NULL, NULL));
}

static int opencl_zero(struct hmm4j_device *dev, uint64_t addr, size_t bytes)
{
    struct opencl_device *cl = (struct opencl_device *)dev;
    cl_mem mem = buffer_of(cl, addr);
    if (!mem)
        return -EINVAL;
    int ordered = follow_uploads(cl);
    if (ordered != 0)
        return ordered;
    static const uint8_t zero = 0;
    cl_int rc = cl->api.fill_buffer(cl->queue, mem, &zero, 1, addr & OFFSET_MASK, bytes, 0, NULL, NULL);
    if (rc == CL_SUCCESS)
        rc = cl->api.finish(cl->queue);
    return fold(dev, rc);
}

static int opencl_synchronize(struct hmm4j_device *dev)
{
    struct opencl_device *cl = (struct opencl_device *)dev;
    cl_command_queue copies = atomic_load(&cl->copy_queue);
    int rc = copies ? fold(dev, cl->api.finish(copies)) : 0;
    int launches = fold(dev, cl->api.finish(cl->queue));
    return rc != 0 ? rc : launches;
}

static int opencl_order_launch(struct hmm4j_device *dev) { return follow_uploads((struct opencl_device *)dev); }

/*
 * clWaitForEvents reports a failed command only as CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST; the event's
 * execution status (negative on failure) carries the command's own code.
 */
static int opencl_wait_event(struct hmm4j_device *dev, uint64_t event)
{
    struct opencl_device *cl = (struct opencl_device *)dev;
    cl_event ev = (cl_event)(uintptr_t)event;
    cl_int rc = cl->api.wait_for_events(1, &ev);
    cl_int status = CL_COMPLETE;
    cl_int info = cl->api.get_event_info(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
    if (info != CL_SUCCESS)
        return fold(dev, info);
    if (status < 0)
        return fold(dev, status);
    return fold(dev, rc);
}

static void opencl_release_event(struct hmm4j_device *dev, uint64_t event)
{
    struct opencl_device *cl = (struct opencl_device *)dev;
    cl->api.release_event((cl_event)(uintptr_t)event);
}

static void opencl_destroy(struct hmm4j_device *dev)
{
    struct opencl_device *cl = (struct opencl_device *)dev;
    dlclose(cl->library);
    free(cl);
}

static const struct hmm4j_device_ops opencl_ops = {
    .name = "opencl",
    .to_device = opencl_to_device,
    .to_host = opencl_to_host,
    .to_device_async = opencl_to_device_async,
    .zero = opencl_zero,
    .synchronize = opencl_synchronize,
    .wait_event = opencl_wait_event,
    .release_event = opencl_release_event,
    .order_launch = opencl_order_launch,
    .destroy = opencl_destroy,
    /*
     * OpenClDevice creates its queue in order (no CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE), and copies use it;
     * uploads on a copy queue are ordered before it by follow_uploads.
     */
    .copies_follow_launches = true,
};

#define RESOLVE(field, symbol)                                   \
    do {                                                         \
        *(void **)(&cl->api.field) = dlsym(cl->library, symbol); \
        if (!cl->api.field)                                      \
            goto out_close_library;                              \
    } while (0)

HMM4J_EXPORT int hmm4j_device_create_opencl(const char *libopencl_path, uint64_t queue, struct hmm4j_device **out)
{
    if (!out || !queue)
        return -EINVAL;
    struct opencl_device *cl = calloc(1, sizeof *cl);
    if (!cl)
        return -ENOMEM;
    cl->library = dlopen(libopencl_path ? libopencl_path : "libOpenCL.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!cl->library) {
        free(cl);
        return -ENOENT;
    }
    RESOLVE(write_buffer, "clEnqueueWriteBuffer");
    RESOLVE(read_buffer, "clEnqueueReadBuffer");
    RESOLVE(fill_buffer, "clEnqueueFillBuffer");
    RESOLVE(finish, "clFinish");
    RESOLVE(wait_for_events, "clWaitForEvents");
    RESOLVE(get_event_info, "clGetEventInfo");
    RESOLVE(release_event, "clReleaseEvent");
    RESOLVE(enqueue_marker, "clEnqueueMarkerWithWaitList");
    RESOLVE(enqueue_barrier, "clEnqueueBarrierWithWaitList");
    cl->queue = (cl_command_queue)(uintptr_t)queue;
    hmm4j_device_init(&cl->base, &opencl_ops, cl);
    *out = &cl->base;
    return 0;

out_close_library:
    dlclose(cl->library);
    free(cl);
    return -ENOSYS;
}

HMM4J_EXPORT int hmm4j_device_opencl_set_buffer(struct hmm4j_device *dev, uint32_t slot, uint64_t mem)
{
    if (!dev || dev->ops != &opencl_ops || slot >= BUFFER_SLOTS)
        return -EINVAL;
    struct opencl_device *cl = (struct opencl_device *)dev;
    atomic_store(&cl->buffers[slot], (cl_mem)(uintptr_t)mem);
    return 0;
}

HMM4J_EXPORT int hmm4j_device_opencl_set_copy_queue(struct hmm4j_device *dev, uint64_t queue)
{
    if (!dev || dev->ops != &opencl_ops || !queue)
        return -EINVAL;
    struct opencl_device *cl = (struct opencl_device *)dev;
    cl_command_queue expected = NULL;
    return atomic_compare_exchange_strong(&cl->copy_queue, &expected, (cl_command_queue)(uintptr_t)queue) ? 0
                                                                                                           : -EBUSY;
}
