import Cluster
import Datasets
import Engine
import Foundation
import Mixture
import Testing

/// k-means on the real coordinator with simulated workers: a job added without touching the
/// runtime, giving the one-process model bit for bit through worker failures.
@Suite("k-means on the coordinator in memory")
struct KMeansOnCoordinatorTests {
    static let data = SyntheticMixture.generate(samples: 3000, features: 4, components: 5, seed: 13).features
    static let shards = 11

    static func coordinator(workers: [String], events: EventRecorder = EventRecorder()) throws -> (ClusterCoordinator, [SimulatedWorker]) {
        let clock = ManualClock()
        let transport = InMemoryTransport(clock: clock)
        var options = CoordinatorOptions(endpoint: transport.endpoint)
        options.minWorkers = workers.count
        options.workerTimeout = 5
        options.messageLimit = KMeansJob.messageLimit(largestShard: 300, columns: 4)
        let spec = JobSpec(path: "in-memory", csv: CSVOptions(), rows: data.rows, columns: data.columns, shards: shards,
                           fingerprint: "fingerprint", stream: false)
        let coordinator = try ClusterCoordinator(options: options, spec: spec, transport: transport, clock: clock) { events.record($0) }
        var jobs = JobRegistry()
        jobs.register(MixtureJob.self)
        jobs.register(KMeansJob.self)
        let simulated = workers.map { SimulatedWorker(name: $0, data: data, jobs: jobs) }
        for worker in simulated { transport.add(worker) }
        return (coordinator, simulated)
    }

    static var options: KMeansOptions {
        var options = KMeansOptions(clusters: 5)
        options.initialisation = .random
        options.runs = 2
        options.seed = 6
        options.tolerance = 0
        options.maxIterations = 12
        return options
    }

    static func reference() throws -> KMeansModel {
        try KMeansFitter(runner: LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: shards), threads: 2), options: options).fit()
    }

    @Test("three workers give the one-process model bit for bit, also when one goes silent and one lies mid-fit")
    func sameModelThroughFailures() throws {
        let expected = try Self.reference()
        let (steady, _) = try Self.coordinator(workers: ["a", "b", "c"])
        #expect(try KMeansFitter(runner: steady, options: Self.options).fit() == expected)

        let events = EventRecorder()
        let (coordinator, workers) = try Self.coordinator(workers: ["a", "b", "c", "d"], events: events)
        var iterations = 0
        let model = try KMeansFitter(runner: coordinator, options: Self.options).fit(progress: { _ in
            iterations += 1
            if iterations == 3 { workers[1].behaviour = .silent }
            if iterations == 5 { workers[2].behaviour = .lying }
        })
        #expect(model == expected)
        let reasons = events.all.compactMap { event -> String? in
            if case let .workerLost(_, label, reason, _) = event { return "\(label): \(reason)" }
            return nil
        }
        #expect(reasons.contains { $0.contains("silent for more than 5.0 s") })
        #expect(reasons.contains { $0.contains("bad result") })
    }
}
