// k-means assignment for the CUDA backend; the same arithmetic, in the same order, as kmeans_assign.cl and
// KMeansKernels.assignOnHost. Compiled at development time and committed as
// src/main/resources/io/hmm4j/spark/example/kmeans_assign.ptx by ../../build-ptx.sh (the build needs no nvcc).
// __fsub_rn/__fmul_rn/__fadd_rn are never contracted into fma: the host reference rounds every step.

extern "C" __global__ void hmm4j_kmeans_assign(const float *points, const float *centroids, int *cluster,
                                               float *distance, long long n, int d, int k)
{
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    const float *p = points + i * d;
    int best = 0;
    float best_distance = __int_as_float(0x7f800000); // +infinity
    for (int c = 0; c < k; c++) {
        const float *q = centroids + (long long)c * d;
        float sum = 0.0f;
        for (int j = 0; j < d; j++) {
            float diff = __fsub_rn(p[j], q[j]);
            sum = __fadd_rn(sum, __fmul_rn(diff, diff));
        }
        if (sum < best_distance) {
            best_distance = sum;
            best = c;
        }
    }
    cluster[i] = best;
    distance[i] = best_distance;
}
