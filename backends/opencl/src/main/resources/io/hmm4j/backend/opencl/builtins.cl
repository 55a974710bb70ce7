// hmm4j built-in kernels. Element-wise kernels have no tail guard: the host launches exactly n work items
// (PoCL stops vectorising a kernel with an `if (i < n)` guard and runs it 2-3x slower).
// Names carry the hmm4j_ prefix: some names (e.g. `step`) clash with OpenCL built-ins.

__kernel void hmm4j_fill(__global float *out, float value, ulong n) {
    out[get_global_id(0)] = value;
}

__kernel void hmm4j_scale(__global float *x, float a, ulong n) {
    size_t i = get_global_id(0);
    x[i] = x[i] * a;
}

__kernel void hmm4j_axpy(__global const float *x, __global float *y, float a, ulong n) {
    size_t i = get_global_id(0);
    y[i] = a * x[i] + y[i];
}

// Reductions: each work-group strides over the input, reduces in local memory and writes one partial sum;
// hmm4j_reduce_partials then adds the partials in one work-group.
// Tree-reduces every work item's `acc` in local memory (a power-of-two work-group); all get the group's sum.
float hmm4j_group_sum(float acc, __local float *scratch) {
    size_t lid = get_local_id(0);
    scratch[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (lid < s)
            scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return scratch[0];
}

__kernel void hmm4j_dot_partial(__global const float *x, __global const float *y, ulong n,
                                __global float *partials, __local float *scratch) {
    float acc = 0.0f;
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        acc += x[i] * y[i];
    float sum = hmm4j_group_sum(acc, scratch);
    if (get_local_id(0) == 0)
        partials[get_group_id(0)] = sum;
}

__kernel void hmm4j_sum_partial(__global const float *x, ulong n, __global float *partials, __local float *scratch) {
    float acc = 0.0f;
    for (size_t i = get_global_id(0); i < n; i += get_global_size(0))
        acc += x[i];
    float sum = hmm4j_group_sum(acc, scratch);
    if (get_local_id(0) == 0)
        partials[get_group_id(0)] = sum;
}

__kernel void hmm4j_reduce_partials(__global const float *partials, uint count, __global float *out,
                                    __local float *scratch) {
    float acc = 0.0f;
    for (uint i = get_local_id(0); i < count; i += get_local_size(0))
        acc += partials[i];
    float sum = hmm4j_group_sum(acc, scratch);
    if (get_local_id(0) == 0)
        out[0] = sum;
}

// Launched over exactly width x height work items.
__kernel void hmm4j_stencil_2d(__global const float *in, __global float *out, int width, int height, float alpha) {
    int x = get_global_id(0);
    int y = get_global_id(1);
    size_t i = (size_t)y * width + x;
    float c = in[i];
    if (x == 0 || y == 0 || x == width - 1 || y == height - 1) {
        out[i] = c;
    } else {
        out[i] = c + alpha * (in[i - 1] + in[i + 1] + in[i - width] + in[i + width] - 4.0f * c);
    }
}
