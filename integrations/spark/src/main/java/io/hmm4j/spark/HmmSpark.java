package io.hmm4j.spark;

import io.hmm4j.ManagedHeap;
import java.util.List;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;

/**
 * The hmm4j heap of the executor a task runs in. {@link Hmm4jSparkPlugin} opens one heap per executor when the
 * executor starts and closes it when the executor stops; tasks share it (the heap is thread-safe).
 *
 * <pre>{@code
 * spark.conf: spark.plugins=io.hmm4j.spark.Hmm4jSparkPlugin
 * in a task:  ManagedHeap heap = HmmSpark.heap();
 *             heap.launchOn(HmmSpark.deviceIndex(), kernel, n, ...);
 * }</pre>
 */
public final class HmmSpark {

    /** The executor's heap and the Spark GPU addresses its devices are, in device-index order. */
    record ExecutorHeap(ManagedHeap heap, String gpuResource, List<String> gpuAddresses) {}

    private static volatile ExecutorHeap current;

    private HmmSpark() {}

    /**
     * The executor's heap.
     *
     * @throws IllegalStateException if this JVM runs no executor with {@link Hmm4jSparkPlugin}, or it stopped
     */
    public static ManagedHeap heap() {
        return executorHeap().heap();
    }

    /** Whether this JVM has an open executor heap. */
    public static boolean isActive() {
        ExecutorHeap open = current;
        return open != null && open.heap().isOpen();
    }

    /**
     * The heap device of the calling task: the device of the first GPU Spark assigned to the task
     * ({@code TaskContext.resources()}), or 0 when the task has no GPU or the heap does not open Spark's GPUs.
     *
     * @throws IllegalStateException as {@link #heap()}
     */
    public static int deviceIndex() {
        ExecutorHeap open = executorHeap();
        TaskContext task = TaskContext.get();
        if (task == null || open.gpuAddresses().isEmpty())
            return 0;
        ResourceInformation gpus = task.resourcesJMap().get(open.gpuResource());
        if (gpus == null || gpus.addresses().length == 0)
            return 0;
        return Math.max(0, open.gpuAddresses().indexOf(gpus.addresses()[0]));
    }

    private static ExecutorHeap executorHeap() {
        ExecutorHeap open = current;
        if (open == null)
            throw new IllegalStateException("no hmm4j heap in this JVM: run inside a Spark task with spark.plugins="
                    + Hmm4jSparkPlugin.class.getName());
        if (!open.heap().isOpen())
            throw new IllegalStateException("the executor's hmm4j heap is closed (the executor is stopping)");
        return open;
    }

    /** @throws IllegalStateException if another executor heap is installed in this JVM */
    static synchronized void install(ExecutorHeap heap) {
        if (current != null)
            throw new IllegalStateException("an hmm4j executor heap is already open in this JVM");
        current = heap;
    }

    static synchronized void uninstall(ExecutorHeap heap) {
        if (current == heap)
            current = null;
    }
}
