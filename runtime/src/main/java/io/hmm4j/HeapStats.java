package io.hmm4j;

/**
 * Counters of one heap, as of the moment {@link ManagedHeap#stats()} read them. Byte counts are what the fault
 * engine copied; {@code *ByCause} arrays are indexed by {@link MigrationCause#ordinal()}. {@code reclaimedBytes} is
 * host RAM the host tier gave back (pages of blocks whose bytes were also on the device), by its own choice or for blocks
 * coming home; {@code hostMemoryFailures} counts copies home that found no host memory even then (the blocks stayed on
 * the device). {@code batchedFaults} are faults (counted in {@code readFaults}/{@code writeFaults} too) that found
 * another thread serving a fault of the same array and were served by its copy (fault batching). {@code blocksPeer} and
 * {@code bytesPeer} were copied device to device (a launch or prefetch on one device of blocks only another device
 * held; peer to peer where the backend can, else through host memory), counted apart from {@code bytesToDevice}.
 */
public record HeapStats(
        long readFaults,
        long writeFaults,
        long spuriousFaults,
        long faultNanos,
        long blocksToDevice,
        long blocksToHost,
        long[] bytesToDeviceByCause,
        long[] bytesToHostByCause,
        long prefetchedBlocks,
        long copyErrors,
        long migrations,
        long migrateNanos,
        long evictions,
        long liveArrays,
        long launches,
        long reclaimedBytes,
        long batchedFaults,
        long hostMemoryFailures,
        long blocksPeer,
        long bytesPeer) {

    public HeapStats {
        bytesToDeviceByCause = bytesToDeviceByCause.clone();
        bytesToHostByCause = bytesToHostByCause.clone();
    }

    public long faults() {
        return readFaults + writeFaults;
    }

    public long bytesToDevice() {
        return java.util.Arrays.stream(bytesToDeviceByCause).sum();
    }

    public long bytesToHost() {
        return java.util.Arrays.stream(bytesToHostByCause).sum();
    }

    public long bytesToDevice(MigrationCause cause) {
        return bytesToDeviceByCause[cause.ordinal()];
    }

    public long bytesToHost(MigrationCause cause) {
        return bytesToHostByCause[cause.ordinal()];
    }

    @Override
    public long[] bytesToDeviceByCause() {
        return bytesToDeviceByCause.clone();
    }

    @Override
    public long[] bytesToHostByCause() {
        return bytesToHostByCause.clone();
    }

    @Override
    public String toString() {
        return String.format("faults %d (read %d, write %d), to device %d B, to host %d B, device to device %d B,"
                        + " fault time %.3f ms, prefetched blocks %d, evictions %d, launches %d",
                faults(), readFaults, writeFaults, bytesToDevice(), bytesToHost(), bytesPeer, faultNanos / 1e6,
                prefetchedBlocks,
                evictions, launches);
    }
}
