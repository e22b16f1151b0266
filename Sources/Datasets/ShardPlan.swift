/// The row ranges ("shards") a dataset is processed in.
///
/// The plan depends only on the row count and the shard count, never on how many
/// workers or threads process it, so sums over shards (and so results) are the same
/// however the shards are spread.
///
/// ```swift
/// ShardPlan(rows: 10, shards: 3).ranges   // [0..<4, 4..<7, 7..<10]
/// ```
public struct ShardPlan: Sendable, Equatable, Codable {
    /// The rows covered, `0..<rows`.
    public let rows: Int
    /// Consecutive ranges that cover `0..<rows`; sizes differ by at most one, earlier ones larger.
    public let ranges: [Range<Int>]

    /// The rows per shard that ``defaultShardCount(rows:)`` aims at.
    public static let defaultRowsPerShard = 8192
    /// The most shards ``defaultShardCount(rows:)`` gives.
    public static let maximumDefaultShards = 1024

    /// Splits `0..<rows` into `shards` ranges (clamped to `1...max(rows, 1)`).
    ///
    /// With no rows the plan has one empty range.
    ///
    /// - Precondition: `rows >= 0`.
    public init(rows: Int, shards: Int) {
        precondition(rows >= 0, "rows must not be negative")
        let count = min(max(shards, 1), max(rows, 1))
        let base = rows / count, extra = rows % count
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(count)
        var start = 0
        for shard in 0..<count {
            let size = base + (shard < extra ? 1 : 0)
            ranges.append(start..<start + size)
            start += size
        }
        self.rows = rows
        self.ranges = ranges
    }

    /// `ceil(rows / 8192)`, clamped to `1...1024`.
    public static func defaultShardCount(rows: Int) -> Int {
        let wanted = (max(rows, 0) + defaultRowsPerShard - 1) / defaultRowsPerShard
        return min(max(wanted, 1), maximumDefaultShards)
    }

    /// The number of shards.
    public var count: Int { ranges.count }

    private enum CodingKeys: String, CodingKey { case rows, ranges }

    /// Decodes a plan, checking that its ranges are consecutive and cover `0..<rows`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let rows = try container.decode(Int.self, forKey: .rows)
        let ranges = try container.decode([Range<Int>].self, forKey: .ranges)
        var next = 0
        for range in ranges {
            guard range.lowerBound == next else {
                throw DecodingError.dataCorruptedError(forKey: .ranges, in: container, debugDescription: "shard ranges must be consecutive from 0")
            }
            next = range.upperBound
        }
        guard rows >= 0, !ranges.isEmpty, next == rows else {
            throw DecodingError.dataCorruptedError(forKey: .ranges, in: container, debugDescription: "shard ranges must cover 0..<\(rows)")
        }
        self.rows = rows
        self.ranges = ranges
    }

    /// Encodes the row count and the ranges.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(rows, forKey: .rows)
        try container.encode(ranges, forKey: .ranges)
    }
}
