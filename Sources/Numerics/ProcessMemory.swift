import CKernels

/// How the process's memory allocator treats large blocks.
public enum ProcessMemory {
    /// Blocks of this size and more are mapped on their own.
    public static let largeBlockBytes = 4 << 20

    /// Maps every block of ``largeBlockBytes`` and more apart from the heap, so that its memory
    /// goes back to the system as soon as it is freed.
    ///
    /// glibc's default raises its threshold to the largest block freed so far (up to 32 MiB),
    /// after which freed message buffers stay in its arenas: a coordinator flooded with
    /// largest-size messages kept up to 190 MB that way. Call once, at start.
    public static func returnLargeBlocksWhenFreed() {
        _ = emfleet_map_allocations_from(largeBlockBytes)
    }
}
