package io.hmm4j.spark.example;

import io.hmm4j.ManagedHeap;
import io.hmm4j.UserKernel;
import io.hmm4j.spi.JavaKernel;
import io.hmm4j.spi.KernelSource;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * The k-means assignment kernel, {@code hmm4j_kmeans_assign(points: READ, centroids: READ, cluster: WRITE int,
 * distance: WRITE float, n: long, d: int, k: int)}: each point's nearest centroid (the lowest index on a tie) and
 * its squared distance. One source per backend (OpenCL C, PTX, Java for the emulated device), all with the same
 * float arithmetic in the same order as {@link #assignOnHost}, so every backend assigns exactly as the host does.
 */
public final class KMeansKernels {

    static final String ENTRY = "hmm4j_kmeans_assign";

    /** Loaded once per heap: OpenCL and CUDA build a user kernel on its first launch, per UserKernel. */
    private static final Map<ManagedHeap, UserKernel> LOADED = new WeakHashMap<>();

    private KMeansKernels() {}

    /**
     * The kernel for {@code heap}'s backend.
     *
     * @throws IllegalArgumentException if the backend is not cuda, opencl or emulated
     */
    public static synchronized UserKernel assign(ManagedHeap heap) {
        return LOADED.computeIfAbsent(heap, h -> h.load(source(h.backendName())));
    }

    static KernelSource source(String backend) {
        return switch (backend) {
            case "opencl" -> KernelSource.openCl(ENTRY, resource("kmeans_assign.cl"));
            case "cuda" -> KernelSource.ptx(ENTRY, resource("kmeans_assign.ptx"));
            case "emulated" -> KernelSource.java(ENTRY, KMeansKernels::emulated);
            default -> throw new IllegalArgumentException("no k-means kernel for backend " + backend);
        };
    }

    private static String resource(String name) {
        try (InputStream in = KMeansKernels.class.getResourceAsStream(name)) {
            if (in == null)
                throw new IllegalStateException("resource " + name + " is missing from the hmm4j-spark jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + name, e);
        }
    }

    private static void emulated(long globalSize, JavaKernel.Arguments args) {
        MemorySegment points = args.buffer(0);
        MemorySegment centroids = args.buffer(1);
        MemorySegment cluster = args.buffer(2);
        MemorySegment distance = args.buffer(3);
        long n = args.longValue(4);
        int d = args.intValue(5);
        int k = args.intValue(6);
        float[] point = new float[d];
        float[] centres = centroids.toArray(ValueLayout.JAVA_FLOAT);
        for (long i = 0; i < Math.min(n, globalSize); i++) {
            MemorySegment.copy(points, ValueLayout.JAVA_FLOAT, i * d * Float.BYTES, point, 0, d);
            int best = nearest(point, centres, k);
            cluster.setAtIndex(ValueLayout.JAVA_INT, i, best);
            distance.setAtIndex(ValueLayout.JAVA_FLOAT, i, squaredDistance(point, centres, best));
        }
    }

    /** The reference: what every backend's kernel computes for one point. */
    public static int assignOnHost(float[] point, float[] centroids, int k) {
        return nearest(point, centroids, k);
    }

    static int nearest(float[] point, float[] centroids, int k) {
        int best = 0;
        float bestDistance = Float.POSITIVE_INFINITY;
        for (int c = 0; c < k; c++) {
            float sum = squaredDistance(point, centroids, c);
            if (sum < bestDistance) {
                bestDistance = sum;
                best = c;
            }
        }
        return best;
    }

    /** Squared distance from {@code point} to centroid {@code c}, summed in dimension order, in float. */
    public static float squaredDistance(float[] point, float[] centroids, int c) {
        int d = point.length;
        float sum = 0f;
        for (int j = 0; j < d; j++) {
            float diff = point[j] - centroids[c * d + j];
            sum = sum + diff * diff;
        }
        return sum;
    }
}
