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
