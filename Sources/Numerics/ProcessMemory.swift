import CKernels

/// How the process's memory allocator treats large blocks and freed memory.
public enum ProcessMemory {
    /// Blocks of this size and more are mapped on their own.
    public static let largeBlockBytes = 4 << 20
    /// Freed memory a heap keeps for reuse before it returns any to the system.
    public static let keptFreedBytes = 64 << 20

    /// Maps every block of ``largeBlockBytes`` and more apart from the heap, so that its memory
    /// goes back to the system as soon as it is freed, and keeps up to ``keptFreedBytes`` of
    /// freed smaller blocks for reuse.
    ///
    /// glibc's default raises its map threshold to the largest block freed so far (up to 32 MiB),
    /// after which freed message buffers stay in its arenas: a coordinator flooded with
    /// largest-size messages kept up to 190 MB that way. Fixing that threshold also fixes the trim
    /// threshold at 128 KiB, and then every training step's gradient buffers (about 1 MB each)
    /// went back to the system when freed and were faulted in again, zeroed, by the next step: a
    /// third of a step's time at 784-256-128-10. Call once, at start.
    public static func configureAllocator() {
        _ = emfleet_configure_allocator(largeBlockBytes, keptFreedBytes)
    }
}
