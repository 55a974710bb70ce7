// k-means assignment: each point's nearest centroid (lowest index on a tie) and its squared distance.
// points: n x d row-major, centroids: k x d row-major. Same arithmetic, in the same order, as
// KMeansKernels.assignOnHost and kmeans_assign.cu.
// No contraction into fma: the host reference rounds every product and sum, and so must the device, or a point
// near the middle of two centroids may be assigned differently.
#pragma OPENCL FP_CONTRACT OFF

__kernel void hmm4j_kmeans_assign(__global const float *points, __global const float *centroids,
                                  __global int *cluster, __global float *distance, long n, int d, int k)
{
    long i = get_global_id(0);
    if (i >= n)
        return;
    __global const float *p = points + i * d;
    int best = 0;
    float bestDistance = INFINITY;
    for (int c = 0; c < k; c++) {
        __global const float *q = centroids + (long) c * d;
        float sum = 0.0f;
        for (int j = 0; j < d; j++) {
            float diff = p[j] - q[j];
            sum = sum + diff * diff;
        }
        if (sum < bestDistance) {
            bestDistance = sum;
            best = c;
        }
    }
    cluster[i] = best;
    distance[i] = bestDistance;
}
