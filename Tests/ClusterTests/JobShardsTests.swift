import Cluster
import Datasets
import Engine
import Foundation
import Testing

/// Opening a job's data from a file, as the command line and Swift programs do.
@Suite("Opening a job's shards")
struct JobShardsTests {
    static func writtenData() throws -> (path: String, data: FeatureMatrix) {
        let data = SyntheticMixture.generate(samples: 500, features: 3, components: 2, seed: 11).features
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-jobshards-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("rows.npy").path
        try NPYWriter.write(data, to: path)
        return (path, data)
    }

    @Test("in process, the file's rows are cut into the default shards and a registered job runs on them")
    func inProcess() throws {
        let (path, data) = try Self.writtenData()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let job = try JobShards(path: path, csv: CSVOptions(), shards: nil, threads: 2, cluster: ClusterSettings(),
                                defaultShards: { _ in 7 }, messageLimit: { _ in 1 << 20 }, workerExecutable: "/nonexistent") { _ in
            Issue.record("no cluster events in process")
        }
        defer { job.finish() }
        #expect(job.coordinator == nil && job.liveWorkers == nil)
        #expect(job.runner.plan.count == 7 && job.runner.dimension == 3)
        let origins = try job.runner.run(ShardOrigins.self, true)
        let expected = ShardPlan(rows: data.rows, shards: 7).ranges.flatMap { [$0.lowerBound, $0.count] }
        #expect(origins == expected)
    }

    @Test("a file that cannot be read fails before anything starts, naming the file")
    func unreadable() throws {
        var settings = ClusterSettings()
        settings.workers = 2
        for cluster in [ClusterSettings(), settings] {
            #expect {
                _ = try JobShards(path: "/nonexistent/rows.npy", csv: CSVOptions(), shards: nil, threads: 1, cluster: cluster,
                                  messageLimit: { _ in 1 << 20 }, workerExecutable: "/nonexistent") { _ in }
            } throws: { error in
                "\(error)".contains("/nonexistent/rows.npy")
            }
        }
    }
}

/// A test job: each shard's row count and its weights as it received them (nil as -1).
enum ShardWeights: ShardJob {
    static let identifier = "test.shard-weights"
    static func evaluate(_ task: Bool, on shard: ShardData, scratch: NoScratch) throws -> [Double] {
        [Double(shard.rows)] + (shard.weights ?? [-1])
    }
    static func combine(_ left: inout [Double], _ right: [Double]) { left += right }
    static func encode(task: Bool) -> [UInt8] { [task ? 1 : 0] }
    static func decodeTask(_ bytes: [UInt8], context: ShardContext) throws -> Bool { bytes == [1] }
    static func encode(result: [Double]) -> [UInt8] {
        var w = WireWriter()
        w.doubles(result)
        return w.bytes
    }
    static func decodeResult(_ bytes: [UInt8], of task: Bool, shards: Range<Int>, context: ShardContext) throws -> [Double] {
        var r = WireReader(bytes, context: "weights")
        let values = try r.doubles("weights")
        try r.finish()
        return values
    }
    static func largestResultBytes(of task: Bool, rows: Int, context: ShardContext) -> Int { 8 * (rows + context.plan.count) + 8 }
}

extension JobShardsTests {
    @Test("weights from a file or a column reach every job as each shard's weights; without them shards have none")
    func weightsReachShards() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let data = folder.appendingPathComponent("d.csv").path
        try "a,w\n1,0.5\n2,0\n3,2\n4,1\n5,3\n".write(toFile: data, atomically: true, encoding: .utf8)
        let file = folder.appendingPathComponent("w.txt").path
        try "0.5\n0\n2\n1\n3\n".write(toFile: file, atomically: true, encoding: .utf8)
        func open(_ csv: CSVOptions, weights: String?) throws -> JobShards {
            try JobShards(path: data, csv: csv, shards: 2, threads: 2, cluster: ClusterSettings(), weights: weights,
                          messageLimit: { _ in 1 << 20 }, workerExecutable: "/nonexistent") { _ in }
        }
        let expected: [Double] = [3, 0.5, 0, 2, 2, 1, 3]
        #expect(try open(CSVOptions(columns: ["a"]), weights: file).runner.run(ShardWeights.self, true) == expected)
        let column = try open(CSVOptions(weightColumn: "w"), weights: nil)
        #expect(column.runner.dimension == 1)
        #expect(try column.runner.run(ShardWeights.self, true) == expected)
        #expect(try open(CSVOptions(columns: ["a"]), weights: nil).runner.run(ShardWeights.self, true) == [3, -1, 2, -1])
    }

    @Test("a weight file of the wrong length, with a bad weight, or all zero fails before any work, naming the file")
    func badWeights() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-weights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (path, data) = try Self.writtenData()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let cases: [([Double], String)] = [
            (Array(repeating: 1, count: data.rows - 1), "has \(data.rows - 1) weights but \(path) has \(data.rows) rows"),
            (Array(repeating: 1, count: 7) + [-1] + Array(repeating: 1, count: data.rows - 8), "row 7: weight -1.0 is negative"),
            (Array(repeating: 0, count: data.rows), "every sample weight is zero"),
        ]
        var distributed = ClusterSettings()
        distributed.workers = 2
        for (index, (weights, message)) in cases.enumerated() {
            let file = folder.appendingPathComponent("w\(index).npy").path
            try NPYWriter.writeVector(weights, to: file)
            for cluster in [ClusterSettings(), distributed] {
                #expect {
                    _ = try JobShards(path: path, csv: CSVOptions(), shards: nil, threads: 1, cluster: cluster, weights: file,
                                      messageLimit: { _ in 1 << 20 }, workerExecutable: "/nonexistent") { _ in }
                } throws: { error in
                    "\(error)".hasPrefix(file + ": ") && "\(error)".contains(message)
                }
            }
        }
    }
}
