import Datasets
import Engine
import Numerics
import Testing

/// A job written in a test, as a new job would be: nothing in the runtime changes for it.
enum ColumnSums: ShardJob {
    static let identifier = "test.column-sums"
    /// Sums every column of the shard's rows; the task is the column count.
    static func evaluate(_ task: Int, on shard: ShardData, scratch: NoScratch) throws -> [Double] {
        var sums = [Double](repeating: 0, count: task)
        for row in shard.positions {
            for column in 0..<task { sums[column] += shard.features[row: row, column: column] }
        }
        return sums
    }
    static func combine(_ left: inout [Double], _ right: [Double]) { for i in left.indices { left[i] += right[i] } }
    static func encode(task: Int) -> [UInt8] {
        var w = WireWriter()
        w.int(task)
        return w.bytes
    }
    static func decodeTask(_ bytes: [UInt8], context: ShardContext) throws -> Int {
        var r = WireReader(bytes, context: "column sums task")
        let columns = try r.int("columns", in: context.dimension...context.dimension)
        try r.finish()
        return columns
    }
    static func encode(result: [Double]) -> [UInt8] {
        var w = WireWriter()
        w.doubles(result)
        return w.bytes
    }
    static func decodeResult(_ bytes: [UInt8], of task: Int, shards: Range<Int>, context: ShardContext) throws -> [Double] {
        var r = WireReader(bytes, context: "column sums")
        let sums = try r.doubles("sums", expected: task)
        try r.finish()
        return sums
    }
    static func largestResultBytes(of task: Int, rows: Int, context: ShardContext) -> Int { 8 * task + 8 }
}

/// The in-process runner and the arithmetic it shares with workers.
@Suite("Local shards")
struct LocalShardsTests {
    static let data: FeatureMatrix = {
        var generator = SeededGenerator(seed: 11)
        return FeatureMatrix(rows: 1000, columns: 3, values: (0..<3000).map { _ in generator.nextUniform() * 1e3 - 500 })
    }()

    @Test("results are added by the shard tree: the same bits for any thread count", arguments: [1, 2, 5])
    func treeSumForAnyThreadCount(threads: Int) throws {
        let plan = ShardPlan(rows: Self.data.rows, shards: 7)
        let sums = try LocalShards(data: Self.data, plan: plan, threads: threads).run(ColumnSums.self, 3)
        // The tree over 7 shards, written out: ((0+1)+(2+3))+((4+5)+6).
        let leaves = try plan.ranges.map { range in
            try ColumnSums.evaluate(3, on: ShardData(index: 0, features: Self.data, positions: range, firstRow: range.lowerBound), scratch: .shared)
        }
        func add(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map(+) }
        let expected = add(add(add(leaves[0], leaves[1]), add(leaves[2], leaves[3])), add(add(leaves[4], leaves[5]), leaves[6]))
        #expect(sums == expected)
        // And not the sequential sum, which rounds differently on these numbers.
        let sequential = leaves.dropFirst().reduce(leaves[0], add)
        #expect(sums != sequential)
    }

    @Test("a shard's failure stops the task and reaches the caller")
    func failuresPropagate() {
        enum Refusing: ShardJob {
            static let identifier = "test.refusing"
            static func evaluate(_ task: Int, on shard: ShardData, scratch: NoScratch) throws -> Int {
                if shard.index == task { throw FatalJobError("shard \(shard.index) refuses") }
                return 1
            }
            static func combine(_ left: inout Int, _ right: Int) { left += right }
            static func encode(task: Int) -> [UInt8] { [] }
            static func decodeTask(_ bytes: [UInt8], context: ShardContext) throws -> Int { 0 }
            static func encode(result: Int) -> [UInt8] { [] }
            static func decodeResult(_ bytes: [UInt8], of task: Int, shards: Range<Int>, context: ShardContext) throws -> Int { 0 }
            static func largestResultBytes(of task: Int, rows: Int, context: ShardContext) -> Int { 8 }
        }
        let runner = LocalShards(data: Self.data, plan: ShardPlan(rows: Self.data.rows, shards: 4), threads: 2)
        #expect(throws: FatalJobError.self) { try runner.run(Refusing.self, 2) }
        #expect((try? runner.run(Refusing.self, 9)) == 4)
    }

    @Test("blocks too large for a message are split into aligned halves, down to single shards")
    func splitting() {
        let blocks = ShardTree.split(0..<8, shards: 7) { $0.count > 2 }
        #expect(blocks == [0..<2, 2..<4, 4..<6, 6..<8])
        #expect(ShardTree.split(0..<8, shards: 7) { _ in true } == (0..<7).map { $0..<($0 + 1) })
        #expect(ShardTree.split(4..<8, shards: 7) { _ in false } == [4..<8])
    }
}
