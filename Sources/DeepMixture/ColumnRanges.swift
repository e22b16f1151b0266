import Datasets
import Engine
import Training

/// The smallest and largest value of every column.
public struct ColumnRanges: Sendable, Equatable {
    /// Per column, the smallest value.
    public var minimum: [Double]
    /// Per column, the largest value.
    public var maximum: [Double]

    /// Creates ranges.
    public init(minimum: [Double], maximum: [Double]) {
        self.minimum = minimum; self.maximum = maximum
    }

    /// The scaling that maps each column's range onto [0, 1] (a constant column is only shifted).
    public var minMaxScaling: Standardisation {
        Standardisation(mean: minimum, scale: zip(minimum, maximum).map { $1 > $0 ? 1 / ($1 - $0) : 1 })
    }
}

/// Every column's minimum and maximum over the shards, as a shard job. A minimum and a maximum
/// do not depend on the order rows are taken in, so any shard tree gives the same bits.
public enum ColumnRangeJob: ShardJob {
    /// The job's name on the wire.
    public static let identifier = "column-ranges"

    /// The ranges of one shard's rows.
    public static func evaluate(_ task: Void, on shard: ShardData, scratch: NoScratch) throws -> ColumnRanges {
        let d = shard.features.columns, chunk = 1024
        var ranges = ColumnRanges(minimum: Array(repeating: .infinity, count: d), maximum: Array(repeating: -.infinity, count: d))
        let zero = [Double](repeating: 0, count: d)
        var buffer = [Double](repeating: 0, count: chunk * d)
        for start in stride(from: shard.positions.lowerBound, to: shard.positions.upperBound, by: chunk) {
            let end = min(start + chunk, shard.positions.upperBound)
            buffer.withUnsafeMutableBufferPointer { shard.features.copyRows(start..<end, subtracting: zero, into: $0.baseAddress!) }
            for r in 0..<(end - start) {
                for j in 0..<d {
                    let value = buffer[r * d + j]
                    if value < ranges.minimum[j] { ranges.minimum[j] = value }
                    if value > ranges.maximum[j] { ranges.maximum[j] = value }
                }
            }
        }
        return ranges
    }

    /// The elementwise minimum and maximum.
    public static func combine(_ left: inout ColumnRanges, _ right: ColumnRanges) {
        for j in left.minimum.indices {
            left.minimum[j] = min(left.minimum[j], right.minimum[j])
            left.maximum[j] = max(left.maximum[j], right.maximum[j])
        }
    }

    /// The task carries nothing.
    public static func encode(task: Void) -> [UInt8] { [] }

    /// Accepts the empty task only.
    public static func decodeTask(_ bytes: [UInt8], context: ShardContext) throws -> Void {
        try WireReader(bytes, context: "column-ranges task").finish()
    }

    /// The minima, then the maxima.
    public static func encode(result: ColumnRanges) -> [UInt8] {
        var w = WireWriter(capacity: 16 * result.minimum.count + 32)
        w.doubles(result.minimum)
        w.doubles(result.maximum)
        return w.bytes
    }

    /// Decodes ranges of `context.dimension` columns.
    public static func decodeResult(_ bytes: [UInt8], of task: Void, shards: Range<Int>, context: ShardContext) throws -> ColumnRanges {
        var r = WireReader(bytes, context: "column-ranges result")
        let ranges = ColumnRanges(minimum: try r.doubles("minima", expected: context.dimension), maximum: try r.doubles("maxima", expected: context.dimension))
        try r.finish()
        return ranges
    }

    /// Two values per column.
    public static func largestResultBytes(of task: Void, rows: Int, context: ShardContext) -> Int { 16 * context.dimension + 32 }
}
