import Cluster
import Datasets
import Engine
import Foundation
import Mixture
import Testing

/// Variational Bayes on the real coordinator with simulated workers serving only the mixture job:
/// a model added without a job of its own, giving the one-process posterior bit for bit through worker failures.
@Suite("Variational mixtures on the coordinator in memory")
struct VariationalOnCoordinatorTests {
    static let data = SyntheticMixture.generate(samples: 3000, features: 3, components: 3, seed: 21).features
    static let shards = 9

    static func coordinator(workers: [String], events: EventRecorder = EventRecorder()) throws -> (ClusterCoordinator, [SimulatedWorker]) {
        let clock = ManualClock()
        let transport = InMemoryTransport(clock: clock)
        var options = CoordinatorOptions(endpoint: transport.endpoint)
        options.minWorkers = workers.count
        options.workerTimeout = 5
        options.messageLimit = MixtureJob.messageLimit(largestShard: 400, columns: 3)
        let spec = JobSpec(path: "in-memory", csv: CSVOptions(), rows: data.rows, columns: data.columns, shards: shards,
                           fingerprint: "fingerprint", stream: false)
        let coordinator = try ClusterCoordinator(options: options, spec: spec, transport: transport, clock: clock) { events.record($0) }
        var jobs = JobRegistry()
        jobs.register(MixtureJob.self)
        let simulated = workers.map { SimulatedWorker(name: $0, data: data, jobs: jobs) }
        for worker in simulated { transport.add(worker) }
        return (coordinator, simulated)
    }

    static var options: FitOptions {
        var options = FitOptions(components: 6)
        options.covarianceType = .full
        options.tolerance = 0
        options.maxIterations = 10
        options.restarts = 2
        options.seed = 4
        return options
    }

    static let priors = VariationalOptions(weightPriorType: .dirichletProcess)

    @Test("three workers give the one-process posterior bit for bit, also when one goes silent and one lies mid-fit")
    func samePosteriorThroughFailures() throws {
        let local = LocalShards(data: Self.data, plan: ShardPlan(rows: Self.data.rows, shards: Self.shards), threads: 2)
        let expected = try VariationalMixtureFitter(runner: local, options: Self.options, variational: Self.priors).fit()
        #expect(expected.variational != nil)

        let events = EventRecorder()
        let (coordinator, workers) = try Self.coordinator(workers: ["a", "b", "c", "d"], events: events)
        var iterations = 0
        let model = try VariationalMixtureFitter(runner: coordinator, options: Self.options, variational: Self.priors).fit(progress: { _ in
            iterations += 1
            if iterations == 3 { workers[1].behaviour = .silent }
            if iterations == 14 { workers[2].behaviour = .lying }
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
