import Cluster
import Datasets
import DeepMixture
import Engine
import Foundation
import Testing

/// DAGMM training on the real coordinator with simulated workers: the job runs on the runtime
/// unchanged and gives the one-process model bit for bit, also when workers fail mid-training.
@Suite("DAGMM on the coordinator in memory")
struct DAGMMOnCoordinatorTests {
    static let data = SyntheticMixture.generate(samples: 400, features: 5, components: 2, seed: 21).features
    static let shards = 6

    static var options: DAGMMOptions {
        var options = DAGMMOptions(components: 2)
        options.encoder = [5, 2]
        options.estimator = [4]
        options.epochs = 6
        options.batchSize = 128
        options.learningRate = 1e-2
        options.seed = 3
        return options
    }

    static func coordinator(workers: [String], lost: LostWorkers) throws -> (ClusterCoordinator, [SimulatedWorker]) {
        let clock = ManualClock()
        let transport = InMemoryTransport(clock: clock)
        var options = CoordinatorOptions(endpoint: transport.endpoint)
        options.minWorkers = workers.count
        options.workerTimeout = 5
        let architecture = DAGMMArchitecture(inputs: 5, encoder: [5, 2], estimator: [4], components: 2)
        options.messageLimit = DAGMMJob.messageLimit(architecture: architecture, largestShard: 100)
        let spec = JobSpec(path: "in-memory", csv: CSVOptions(), rows: data.rows, columns: data.columns, shards: shards,
                           fingerprint: "fingerprint", stream: false)
        let coordinator = try ClusterCoordinator(options: options, spec: spec, transport: transport, clock: clock) { event in
            if case let .workerLost(_, label, reason, _) = event { lost.reasons.append("\(label): \(reason)") }
        }
        var jobs = JobRegistry()
        jobs.register(ColumnRangeJob.self)
        jobs.register(DAGMMJob.self)
        let simulated = workers.map { SimulatedWorker(name: $0, data: data, jobs: jobs) }
        for worker in simulated { transport.add(worker) }
        return (coordinator, simulated)
    }

    @Test("three workers give the one-process model bit for bit, also when one goes silent and one lies mid-training")
    func sameModelThroughFailures() throws {
        let local = try DAGMMTrainer(runner: LocalShards(data: Self.data, plan: ShardPlan(rows: Self.data.rows, shards: Self.shards), threads: 2),
                                     options: Self.options).fit()
        let lost = LostWorkers()
        let (coordinator, workers) = try Self.coordinator(workers: ["a", "b", "c", "d"], lost: lost)
        let distributed = try DAGMMTrainer(runner: coordinator, options: Self.options).fit { epoch in
            if epoch.epoch == 2 { workers[1].behaviour = .silent }
            if epoch.epoch == 4 { workers[2].behaviour = .lying }
        }
        #expect(distributed.parameters == local.parameters)
        #expect(distributed.mixture == local.mixture)
        #expect(distributed.trainingEnergyQuantiles == local.trainingEnergyQuantiles)
        #expect(distributed.history.map(\.loss) == local.history.map(\.loss))
        #expect(lost.reasons.contains { $0.contains("silent for more than 5.0 s") })
        #expect(lost.reasons.contains { $0.contains("bad result") })
    }
}

/// The reasons the coordinator gave for losing workers.
final class LostWorkers: @unchecked Sendable {
    // @unchecked: written from the thread that runs the coordinator only.
    var reasons: [String] = []
}
