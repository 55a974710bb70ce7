// hmm4j's built-in kernels (io.hmm4j.BuiltinKernel) on float arrays, compiled at development time to PTX by
// ../../../build-ptx.sh and committed as src/main/resources/io/hmm4j/backend/cuda/builtins.ptx.
//
// Every kernel uses a grid-stride loop, so any grid the backend picks covers all n elements (n may exceed the
// number of threads, and n == 0 does nothing). Argument order and types match BuiltinKernel's javadoc:
// n is a Java long (unsigned long long here), width/height are ints.
//
// DOT and SUM accumulate into out[0] with atomicAdd; the backend first launches hmm4j_zero_first on the same
// stream (a kernel rather than cuMemsetD32Async, so the backend needs only the raw device address).
// Each block reduces its threads' partial sums (warp shuffles, then one warp over the per-warp results), so
// there is one atomicAdd per block. blockDim.x must be a multiple of 32, at most 1024.

#define HMM4J_FULL_MASK 0xffffffffu

typedef unsigned long long u64;

__device__ __forceinline__ u64 first_index() { return (u64)blockIdx.x * blockDim.x + threadIdx.x; }
__device__ __forceinline__ u64 grid_stride() { return (u64)gridDim.x * blockDim.x; }

extern "C" __global__ void hmm4j_fill(float *out, float value, u64 n)
{
    for (u64 i = first_index(); i < n; i += grid_stride())
        out[i] = value;
}

extern "C" __global__ void hmm4j_scale(float *x, float a, u64 n)
{
    for (u64 i = first_index(); i < n; i += grid_stride())
        x[i] *= a;
}

// x and y may alias (AXPY(x, x, a, n)): each element is read and written by the same thread, so no restrict.
extern "C" __global__ void hmm4j_axpy(const float *x, float *y, float a, u64 n)
{
    for (u64 i = first_index(); i < n; i += grid_stride())
        y[i] = fmaf(a, x[i], y[i]);
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int offset = 16; offset > 0; offset >>= 1)
        v += __shfl_down_sync(HMM4J_FULL_MASK, v, offset);
    return v;
}

// Adds the block's values into *out; every thread of the block must call it.
__device__ __forceinline__ void block_sum_into(float v, float *out)
{
    __shared__ float per_warp[32];
    unsigned lane = threadIdx.x & 31u;
    unsigned warp = threadIdx.x >> 5;
    v = warp_sum(v);
    if (lane == 0)
        per_warp[warp] = v;
    __syncthreads();
    if (warp == 0) {
        unsigned warps = (blockDim.x + 31u) >> 5;
        v = lane < warps ? per_warp[lane] : 0.0f;
        v = warp_sum(v);
        if (lane == 0 && v != 0.0f)
            atomicAdd(out, v);
    }
}

// Sets out[0] = 0 before a DOT or SUM on the same stream. Launch with one thread.
extern "C" __global__ void hmm4j_zero_first(float *out)
{
    if (blockIdx.x == 0 && threadIdx.x == 0)
        out[0] = 0.0f;
}

extern "C" __global__ void hmm4j_dot(const float *x, const float *y, float *out, u64 n)
{
    float acc = 0.0f;
    for (u64 i = first_index(); i < n; i += grid_stride())
        acc = fmaf(x[i], y[i], acc);
    block_sum_into(acc, out);
}

extern "C" __global__ void hmm4j_sum(const float *x, float *out, u64 n)
{
    float acc = 0.0f;
    for (u64 i = first_index(); i < n; i += grid_stride())
        acc += x[i];
    block_sum_into(acc, out);
}

// One explicit heat-diffusion step on a row-major width x height grid; boundary cells are copied.
// The arithmetic is written in the order of the Java reference so results agree to float rounding.
extern "C" __global__ void hmm4j_stencil_2d(const float *in, float *out, int width, int height, float alpha)
{
    u64 cells = (u64)(width > 0 ? width : 0) * (u64)(height > 0 ? height : 0);
    for (u64 i = first_index(); i < cells; i += grid_stride()) {
        u64 y = i / (u64)width;
        u64 x = i - y * (u64)width;
        float c = in[i];
        if (x == 0 || y == 0 || x == (u64)width - 1 || y == (u64)height - 1) {
            out[i] = c;
        } else {
            float neighbours = in[i - 1] + in[i + 1] + in[i - width] + in[i + width];
            out[i] = c + alpha * (neighbours - 4.0f * c);
        }
    }
}
