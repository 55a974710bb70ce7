/* The few OpenCL types hmm4j's copy table uses, so the build needs no SDK. */
#ifndef HMM4J_OPENCL_MIN_H
#define HMM4J_OPENCL_MIN_H
#include <stddef.h>
#include <stdint.h>

typedef int32_t cl_int;
typedef uint32_t cl_uint;
typedef uint32_t cl_bool;
typedef struct _cl_command_queue *cl_command_queue;
typedef struct _cl_mem *cl_mem;
typedef struct _cl_event *cl_event;

#define CL_SUCCESS 0
#define CL_TRUE 1
#define CL_FALSE 0
#define CL_MEM_OBJECT_ALLOCATION_FAILURE (-4)
#define CL_OUT_OF_RESOURCES (-5)
#define CL_OUT_OF_HOST_MEMORY (-6)
#define CL_COMPLETE 0
#define CL_EVENT_COMMAND_EXECUTION_STATUS 0x11D3
#endif
