import Numerics
import Datasets
import Engine
import Foundation

/// A coordinator transport that lives in memory, with workers simulated in the same process,
/// on a ``ManualClock``: the embedded counterpart of ``ZMQCoordinatorTransport`` for tests.
///
/// `poll(timeout:)` delivers what is due; when nothing is, it moves the clock to the next
/// message or heartbeat (or by the whole timeout), so a test of a 5-second worker timeout runs
/// in microseconds and never sleeps.
package final class InMemoryTransport: CoordinatorTransport, SimulatedLink {
    package let clock: ManualClock
    package private(set) var workers: [SimulatedWorker] = []
    package private(set) var aggregators: [SimulatedAggregator] = []
    /// Messages the coordinator received, by kind, for assertions.
    package private(set) var received: [MessageKind: Int] = [:]
    /// Messages the coordinator sent, by kind, for assertions.
    package private(set) var sent: [MessageKind: Int] = [:]
    /// Bytes the coordinator sent, by kind.
    package private(set) var sentBytes: [MessageKind: Int] = [:]
    package let endpoint = "inmemory://coordinator"
    /// Messages on their way to the coordinator, with the time they arrive.
    private var inbox: [(time: Double, sequence: Int, frames: [[UInt8]])] = []
    private var sequence = 0

    package init(clock: ManualClock) { self.clock = clock }

    /// Adds a worker that says hello at once, to the coordinator or to `aggregator`.
    package func add(_ worker: SimulatedWorker, behind aggregator: SimulatedAggregator? = nil) {
        workers.append(worker)
        worker.transport = aggregator ?? self
        aggregator?.workers.append(worker)
        worker.nextHeartbeat = clock.now() + worker.heartbeatPeriod
        worker.say(.hello, body: Hello(host: "sim", pid: workers.count, threads: 1, blasCore: worker.blasCore, software: "sim", name: worker.name,
                                       runnableCores: worker.runnableCores).body)
    }

    /// Adds an aggregator that says hello at once.
    package func add(_ aggregator: SimulatedAggregator) {
        aggregators.append(aggregator)
        aggregator.upstream = self
        aggregator.route(aggregator.core.start())
    }

    /// Moves a worker from behind its aggregator to the coordinator (one whose aggregator died
    /// and that turned to its fallback endpoint): it says hello as a new worker.
    package func reconnect(_ worker: SimulatedWorker) {
        for aggregator in aggregators { aggregator.workers.removeAll { $0 === worker } }
        worker.transport = self
        worker.rejoin()
    }

    /// Queues a message from a worker, arriving after `delay` seconds.
    package func deliver(from identity: [UInt8], _ frames: [[UInt8]], delay: Double) {
        sequence += 1
        inbox.append((clock.now() + delay, sequence, [identity] + frames))
        inbox.sort { ($0.time, $0.sequence) < ($1.time, $1.sequence) }
    }

    package func poll(timeout: Double) throws -> [TransportEvent] {
        let deadline = clock.now() + timeout
        while true {
            let now = clock.now()
            for worker in workers where worker.sendsHeartbeats && worker.nextHeartbeat <= now {
                worker.say(.heartbeat, body: nil)
                worker.nextHeartbeat = now + worker.heartbeatPeriod
            }
            for aggregator in aggregators { aggregator.process(now: now) }
            var due = [TransportEvent]()
            while let first = inbox.first, first.time <= now {
                inbox.removeFirst()
                if first.frames.count > 1, let envelope = try? Envelope.decode(first.frames[1]).get() {
                    received[envelope.kind, default: 0] += 1
                }
                due.append(.message(first.frames))
            }
            if !due.isEmpty { return due }
            let nextHeartbeat = workers.filter(\.sendsHeartbeats).map(\.nextHeartbeat).min() ?? .infinity
            let nextAggregator = aggregators.map(\.nextEvent).min() ?? .infinity
            let next = min(inbox.first?.time ?? .infinity, nextHeartbeat, nextAggregator)
            if next > deadline {
                clock.advance(by: deadline - now)
                return []
            }
            // Never standing still: something due now that did nothing must not spin the loop.
            clock.advance(by: max(1e-6, next - now))
        }
    }

    package func send(_ frames: [[UInt8]]) {
        guard let identity = frames.first else { return }
        if frames.count > 1, let envelope = try? Envelope.decode(frames[1]).get() {
            sent[envelope.kind, default: 0] += 1
            sentBytes[envelope.kind, default: 0] += frames.reduce(0) { $0 + $1.count }
        }
        if let aggregator = aggregators.first(where: { $0.identity == identity }) {
            aggregator.fromCoordinator(Array(frames.dropFirst()))
            return
        }
        guard let worker = workers.first(where: { $0.identity == identity && $0.transport === self }) else { return }
        worker.receive(Array(frames.dropFirst()))
    }

    package func close() {}
}

/// A worker simulated in process: it speaks the real protocol and computes the real jobs on
/// its own copy of the rows, and can be told to go silent, answer late or lie.
package final class SimulatedWorker {
    /// How it behaves.
    package enum Behaviour: Equatable {
        /// Answers every task after `latency`.
        case normal
        /// Says and sends nothing (a process stopped with SIGSTOP, or a cut link).
        case silent
        /// Sends results whose numbers are of the wrong shape.
        case lying
        /// Computes, but nothing it says arrives before `until` (a process stopped and resumed,
        /// or a link cut and restored): its results then belong to a past round.
        case stalled(until: Double)
    }

    package let name: String
    package let identity: [UInt8]
    package var behaviour = Behaviour.normal
    /// Seconds between a task's arrival and its results' arrival at the coordinator.
    package var latency = 0.001
    package var heartbeatPeriod = 0.5
    /// Tasks received (task orders with at least one shard), for assertions.
    package private(set) var tasksReceived = 0
    /// Shards computed, for assertions.
    package private(set) var shardsComputed = 0
    /// Times it was welcomed.
    package private(set) var welcomes = 0

    weak var transport: (any SimulatedLink)?
    var nextHeartbeat = 0.0
    private let data: FeatureMatrix
    private let weights: [Double]?
    private let jobs: JobRegistry
    private var job: JobSpec?
    private var jobID: UInt64 = 0
    private var held: [Int: FeatureMatrix] = [:]
    private let scratch = ScratchStore()
    /// The OpenBLAS kernel it says it computes with (the test process's by default).
    package var blasCore = BLAS.coreName
    /// The kernels it says its CPU can run.
    package var runnableCores: [String] = []

    /// A worker that reads its rows (and their `weights`) from `data` (the whole dataset, as
    /// shared storage would).
    package init(name: String, data: FeatureMatrix, weights: [Double]? = nil, jobs: JobRegistry) {
        self.name = name
        identity = Array(name.utf8)
        self.data = data
        self.weights = weights
        self.jobs = jobs
    }

    var sendsHeartbeats: Bool {
        switch behaviour {
        case .silent: false
        case let .stalled(until): (transport?.clock.now() ?? 0) >= until
        default: true
        }
    }

    /// Says hello again (a worker whose process resumed, or that restarted).
    package func rejoin() {
        say(.hello, body: Hello(host: "sim", pid: 0, threads: 1, blasCore: blasCore, software: "sim", name: name, runnableCores: runnableCores).body)
    }

    func say(_ kind: MessageKind, body: [UInt8]?, round: UInt64 = 0, delay: Double = 0) {
        say(kind, body.map { [$0] } ?? [], round: round, delay: delay)
    }

    /// Sends a message whose frames after the envelope are `parts`.
    func say(_ kind: MessageKind, _ parts: [[UInt8]], round: UInt64 = 0, delay: Double = 0) {
        guard behaviour != .silent, let transport else { return }
        let frames = [Envelope(kind, job: jobID, round: round).encoded] + parts
        var wait = delay
        if case let .stalled(until) = behaviour { wait = max(delay, until - transport.clock.now()) }
        transport.deliver(from: identity, frames, delay: wait)
    }

    func receive(_ frames: [[UInt8]]) {
        guard behaviour != .silent, let first = frames.first, let envelope = try? Envelope.decode(first).get() else { return }
        let body = frames.count > 1 ? frames[1] : []
        switch envelope.kind {
        case .welcome:
            welcomes += 1
        case .job:
            guard let spec = try? JobSpec(body: body) else { return }
            job = spec
            jobID = envelope.job
            held.removeAll()
            scratch.removeAll()
            say(.ready, body: TextBody.encode(spec.expectedFingerprint))
        case .task:
            guard let job, let order = try? TaskOrder(frames: frames.dropFirst(), shardCount: job.shards) else { return }
            for shard in order.release { held[shard] = nil }
            scratch.release(order.release)
            guard !order.shards.isEmpty else { return }
            tasksReceived += 1
            shardsComputed += order.shards.count
            compute(order, job: job, round: envelope.round)
        case .rejoin:
            job = nil
            rejoin()
        case .jobEnd, .shutdown:
            job = nil
        default:
            break
        }
    }

    private func compute(_ order: TaskOrder, job: JobSpec, round: UInt64) {
        let context = ShardContext(plan: job.plan, dimension: job.columns)
        do {
            guard let served = jobs[order.job] else { throw FatalJobError("no job \(order.job)") }
            let task = try served.prepare(order.task, context: context)
            let data = self.data, weights = self.weights
            let results = try task.compute(order.shards, 1, nil, { shard in
                let range = job.plan.ranges[shard]
                return ShardData(index: shard, features: data.rows(range), positions: 0..<range.count, firstRow: range.lowerBound,
                                 weights: weights.map { Array($0[range]) })
            }, scratch)
            for (block, bytes) in results {
                let outcome = behaviour == .lying ? Array(bytes.dropLast(8)) : bytes
                say(.result, ShardResult(shards: block, outcome: outcome, rows: block.clamped(to: 0..<job.plan.count).reduce(0) { $0 + job.plan.ranges[$1].count }).frames, round: round, delay: latency)
            }
        } catch {
            say(.failure, body: WorkerFailure(fatal: error is FatalJobError, message: "\(error)").body, round: round, delay: latency)
        }
    }
}

/// Where a simulated worker's messages go: the coordinator's transport, or an aggregator.
package protocol SimulatedLink: AnyObject {
    /// The simulated time.
    var clock: ManualClock { get }
    /// Queues a message from the worker whose identity is `identity`, arriving after `delay` seconds.
    func deliver(from identity: [UInt8], _ frames: [[UInt8]], delay: Double)
}

/// An aggregator simulated in process: the real ``AggregatorCore`` between the coordinator's
/// in-memory transport and simulated workers, which can be told to go silent (a dead aggregator).
package final class SimulatedAggregator: SimulatedLink {
    package let name: String
    package let identity: [UInt8]
    /// Says and relays nothing when true.
    package var silent = false
    /// Sends its folded results one byte short when true.
    package var lying = false
    /// Workers behind it.
    package fileprivate(set) var workers: [SimulatedWorker] = []
    package let clock: ManualClock
    let core: AggregatorCore
    weak var upstream: InMemoryTransport?
    /// Workers connected to it, as its logic counts them.
    package var connectedWorkers: Int { core.workerCount }
    private var inbox: [(time: Double, sequence: Int, identity: [UInt8], frames: [[UInt8]])] = []
    private var sequence = 0

    /// An aggregator that folds the results of `jobs`.
    package init(name: String, jobs: JobRegistry, clock: ManualClock) {
        self.name = name
        identity = Array("aggregator-\(name)".utf8)
        self.clock = clock
        core = AggregatorCore(hello: Hello(host: "sim", pid: 0, threads: 1, blasCore: "", software: "sim", name: name), jobs: jobs, clock: clock)
    }

    package func deliver(from identity: [UInt8], _ frames: [[UInt8]], delay: Double) {
        guard !silent else { return }
        sequence += 1
        inbox.append((clock.now() + delay, sequence, identity, frames))
        inbox.sort { ($0.time, $0.sequence) < ($1.time, $1.sequence) }
    }

    /// When it next has something to do.
    var nextEvent: Double { silent ? .infinity : min(inbox.first?.time ?? .infinity, core.nextTick) }

    /// Handles the workers' messages that are due, then what its clock says is due.
    func process(now: Double) {
        guard !silent else { return }
        while let first = inbox.first, first.time <= now {
            inbox.removeFirst()
            route(core.fromWorker(identity: first.identity, first.frames))
        }
        route(core.tick())
    }

    func fromCoordinator(_ frames: [[UInt8]]) {
        guard !silent else { return }
        route((try? core.fromCoordinator(frames)) ?? [])
    }

    func route(_ outputs: [AggregatorOutput]) {
        guard !silent else { return }
        for output in outputs {
            switch output {
            case var .up(frames):
                if lying, frames.count == 2, (try? Envelope.decode(frames[0]).get())?.kind == .groupResult { frames[1].removeLast() }
                upstream?.deliver(from: identity, frames, delay: 0)
            case let .down(identity, frames):
                workers.first { $0.identity == identity }?.receive(frames)
            }
        }
    }
}
