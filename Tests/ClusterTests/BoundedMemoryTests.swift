import Cluster
import Datasets
import Engine
import Foundation
import Mixture
import Numerics
import Testing
import Training

/// Shards over a process's `--memory-limit` are read from their file on every pass, and every
/// job gives the bits it gives with every shard in memory.
@Suite("Bounded-memory shards")
struct BoundedMemoryTests {
    static let generated = SyntheticMixture.generate(samples: 3000, features: 5, components: 3, seed: 21)
    static let shards = 9

    /// The data as `.npy` in `precision`, with its labels as a text file, in a fresh folder.
    static func written(_ precision: ScalarType) throws -> (folder: URL, data: String, labels: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-bounded-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let data = folder.appendingPathComponent("rows.npy").path
        try NPYWriter.write(generated.features.converted(to: precision), to: data)
        let labels = folder.appendingPathComponent("labels.txt").path
        try (generated.labels.map(String.init).joined(separator: "\n") + "\n").write(toFile: labels, atomically: true, encoding: .utf8)
        return (folder, data, labels)
    }

    /// A limit that keeps about a third of the shards in memory.
    static func limit(_ precision: ScalarType) -> MemoryLimit {
        let shardBytes = generated.features.rows / shards * generated.features.columns * precision.byteWidth
        return MemoryLimit(bytes: MemoryLimit.reserveBytes + 3 * shardBytes + shardBytes / 2)
    }

    static func open(_ path: String, csv: CSVOptions = CSVOptions(), limit: MemoryLimit?, labels: JobSpec.LabelSource = .none,
                     events: Locked<[ClusterEvent]> = Locked([])) throws -> JobShards {
        var settings = ClusterSettings()
        settings.memoryLimit = limit
        return try JobShards(path: path, csv: csv, shards: shards, threads: 2, cluster: settings, labels: labels,
                             messageLimit: { _ in 1 << 24 }, workerExecutable: "/nonexistent") { event in events.withLock { $0.append(event) } }
    }

    @Test("EM, stepwise EM, k-means and training give the in-memory bits with most shards read from the file",
          arguments: [ScalarType.float64, .float32])
    func sameBits(precision: ScalarType) throws {
        let (folder, data, labels) = try Self.written(precision)
        defer { try? FileManager.default.removeItem(at: folder) }
        let events = Locked<[ClusterEvent]>([])
        let memory = try Self.open(data, limit: nil), bounded = try Self.open(data, limit: Self.limit(precision), events: events)
        let residency = events.current.compactMap { event -> (Int, Int)? in
            if case let .residency(kept, _, streamed, _, _, _) = event { return (kept, streamed) }
            return nil
        }
        #expect(residency.count == 1 && residency.first.map { $0 == (3, 6) } == true, "\(events.current)")

        var options = FitOptions(components: 3)
        options.maxIterations = 6
        options.tolerance = 0
        for type in CovarianceType.allCases {
            options.covarianceType = type
            let expected = try MixtureFitter(runner: memory.runner, options: options).fit()
            #expect(try MixtureFitter(runner: bounded.runner, options: options).fit() == expected, "\(type)")
        }
        options.covarianceType = .full
        // 500 rows a step: no room to read steps ahead, each row is read on its own; 30 rows a
        // step (4 of each shard's) and 8 (1 of each shard's): the streamed shards read several
        // steps at once into half their staging memory, and the next stage on another thread.
        for batchSize in [500, 30, 8] {
            var online = OnlineOptions()
            online.batchSize = batchSize
            #expect(try OnlineMixtureFitter(runner: bounded.runner, options: options, online: online).fit()
                    == OnlineMixtureFitter(runner: memory.runner, options: options, online: online).fit(), "\(batchSize)")
        }

        var kmeans = KMeansOptions(clusters: 3)
        kmeans.maxIterations = 5
        kmeans.tolerance = 0
        #expect(try KMeansFitter(runner: bounded.runner, options: kmeans).fit() == KMeansFitter(runner: memory.runner, options: kmeans).fit())

        let classes = JobSpec.LabelSource.classes(file: labels, classes: ["0", "1", "2"])
        var training = TrainingOptions()
        training.hidden = [8]
        training.epochs = 3
        training.batchSize = 64
        let trainedInMemory = try NetworkTrainer(runner: try Self.open(data, limit: nil, labels: classes).runner, options: training, outputs: 3).train()
        let trainedBounded = try NetworkTrainer(
            runner: try Self.open(data, limit: Self.limit(precision), labels: classes).runner, options: training, outputs: 3).train()
        #expect(trainedBounded.parameters == trainedInMemory.parameters)
    }

    @Test("a text file whose rows do not fit is refused before any work, naming emfleet data convert")
    func textIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-bounded-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("rows.csv").path
        try CSVWriter.write(Self.generated.features, columnNames: nil, to: path)
        let tight = MemoryLimit(bytes: MemoryLimit.reserveBytes + 1000)
        #expect {
            _ = try Self.open(path, limit: tight)
        } throws: { error in
            "\(error)".hasPrefix(path + ": ") && "\(error)".contains("`emfleet data convert \(path) \(folder.path)/rows.npy`")
        }
        // A text file that fits is kept in memory as without a limit.
        #expect(try Self.open(path, limit: MemoryLimit(bytes: MemoryLimit.reserveBytes + (1 << 20))).runner.plan.count == Self.shards)
    }
}
