import Datasets
import Foundation
import Testing

@Suite("Shard plans")
struct ShardPlanTests {
    @Test(arguments: [(10, 3), (1, 1), (7, 7), (100, 1), (1_000_003, 17), (5, 12), (0, 4), (8193, 2)])
    func shardsCoverTheRowsWithSizesWithinOne(rows: Int, shards: Int) {
        let plan = ShardPlan(rows: rows, shards: shards)
        #expect(plan.rows == rows)
        #expect(plan.count == min(max(shards, 1), max(rows, 1)))
        #expect(plan.ranges.map(\.count).reduce(0, +) == rows)
        #expect(plan.ranges.first?.lowerBound == 0)
        #expect(plan.ranges.last?.upperBound == rows)
        for (a, b) in zip(plan.ranges, plan.ranges.dropFirst()) {
            #expect(a.upperBound == b.lowerBound)
            #expect(a.count >= b.count)  // earlier shards are the larger ones
        }
        let sizes = plan.ranges.map(\.count)
        #expect(sizes.max()! - sizes.min()! <= 1)
    }

    @Test func exampleLayout() {
        #expect(ShardPlan(rows: 10, shards: 3).ranges == [0..<4, 4..<7, 7..<10])
        #expect(ShardPlan(rows: 3, shards: 0).ranges == [0..<3])
        #expect(ShardPlan(rows: 0, shards: 5).ranges == [0..<0])
    }

    @Test func planDependsOnlyOnRowsAndShards() {
        // Built twice, in different orders and from different threads, the plans agree.
        let a = (1...50).map { ShardPlan(rows: 12345, shards: $0) }
        let b = DispatchQueue.global().sync { (1...50).reversed().map { ShardPlan(rows: 12345, shards: $0) }.reversed() }
        #expect(a == Array(b))
    }

    @Test(arguments: [(0, 1), (1, 1), (8192, 1), (8193, 2), (81920, 10), (8192 * 1024, 1024), (8192 * 5000, 1024)])
    func defaultShardCount(rows: Int, expected: Int) {
        #expect(ShardPlan.defaultShardCount(rows: rows) == expected)
    }

    @Test func codableRoundTripAndValidation() throws {
        let plan = ShardPlan(rows: 100, shards: 7)
        let data = try JSONEncoder().encode(plan)
        #expect(try JSONDecoder().decode(ShardPlan.self, from: data) == plan)
        let gap = Data(#"{"rows": 10, "ranges": [[0, 4], [5, 10]]}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ShardPlan.self, from: gap) }
        let short = Data(#"{"rows": 10, "ranges": [[0, 4], [4, 9]]}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ShardPlan.self, from: short) }
    }
}
