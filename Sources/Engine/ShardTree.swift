/// The fixed pairwise tree over shards that defines how shard results are added.
///
/// Leaves are shards `0..<S`, padded to a power of two; a node is the sum `left + right` of
/// its children (just `left` when the right half holds no shard). A worker holding a whole
/// aligned block adds it itself and sends one result; the coordinator adds the blocks it
/// gets by the same tree, so the sum has the same bits whoever computed which part, and the
/// in-process runner, which holds every shard, computes the same sum.
public enum ShardTree {
    /// The padded width: the smallest power of two ≥ `shards`.
    public static func width(_ shards: Int) -> Int {
        var width = 1
        while width < shards { width <<= 1 }
        return width
    }

    /// Whether `range` is an aligned block of the tree over `shards` shards.
    public static func isAlignedBlock(_ range: Range<Int>, shards: Int) -> Bool {
        let count = range.count
        return count > 0 && count & (count - 1) == 0 && range.lowerBound % count == 0 && range.upperBound <= width(shards)
    }

    /// The maximal aligned blocks made only of shards in `held` (sorted output).
    public static func blocks(covering held: Set<Int>, shards: Int) -> [Range<Int>] {
        var blocks = [Range<Int>]()
        func visit(_ range: Range<Int>) {
            let real = range.clamped(to: 0..<shards)
            if real.isEmpty { return }
            if real.allSatisfy(held.contains) {
                blocks.append(range)
                return
            }
            guard range.count > 1 else { return }
            let middle = range.lowerBound + range.count / 2
            visit(range.lowerBound..<middle)
            visit(middle..<range.upperBound)
        }
        visit(0..<width(shards))
        return blocks
    }

    /// Splits `block` into its aligned halves, recursively, until `fits` holds for each piece
    /// or the piece is one shard.
    public static func split(_ block: Range<Int>, shards: Int, while tooLarge: (Range<Int>) -> Bool) -> [Range<Int>] {
        let real = block.clamped(to: 0..<shards)
        guard !real.isEmpty else { return [] }
        guard block.count > 1, tooLarge(real) else { return [block] }
        let middle = block.lowerBound + block.count / 2
        return split(block.lowerBound..<middle, shards: shards, while: tooLarge)
            + split(middle..<block.upperBound, shards: shards, while: tooLarge)
    }

    /// The tree sum of `range`, taking the values it uses out of `known` so that `add` works in
    /// place on uniquely held buffers (a block's value, when known, stands for its whole subtree).
    ///
    /// `add(&left, right)` is always called with `left` covering the shards before `right`'s,
    /// so results that concatenate per-shard parts come out in shard order.
    public static func reduce<T>(_ range: Range<Int>, shards: Int, known: inout [Range<Int>: T], add: (inout T, T) throws -> Void) rethrows -> T? {
        if range.clamped(to: 0..<shards).isEmpty { return nil }
        if let value = known.removeValue(forKey: range) { return value }
        guard range.count > 1 else { return nil }
        let middle = range.lowerBound + range.count / 2
        guard var left = try reduce(range.lowerBound..<middle, shards: shards, known: &known, add: add) else { return nil }
        if let right = try reduce(middle..<range.upperBound, shards: shards, known: &known, add: add) {
            try add(&left, right)
            return left
        }
        return middle >= shards ? left : nil
    }
}
