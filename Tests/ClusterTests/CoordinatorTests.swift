import Cluster
import Datasets
import Engine
import Foundation
import Mixture
import Numerics
import Testing

/// The coordinator's membership, rebalancing and failure handling, driven in process through
/// the in-memory transport on a manual clock: each test covers seconds of simulated time in
/// milliseconds, without sleeping.
@Suite("Coordinator in memory")
struct CoordinatorTests {
    static let data = SyntheticMixture.generate(samples: 2000, features: 3, components: 3, seed: 7).features
    static let shards = 13

    static var jobs: JobRegistry {
        var jobs = JobRegistry()
        jobs.register(MixtureJob.self)
        return jobs
    }

    /// A coordinator over `workers` simulated workers (and the transport, to add more later).
    static func coordinator(
        workers: [String], timeout: Double = 5, waitWorkers: Double = 60, messageLimit: Int? = nil,
        events: EventRecorder = EventRecorder()
    ) throws -> (ClusterCoordinator, InMemoryTransport, [SimulatedWorker]) {
        let clock = ManualClock()
        let transport = InMemoryTransport(clock: clock)
        var options = CoordinatorOptions(endpoint: transport.endpoint)
        options.minWorkers = workers.count
        options.workerTimeout = timeout
        options.waitWorkers = waitWorkers
        options.messageLimit = messageLimit ?? MixtureJob.messageLimit(largestShard: 200, columns: 3)
        let spec = JobSpec(path: "in-memory", csv: CSVOptions(), rows: data.rows, columns: data.columns, shards: shards,
                           fingerprint: "fingerprint", stream: false)
        let coordinator = try ClusterCoordinator(options: options, spec: spec, transport: transport, clock: clock) { events.record($0) }
        let simulated = workers.map { SimulatedWorker(name: $0, data: data, jobs: jobs) }
        for worker in simulated { transport.add(worker) }
        return (coordinator, transport, simulated)
    }

    /// The model one process gives with the same shards.
    static func reference(_ options: FitOptions) throws -> GaussianMixture {
        try MixtureFitter(runner: LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: shards), threads: 2), options: options).fit()
    }

    /// Eight EM iterations, none stopping early, so faults injected after an iteration fall within the fit.
    static var fitOptions: FitOptions {
        var options = FitOptions(components: 3)
        options.maxIterations = 8
        options.tolerance = 0
        return options
    }

    @Test("three workers share the shards evenly and give the one-process model bit for bit")
    func evenSplitSameBits() throws {
        let (coordinator, transport, workers) = try Self.coordinator(workers: ["a", "b", "c"])
        let model = try MixtureFitter(runner: coordinator, options: Self.fitOptions).fit()
        #expect(model.parameters == (try Self.reference(Self.fitOptions)).parameters)
        #expect(coordinator.liveWorkers == 3)
        // 13 shards over 3 workers: 5, 4, 4 per round.
        let perRound = workers.map { Double($0.shardsComputed) / Double($0.tasksReceived) }
        #expect(perRound.sorted() == [4, 4, 5])
        #expect(transport.clock.now() < 1, "no timeout should have been waited for")
    }

    @Test("a worker that goes silent is declared lost after --worker-timeout; its shards move within the round")
    func silentWorkerLosesItsShards() throws {
        let events = EventRecorder()
        let (coordinator, transport, workers) = try Self.coordinator(workers: ["a", "b", "c"], timeout: 5, events: events)
        let options = Self.fitOptions
        var iterations = 0
        let model = try MixtureFitter(runner: coordinator, options: options).fit(progress: { _ in
            iterations += 1
            if iterations == 2 { workers[1].behaviour = .silent }
        })
        #expect(model.parameters == (try Self.reference(options)).parameters)
        let lost = events.all.compactMap { event -> String? in
            if case let .workerLost(_, label, reason, pending) = event, pending > 0 { return "\(label): \(reason)" }
            return nil
        }
        #expect(lost.count == 1)
        #expect(lost.first?.contains("silent for more than 5.0 s") == true)
        #expect(coordinator.liveWorkers == 2)
        // Declared lost once the timeout passed, not before and not much later.
        #expect(transport.clock.now() > 5 && transport.clock.now() < 7)
    }

    @Test("a slow worker whose heartbeats arrive keeps its shards")
    func slowIsNotDead() throws {
        let events = EventRecorder()
        let (coordinator, transport, workers) = try Self.coordinator(workers: ["a", "b"], timeout: 2, events: events)
        workers[0].latency = 6
        let model = try MixtureFitter(runner: coordinator, options: Self.fitOptions).fit()
        #expect(model.parameters == (try Self.reference(Self.fitOptions)).parameters)
        #expect(!events.all.contains { if case .workerLost = $0 { return true } else { return false } })
        #expect(!events.all.contains { if case .shardsMoved(_, _, "a worker was lost") = $0 { return true } else { return false } })
        #expect(transport.clock.now() > 6)
    }

    @Test("results of a past round from a worker that stalled are dropped; it is told to rejoin and gets shards again")
    func stalledWorkerRejoins() throws {
        let events = EventRecorder()
        let (coordinator, transport, workers) = try Self.coordinator(workers: ["a", "b"], timeout: 2, events: events)
        var options = Self.fitOptions
        options.tolerance = 0
        options.maxIterations = 30
        var iterations = 0
        let model = try MixtureFitter(runner: coordinator, options: options).fit(progress: { _ in
            iterations += 1
            if iterations == 2 { workers[0].behaviour = .stalled(until: transport.clock.now() + 4) }
            if iterations == 12 { workers[0].behaviour = .normal }
        })
        #expect(model.parameters == (try Self.reference(options)).parameters)
        #expect(workers[0].welcomes == 2, "the stalled worker is welcomed again after it says hello")
        #expect(coordinator.liveWorkers == 2)
        let joined = events.all.filter { if case .workerJoined = $0 { return true } else { return false } }
        #expect(joined.count == 3)
    }

    @Test("a worker that sends a malformed result is dropped and its shards are computed by another")
    func lyingWorker() throws {
        let events = EventRecorder()
        let (coordinator, _, workers) = try Self.coordinator(workers: ["a", "b"], events: events)
        workers[1].behaviour = .lying
        let model = try MixtureFitter(runner: coordinator, options: Self.fitOptions).fit()
        #expect(model.parameters == (try Self.reference(Self.fitOptions)).parameters)
        #expect(events.all.contains { if case let .workerLost(_, _, reason, _) = $0 { return reason.contains("bad result") } else { return false } })
    }

    @Test("a worker that joins during a job gets shards at the next round")
    func lateJoiner() throws {
        let (coordinator, transport, workers) = try Self.coordinator(workers: ["a"])
        var iterations = 0
        let late = SimulatedWorker(name: "late", data: Self.data, jobs: Self.jobs)
        let model = try MixtureFitter(runner: coordinator, options: Self.fitOptions).fit(progress: { _ in
            iterations += 1
            if iterations == 2 { transport.add(late) }
        })
        #expect(model.parameters == (try Self.reference(Self.fitOptions)).parameters)
        #expect(late.shardsComputed > 0)
        #expect(workers[0].shardsComputed > late.shardsComputed)
    }

    @Test("with no worker left for --wait-workers the round fails with a message, in simulated time")
    func noWorkerLeft() throws {
        let (coordinator, transport, workers) = try Self.coordinator(workers: ["a"], timeout: 1, waitWorkers: 30)
        _ = try coordinator.run(MixtureJob.self, .columnMoments(shift: [0, 0, 0]))
        workers[0].behaviour = .silent
        #expect {
            _ = try coordinator.run(MixtureJob.self, .columnMoments(shift: [0, 0, 0]))
        } throws: { "\($0)".contains("no live worker for 30 s (--wait-workers)") }
        #expect(transport.clock.now() > 30 && transport.clock.now() < 32)
    }

    @Test("a task whose result can never fit the message limit ends the job with a message, before any work")
    func resultLargerThanTheLimit() throws {
        // One shard of 154 rows: its 3 probabilities per row (3.7 kB) cannot fit 2 kB, its labels (1.2 kB) can.
        let (coordinator, _, workers) = try Self.coordinator(workers: ["a"], messageLimit: 2048)
        let model = try PreparedMixture(try Self.reference(Self.fitOptions).parameters)
        #expect {
            _ = try coordinator.run(MixtureJob.self, .score(model: model, output: .probabilities))
        } throws: { "\($0)".contains("more than the coordinator's message limit") }
        #expect(workers[0].tasksReceived == 0)
        // A result that fits still runs.
        guard case let .scores(_, rows, _, perRow) = try coordinator.run(MixtureJob.self, .score(model: model, output: .labels)) else {
            Issue.record("no scores")
            return
        }
        #expect(rows == Self.data.rows && perRow.count == Self.data.rows)
    }
}

/// A job the runtime has never heard of: the first row index and row count of every shard,
/// concatenated. Registering it is all a worker needs.
enum ShardOrigins: ShardJob {
    static let identifier = "test.shard-origins"
    static func evaluate(_ task: Bool, on shard: ShardData, scratch: NoScratch) throws -> [Int] { [shard.firstRow, shard.rows] }
    static func combine(_ left: inout [Int], _ right: [Int]) { left += right }
    static func encode(task: Bool) -> [UInt8] { [task ? 1 : 0] }
    static func decodeTask(_ bytes: [UInt8], context: ShardContext) throws -> Bool { bytes == [1] }
    static func encode(result: [Int]) -> [UInt8] {
        var w = WireWriter()
        w.ints(result)
        return w.bytes
    }
    static func decodeResult(_ bytes: [UInt8], of task: Bool, shards: Range<Int>, context: ShardContext) throws -> [Int] {
        var r = WireReader(bytes, context: "origins")
        let values = try r.ints("origins", maxCount: 2 * shards.count)
        try r.finish()
        return values
    }
    static func largestResultBytes(of task: Bool, rows: Int, context: ShardContext) -> Int { 16 * context.plan.count + 8 }
}

extension CoordinatorTests {
    @Test("a job defined outside the runtime runs on it once registered, with results in shard order")
    func newJobNeedsNoRuntimeChange() throws {
        let clock = ManualClock()
        let transport = InMemoryTransport(clock: clock)
        var options = CoordinatorOptions(endpoint: transport.endpoint)
        options.minWorkers = 3
        let spec = JobSpec(path: "in-memory", csv: CSVOptions(), rows: Self.data.rows, columns: Self.data.columns, shards: Self.shards,
                           fingerprint: "fingerprint", stream: false)
        let coordinator = try ClusterCoordinator(options: options, spec: spec, transport: transport, clock: clock) { _ in }
        var jobs = JobRegistry()
        jobs.register(ShardOrigins.self)
        for name in ["a", "b", "c"] { transport.add(SimulatedWorker(name: name, data: Self.data, jobs: jobs)) }
        let origins = try coordinator.run(ShardOrigins.self, true)
        let expected = ShardPlan(rows: Self.data.rows, shards: Self.shards).ranges.flatMap { [$0.lowerBound, $0.count] }
        #expect(origins == expected)
        #expect(try LocalShards(data: Self.data, plan: spec.plan, threads: 2).run(ShardOrigins.self, true) == expected)
        // A worker that does not serve a job says so, and the round goes on without it.
        let (mixtureOnly, _, _) = try Self.coordinator(workers: ["m"], waitWorkers: 1)
        #expect(throws: ClusterError.self) { try mixtureOnly.run(ShardOrigins.self, true) }
    }
}

/// Collects cluster events from the coordinator.
final class EventRecorder: @unchecked Sendable {
    // @unchecked: tests record from the thread that runs the coordinator only.
    private(set) var all: [ClusterEvent] = []
    func record(_ event: ClusterEvent) { all.append(event) }
}

extension CoordinatorTests {
    @Test("a fit with sample weights on simulated workers is the bits of the in-process fit; a lost worker changes nothing")
    func weightedFitOnWorkers() throws {
        var generator = SeededGenerator(seed: 3)
        let weights = (0..<Self.data.rows).map { _ in Double(generator.nextInt(below: 4)) * 0.5 }
        var options = FitOptions(components: 3)
        options.maxIterations = 8
        options.tolerance = 0
        let local = try MixtureFitter(
            runner: LocalShards(data: Self.data, weights: weights, plan: ShardPlan(rows: Self.data.rows, shards: Self.shards), threads: 2),
            options: options).fit()
        let clock = ManualClock()
        let transport = InMemoryTransport(clock: clock)
        var coordinatorOptions = CoordinatorOptions(endpoint: transport.endpoint)
        coordinatorOptions.minWorkers = 3
        var spec = JobSpec(path: "in-memory", csv: CSVOptions(), rows: Self.data.rows, columns: 3, shards: Self.shards,
                           fingerprint: "fingerprint", stream: false)
        spec.weightFile = "in-memory weights"
        let coordinator = try ClusterCoordinator(options: coordinatorOptions, spec: spec, transport: transport, clock: clock) { _ in }
        let workers = ["a", "b", "c"].map { SimulatedWorker(name: $0, data: Self.data, weights: weights, jobs: Self.jobs) }
        for worker in workers { transport.add(worker) }
        var lost = false
        let distributed = try MixtureFitter(runner: coordinator, options: options).fit(progress: { step in
            if step.iteration == 3, !lost { workers[1].behaviour = .silent; lost = true }
        })
        #expect(distributed.parameters == local.parameters)
        #expect(distributed.logLikelihoodHistory == local.logLikelihoodHistory)
    }
}
