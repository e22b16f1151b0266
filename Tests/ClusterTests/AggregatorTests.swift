import Cluster
import Datasets
import Engine
import Foundation
import Mixture
import Testing

/// Aggregators on the real coordinator, in process: the real aggregator logic between the
/// in-memory transport and simulated workers, on a manual clock.
@Suite("Aggregators in memory")
struct AggregatorTests {
    static let data = SyntheticMixture.generate(samples: 2400, features: 3, components: 3, seed: 11).features
    static let shards = 24

    static var jobs: JobRegistry {
        var jobs = JobRegistry()
        jobs.register(MixtureJob.self)
        jobs.register(ShardOrigins.self)
        return jobs
    }

    /// A coordinator with `groups` aggregators, each with the named workers behind it, and `direct`
    /// workers connected to it.
    static func cluster(groups: [[String]], direct: [String] = [], events: EventRecorder = EventRecorder())
        throws -> (ClusterCoordinator, InMemoryTransport, [SimulatedAggregator], [[SimulatedWorker]], [SimulatedWorker])
    {
        let clock = ManualClock()
        let transport = InMemoryTransport(clock: clock)
        var options = CoordinatorOptions(endpoint: transport.endpoint)
        options.minWorkers = groups.joined().count + direct.count
        options.workerTimeout = 5
        options.messageLimit = MixtureJob.messageLimit(largestShard: 200, columns: 3)
        let spec = JobSpec(path: "in-memory", csv: CSVOptions(), rows: data.rows, columns: data.columns, shards: shards,
                           fingerprint: "fingerprint", stream: false)
        let coordinator = try ClusterCoordinator(options: options, spec: spec, transport: transport, clock: clock) { events.record($0) }
        var aggregators = [SimulatedAggregator]()
        var behind = [[SimulatedWorker]]()
        for (index, names) in groups.enumerated() {
            let aggregator = SimulatedAggregator(name: "g\(index)", jobs: jobs, clock: clock)
            transport.add(aggregator)
            aggregators.append(aggregator)
            behind.append(names.map { SimulatedWorker(name: $0, data: data, jobs: jobs) })
        }
        let directWorkers = direct.map { SimulatedWorker(name: $0, data: data, jobs: jobs) }
        for (aggregator, workers) in zip(aggregators, behind) { for worker in workers { transport.add(worker, behind: aggregator) } }
        for worker in directWorkers { transport.add(worker) }
        return (coordinator, transport, aggregators, behind, directWorkers)
    }

    static func reference(_ options: FitOptions) throws -> GaussianMixture {
        try MixtureFitter(runner: LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: shards), threads: 2), options: options).fit()
    }

    /// The coordinator tests' eight iterations that never stop early.
    static var fitOptions: FitOptions { CoordinatorTests.fitOptions }

    @Test("one aggregator folds four workers' blocks into one result per round, and the model is the one-process bits")
    func foldsToOneResultPerRound() throws {
        let (coordinator, transport, aggregators, _, _) = try Self.cluster(groups: [["a", "b", "c", "d"]])
        let model = try MixtureFitter(runner: coordinator, options: Self.fitOptions).fit()
        #expect(model.parameters == (try Self.reference(Self.fitOptions)).parameters)
        #expect(coordinator.liveWorkers == 4 && coordinator.liveAggregators == 1)
        #expect(aggregators[0].connectedWorkers == 4)
        // No worker result reached the coordinator; one folded block per round did (24 shards of one
        // aggregator: 0..<16 and 16..<24, the two maximal aligned blocks).
        #expect(transport.received[.result, default: 0] == 0)
        // (The root block of the padded tree covers all 24 shards: one block per round.)
        let rounds = transport.received[.groupResult, default: 0]
        #expect(rounds > 8)
        // The task went once per round to the aggregator, never to a worker.
        #expect(transport.sent[.groupTask, default: 0] == rounds)
        #expect(transport.sent[.task, default: 0] == 0)
        print(transport.sentBytes)
        // Heartbeats of the four workers became one state message per period.
        #expect(transport.received[.heartbeat, default: 0] < transport.received[.groupState, default: 0] + 1)
    }

    @Test("workers behind two aggregators and one direct give results in shard order")
    func mixedLayoutKeepsShardOrder() throws {
        let (coordinator, _, _, _, _) = try Self.cluster(groups: [["a", "b"], ["c", "d", "e"]], direct: ["f"])
        let origins = try coordinator.run(ShardOrigins.self, true)
        #expect(origins == ShardPlan(rows: Self.data.rows, shards: Self.shards).ranges.flatMap { [$0.lowerBound, $0.count] })
        let model = try MixtureFitter(runner: coordinator, options: Self.fitOptions).fit()
        #expect(model.parameters == (try Self.reference(Self.fitOptions)).parameters)
    }

    @Test("a silent and a lying worker behind an aggregator lose their shards to others in the round; the model is unchanged")
    func workerFailuresBehindAnAggregator() throws {
        let events = EventRecorder()
        let (coordinator, _, _, behind, _) = try Self.cluster(groups: [["a", "b", "c"], ["d", "e"]], events: events)
        var iterations = 0
        let model = try MixtureFitter(runner: coordinator, options: Self.fitOptions).fit(progress: { _ in
            iterations += 1
            if iterations == 2 { behind[0][1].behaviour = .silent }
            if iterations == 4 { behind[1][0].behaviour = .lying }
        })
        #expect(model.parameters == (try Self.reference(Self.fitOptions)).parameters)
        let reasons = events.all.compactMap { event -> String? in
            if case let .workerLost(_, _, reason, _) = event { return reason }
            return nil
        }
        #expect(reasons.contains { $0.contains("silent for more than 5.0 s at its aggregator") })
        #expect(reasons.contains { $0.contains("bad result") && $0.contains("reported by aggregator") })
    }

    @Test("a dead aggregator's workers are lost with it; when they connect to the coordinator instead, the fit goes on to the same bits")
    func deadAggregator() throws {
        let events = EventRecorder()
        let (coordinator, transport, aggregators, behind, _) = try Self.cluster(groups: [["a", "b"], ["c", "d"]], events: events)
        var iterations = 0
        let model = try MixtureFitter(runner: coordinator, options: Self.fitOptions).fit(progress: { _ in
            iterations += 1
            if iterations == 3 {
                aggregators[1].silent = true
                for worker in behind[1] { transport.reconnect(worker) }
            }
        })
        #expect(model.parameters == (try Self.reference(Self.fitOptions)).parameters)
        #expect(events.all.contains { if case .aggregatorLost(_, _, let reason, 2) = $0 { reason.contains("silent") } else { false } })
        #expect(coordinator.liveAggregators == 1 && coordinator.liveWorkers == 4)
    }

    @Test("an aggregator that sends a malformed sum is lost with its workers; they rejoin through it and the model is unchanged")
    func lyingAggregator() throws {
        let events = EventRecorder()
        let (coordinator, _, aggregators, _, _) = try Self.cluster(groups: [["a", "b"]], direct: ["c"], events: events)
        var iterations = 0
        let model = try MixtureFitter(runner: coordinator, options: Self.fitOptions).fit(progress: { _ in
            iterations += 1
            if iterations == 2 { aggregators[0].lying = true }
            if iterations == 3 { aggregators[0].lying = false }
        })
        #expect(model.parameters == (try Self.reference(Self.fitOptions)).parameters)
        #expect(events.all.contains { if case .aggregatorLost(_, _, let reason, 2) = $0 { reason.contains("malformed") } else { false } })
    }
}
