/*
 * Linux PSI memory-pressure triggers for the host tier: a trigger file descriptor and a blocking wait for its
 * event. The waiting thread is an ordinary Java thread in a downcall that holds no lock.
 */
#define _GNU_SOURCE
#include "engine_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

HMM4J_EXPORT int hmm4j_pressure_open(const char *path, uint64_t stall_us, uint64_t window_us)
{
    if (path == NULL || stall_us == 0 || stall_us > window_us)
        return -EINVAL;
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char trigger[64];
    int length = snprintf(trigger, sizeof trigger, "some %llu %llu", (unsigned long long)stall_us,
                          (unsigned long long)window_us);
    /* The kernel takes the trigger with its terminating NUL. */
    if (write(fd, trigger, (size_t)length + 1) < 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    return fd;
}

HMM4J_EXPORT int hmm4j_pressure_wait(int32_t fd, int32_t timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLPRI};
    int n = poll(&pfd, 1, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (n == 0)
        return 0;
    if (pfd.revents & (POLLERR | POLLNVAL))
        return -EIO;
    return (pfd.revents & POLLPRI) ? 1 : 0;
}

HMM4J_EXPORT void hmm4j_pressure_close(int32_t fd) { close(fd); }
