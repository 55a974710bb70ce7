package io.hmm4j.spark.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.hmm4j.Arg;
import io.hmm4j.FloatArray;
import io.hmm4j.IntArray;
import io.hmm4j.ManagedHeap;
import io.hmm4j.spi.BackendProvider;
import java.util.Random;
import java.util.ServiceLoader;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The assignment kernel of each backend against the host reference, bit for bit (no Spark). */
class KMeansKernelsTest {

    private static void assumeAvailable(String backend) {
        for (BackendProvider provider : ServiceLoader.load(BackendProvider.class))
            if (provider.name().equals(backend)) {
                assumeTrue(provider.isAvailable(), () -> backend + " is not available: " + provider.unavailabilityCause());
                return;
            }
        assumeTrue(false, backend + " is not on the class path");
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"emulated, -", "opencl, migrate", "opencl, coherent", "cuda, -"})
    void everyBackendAssignsAsTheHost(String backend, String placement) {
        assumeAvailable(backend);
        int n = 5_003;
        int d = 7;
        int k = 9;
        Random random = new Random(11);
        float[] points = new float[n * d];
        float[] centroids = new float[k * d];
        for (int i = 0; i < points.length; i++)
            points[i] = (float) random.nextGaussian() * 3;
        for (int i = 0; i < centroids.length; i++)
            centroids[i] = (float) random.nextGaussian() * 3;
        ManagedHeap.Builder builder = ManagedHeap.builder().backend(backend);
        if (!placement.equals("-"))
            builder.setting("placement", placement);

        try (ManagedHeap heap = builder.build(); FloatArray p = heap.allocateFloats(points.length);
                FloatArray c = heap.allocateFloats(centroids.length); IntArray cluster = heap.allocateInts(n);
                FloatArray distance = heap.allocateFloats(n)) {
            p.copyFrom(points);
            c.copyFrom(centroids);
            heap.launch(KMeansKernels.assign(heap), n, Arg.read(p), Arg.read(c), Arg.write(cluster),
                    Arg.write(distance), Arg.of((long) n), Arg.of(d), Arg.of(k)).await();

            for (int i = 0; i < n; i++) {
                float[] point = java.util.Arrays.copyOfRange(points, i * d, (i + 1) * d);
                int expected = KMeansKernels.assignOnHost(point, centroids, k);
                assertThat(cluster.get(i)).as("point " + i).isEqualTo(expected);
                assertThat(distance.get(i)).as("point " + i)
                        .isEqualTo(KMeansKernels.squaredDistance(point, centroids, expected));
            }
        }
    }
}
