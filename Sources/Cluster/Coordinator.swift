import Datasets
import Engine
import Foundation
import Messaging
import Numerics

/// How a coordinator waits for and watches its workers.
public struct CoordinatorOptions: Sendable {
    /// Where to listen (`tcp://0.0.0.0:5555`, `ipc:///path`).
    public var endpoint: String
    /// Ready workers to wait for before the first round.
    public var minWorkers = 1
    /// A worker silent this long is declared dead and its shards move.
    public var workerTimeout: Double = 5
    /// Most workers admitted at once; more are refused with a message.
    public var maxWorkers = 1024
    /// With no live worker, how long to wait for one before giving up.
    public var waitWorkers: Double = 60
    /// Send workers their rows instead of having them read the file.
    public var streamData = false
    /// CURVE encryption and the worker keys admitted (nil: no encryption).
    public var curve: CurveServerSettings?
    /// Stop (with an error; checkpoints stay) once the process that started this one has
    /// exited: a launcher killed with SIGKILL cannot stop its coordinator itself.
    public var exitWithParent = false
    /// Admit workers whose OpenBLAS kernel differs from the coordinator's and that cannot switch
    /// to it (the model then depends on which worker computed which shard); by default they are
    /// refused, and those that can switch are told to.
    public var allowMixedKernels = false
    /// The largest message accepted from a worker: sized by the caller from the jobs it will run
    /// (each job's `messageLimit`), so that a worker cannot make the coordinator hold more.
    public var messageLimit = WireProtocol.minimumMessageLimit
    /// Map the shared-memory rings that workers on this host offer, so that their tasks' and
    /// results' big frames skip the socket (see `SharedRing`); off: every byte goes through it.
    public var sharedMemory = true

    /// Creates options.
    public init(endpoint: String) { self.endpoint = endpoint }

    /// Heartbeat period: a fifth of the worker timeout, so a few heartbeats may be lost.
    var heartbeatMilliseconds: Int { max(50, Int(workerTimeout * 1000 / 5)) }
}

/// Something that happened in the cluster, for the log.
public enum ClusterEvent: Sendable {
    /// A worker joined (it gets shards at the next round), directly or behind the aggregator
    /// `via`; `sharedMemory` says whether its big frames go through a shared-memory ring, and
    /// `ringRefused` why a ring it offered from this host was not mapped.
    case workerJoined(id: Int, hello: Hello, via: Int?, sharedMemory: Bool, ringRefused: String?)
    /// An aggregator joined: workers behind it join through it.
    case aggregatorJoined(id: Int, hello: Hello)
    /// An aggregator was declared dead; its `workers` workers were lost with it.
    case aggregatorLost(id: Int, label: String, reason: String, workers: Int)
    /// A worker was declared dead or failed; `shards` of its shards were still pending.
    case workerLost(id: Int, label: String, reason: String, pendingShards: Int)
    /// A worker was turned away.
    case workerRefused(label: String, reason: String)
    /// A worker reported an error (the job goes on without it unless it is fatal).
    case workerError(id: Int, label: String, message: String)
    /// Shards changed owner.
    case shardsMoved(toWorker: Int, count: Int, reason: String)
    /// A worker runs another OpenBLAS kernel and was admitted anyway (`--allow-mixed-kernels`):
    /// the model may depend on which worker computed which shard.
    case blasMismatch(label: String, core: String, expected: String)
    /// A worker ran another OpenBLAS kernel that its CPU can replace with the coordinator's: it
    /// was told to re-execute itself with that one and comes back as a new worker.
    case kernelSwitch(label: String, core: String, required: String)
    /// Messages that failed their checks were dropped (running total).
    case dropped(total: Int, reason: String)
    /// The coordinator is waiting for workers.
    case waiting(ready: Int, wanted: Int)
    /// Not every shard of this process fits under its memory limit: `kept` shards (`keptBytes`)
    /// stay in memory and `streamed` are read from `file` on every pass (`bytesPerPass`).
    case residency(kept: Int, keptBytes: Int, streamed: Int, bytesPerPass: Int, file: String, limit: MemoryLimit)
}

/// A failure of the cluster as a whole.
public struct ClusterError: Error, CustomStringConvertible, Sendable {
    /// One line: what happened and what to do.
    public var description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// The coordinator: a `ShardRunner` whose shards live on worker processes.
///
/// Each `run` is a round: the task goes to every live worker for the shards it owns, each
/// worker sends one result per aligned block of the shard tree it holds, and the blocks are
/// added by the same tree, so the result, and every model fitted from it, is the same bits
/// whoever computed each shard. A worker that goes silent, sends a malformed or non-finite
/// result, or reports an error loses its pending shards to the others within the same round.
///
/// The coordinator knows no job: any ``ShardJob`` runs through ``run(_:_:)``.
public final class ClusterCoordinator: ShardRunner {
    public private(set) var plan: ShardPlan
    public var dimension: Int { spec.columns }
    /// The job's data.
    public private(set) var spec: JobSpec
    /// What the last round cost.
    public private(set) var lastRound: RoundStatistics?
    private var roundStatistics = RoundStatistics()
    /// What every round so far cost.
    public private(set) var roundTotals = RoundTotals()
    /// What the rounds after the first cost (the first also waits for and admits the workers).
    public private(set) var laterRoundTotals = RoundTotals()
    /// Messages dropped because they failed a check.
    public private(set) var droppedMessages = 0
    /// Called as shard outcomes of the current round arrive: (shards done, shards in all).
    public var onShardDone: ((Int, Int) -> Void)?
    /// Told of rounds, results and workers (a status page); nil costs nothing.
    public var observer: (any CoordinatorObserver)?
    /// The running totals an observer sees (see ``status``).
    private var totals = CoordinatorStatus()
    private var lastNotified = -Double.infinity
    /// The round in progress, for observers.
    private var currentRound: RoundState?

    private let options: CoordinatorOptions
    private let onEvent: (ClusterEvent) -> Void
    private let transport: CoordinatorTransport
    private let clock: RuntimeClock
    private var peers: [Int: Peer] = [:]
    private var idOfIdentity: [[UInt8]: Int] = [:]
    private var deadIdentities = Set<[UInt8]>()
    /// Identities told to rejoin that have not said hello since: they are told only once.
    private var toldToRejoin = Set<[UInt8]>()
    private var nextID = 1
    private var owner: [Int?]
    private var jobID: UInt64
    private var round: UInt64 = 0
    private var lastHeartbeat: Double
    private var referenceCore: String?
    private var started = false
    /// When silent workers were last looked for.
    private var lastReap = -Double.infinity
    /// Set when a worker is lost or excluded: its pending shards may need new owners.
    private var mayHaveOrphans = false
    private let parent = getppid()

    /// Aggregators: workers behind one reach the coordinator through it (see ``MessageKind/relay``).
    private var aggregators: [Int: Aggregator] = [:]
    private var aggregatorOfIdentity: [[UInt8]: Int] = [:]
    /// The identities standing for workers behind aggregators (never a real socket's identity).
    private var relayOf: [[UInt8]: (aggregator: Int, route: Route)] = [:]

    private final class Aggregator {
        let id: Int
        let identity: [UInt8]
        let hello: Hello
        var lastSeen: Double
        /// The identity standing for each route behind it.
        var routes: [Route: [UInt8]] = [:]
        init(id: Int, identity: [UInt8], hello: Hello, now: Double) {
            self.id = id; self.identity = identity; self.hello = hello; lastSeen = now
        }
        var label: String { "aggregator \(id) (\(hello.label))" }
    }

    private final class Peer {
        let id: Int
        let identity: [UInt8]
        let hello: Hello
        /// The aggregator it is behind, and its route there (nil: connected directly).
        var via: (aggregator: Int, route: Route)?
        var lastSeen: Double
        var ready = false
        /// Excluded from the current job after an error on its side.
        var excluded = false
        var held = Set<Int>()
        var pending = Set<Int>()
        /// The shards it was given at the start of the last round, while `held` is exactly those.
        var lastOwned: [Int] = []
        /// What it reported computing over the job (for observers).
        var computeSeconds = 0.0, rows = 0
        init(id: Int, identity: [UInt8], hello: Hello, now: Double) {
            self.id = id; self.identity = identity; self.hello = hello; lastSeen = now
        }
        var label: String { via.map { "worker \(id) (\(hello.label), via aggregator \($0.aggregator))" } ?? "worker \(id) (\(hello.label))" }
    }

    /// Binds the socket; workers may connect from now on.
    ///
    /// - Parameters:
    ///   - transport: how workers are reached (default: a ZeroMQ ROUTER socket bound to
    ///     `options.endpoint`); tests give an in-memory one.
    ///   - clock: the time heartbeats and timeouts are measured in (tests give a ``ManualClock``).
    public init(
        options: CoordinatorOptions, spec: JobSpec, transport: CoordinatorTransport? = nil, clock: RuntimeClock = SystemClock(),
        onEvent: @escaping (ClusterEvent) -> Void
    ) throws {
        self.options = options
        self.spec = spec
        self.onEvent = onEvent
        self.clock = clock
        plan = spec.plan
        owner = Array(repeating: nil, count: spec.shards)
        jobID = UInt64.random(in: 1...UInt64.max)
        self.transport = try transport ?? ZMQCoordinatorTransport(endpoint: options.endpoint, messageLimit: options.messageLimit, curve: options.curve)
        lastHeartbeat = clock.now()
        referenceCore = BLAS.coreName
    }

    /// Handshakes refused for an unknown key.
    public private(set) var refusedHandshakes = 0

    deinit { transport.close() }

    /// The endpoint actually bound (resolves `tcp://…:*`).
    public var boundEndpoint: String { transport.endpoint }

    /// Live workers that have the job's data ready.
    public var liveWorkers: Int { peers.values.filter { $0.ready && !$0.excluded }.count }

    /// Bytes of frames that went to and from workers on this host through shared memory.
    public var sharedMemoryBytes: Int { transport.sharedMemoryBytes }

    // MARK: Rounds

    /// Runs `task` of `job` on the workers' shards: one round, whose block results are added
    /// by the shard tree.
    ///
    /// - Throws: ``ClusterError`` when a result of the task could never fit the message limit,
    ///   when no worker is left for `--wait-workers`, or for a worker's fatal error; the job's
    ///   own check of the sum (`ShardJob.check`).
    public func run<Job: ShardJob>(_ job: Job.Type, _ task: Job.Task) throws -> Job.Result {
        let context = self.context
        let largest = Job.largestResultBytes(of: task, rows: context.largestShardRows, context: context) + WireProtocol.resultOverhead
        guard largest <= options.messageLimit else {
            throw ClusterError(
                "a result of this \(Job.identifier) task can take \(Self.megabytes(largest)) for one shard, more than the coordinator's "
                    + "message limit of \(Self.megabytes(options.messageLimit)); the job cannot run with this limit (more --shards make per-row results smaller)")
        }
        var known = [Range<Int>: Job.Result]()
        let order = TaskOrder(job: Job.identifier, task: Job.encode(task: task), shards: [], release: [])
        try runRound(order: order) { range, bytes in
            known[range] = try Job.decodeResult(bytes, of: task, shards: range, context: context)
        }
        guard let total = ShardTree.reduce(0..<ShardTree.width(plan.count), shards: plan.count, known: &known, add: Job.combine) else {
            preconditionFailure("a round ended with shards not covered")
        }
        try Job.check(total, of: task)
        return total
    }

    private static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

    /// One round of any job: `taskBytes` go to every live worker for the shards it owns, and
    /// each result, which covers an aligned block of shards (see ``ShardTree``), is handed to
    /// `accept` to be checked and kept. Returns when every shard is covered.
    ///
    /// `accept` throws for a result that fails its checks; its sender is then treated as
    /// failed and its pending shards go to other workers.
    private func runRound(order: TaskOrder, accept: (Range<Int>, [UInt8]) throws -> Void) throws {
        try withoutActuallyEscaping(accept) { accept in
            try runRound(order: order, state: RoundState(shards: plan.count, accept: accept))
        }
    }

    private func runRound(order: TaskOrder, state: RoundState) throws {
        let start = clock.now()
        let cpuStart = RoundStatistics.processCPUSeconds()
        currentRound = state
        defer { currentRound = nil }
        roundStatistics = RoundStatistics()
        round += 1
        try pump(timeout: 0, state)
        if !started {
            try waitForWorkers(options.minWorkers, state)
            started = true
        }
        rebalance()
        var mineOf = [Int: [Int]]()
        for shard in 0..<plan.count { if let id = owner[shard] { mineOf[id, default: []].append(shard) } }
        var grouped = [Int: [GroupTask.Entry]]()
        for peer in usable() {
            let mine = mineOf[peer.id] ?? []
            // Most rounds give a worker the shards of the last: then nothing is built again.
            let unchanged = !mine.isEmpty && mine == peer.lastOwned
            let release = unchanged ? [] : peer.held.subtracting(mine).sorted()
            if !unchanged {
                peer.held = Set(mine)
                peer.lastOwned = mine
            }
            peer.pending = peer.held
            if !mine.isEmpty || !release.isEmpty {
                if let via = peer.via {
                    grouped[via.aggregator, default: []].append(GroupTask.Entry(route: via.route, shards: mine, release: release))
                } else {
                    var part = order
                    part.shards = mine
                    part.release = release
                    send(peer, .task, part.frames)
                }
            }
        }
        sendGroupTasks(order, grouped)
        notify(force: true)
        var idleSince: Double?
        while state.remaining > 0 {
            try pump(timeout: 0.05, state)
            reapSilentWorkers()
            assignOrphans(order, state)
            if !peers.values.contains(where: { $0.ready && !$0.excluded }) {
                let since = idleSince ?? clock.now()
                idleSince = since
                if clock.now() - since > options.waitWorkers {
                    throw ClusterError(
                        "no live worker for \(Int(options.waitWorkers)) s (--wait-workers) with \(state.remaining) of \(plan.count) shards to do")
                }
            } else {
                idleSince = nil
            }
        }
        roundStatistics.seconds = clock.now() - start
        roundStatistics.cpuSeconds = RoundStatistics.processCPUSeconds() - cpuStart
        lastRound = roundStatistics
        roundTotals.add(roundStatistics)
        if roundTotals.rounds > 1 { laterRoundTotals.add(roundStatistics) }
        totals.bytesReceived += roundStatistics.bytesIn
        totals.bytesSent += roundStatistics.bytesOut
        notify(force: true, ended: true)
    }

    // MARK: Observer

    /// A copy of the coordinator's state for observers.
    private func status(_ state: RoundState?, ended: Bool) -> CoordinatorStatus {
        var status = totals
        let now = clock.now()
        status.rounds = round
        status.roundRunning = state != nil && !ended
        status.shards = plan.count
        status.shardsDone = state.map { plan.count - $0.remaining } ?? (round > 0 ? plan.count : 0)
        var owned = [Int: Int]()
        for case let id? in owner { owned[id, default: 0] += 1 }
        status.workers = peers.values.sorted { $0.id < $1.id }.map { peer in
            WorkerStatus(id: peer.id, host: peer.hello.host, pid: peer.hello.pid, threads: peer.hello.threads, blasCore: peer.hello.blasCore,
                         name: peer.hello.name, state: peer.excluded ? WorkerStatus.State.excluded : peer.ready ? .ready : .joining, shards: owned[peer.id] ?? 0,
                         secondsSinceHeard: max(0, now - peer.lastSeen), computeSeconds: peer.computeSeconds, rows: peer.rows)
        }
        status.lastRound = lastRound
        return status
    }

    /// Tells the observer, at most five times a second unless `force`d (a round's start and end,
    /// workers coming and going): a round of thousands of results should not copy thousands of states.
    private func notify(force: Bool = false, ended: Bool = false) {
        guard let observer else { return }
        let now = clock.now()
        guard force || now - lastNotified >= 0.2 else { return }
        lastNotified = now
        observer.coordinatorChanged(status(currentRound, ended: ended))
    }

    /// The short reason a dropped message is counted under in ``CoordinatorStatus/dropped``
    /// (a metric label, so a few fixed words, never the message's own text).
    static func dropCategory(_ reason: String) -> String {
        if reason.hasPrefix("bad result") { return "bad_result" }
        if reason.contains("handshake") { return "handshake" }
        if reason.hasPrefix("protocol version") { return "protocol_version" }
        if reason.contains("unknown or dead") { return "unknown_worker" }
        return "malformed"
    }

    /// What a round has received so far.
    private final class RoundState {
        var covered: [Bool]
        var remaining: Int
        let accept: (Range<Int>, [UInt8]) throws -> Void
        init(shards: Int, accept: @escaping (Range<Int>, [UInt8]) throws -> Void) {
            covered = Array(repeating: false, count: shards)
            remaining = shards
            self.accept = accept
        }
    }

    /// Tells every worker the job is over (they drop its data and wait for the next).
    public func endJob() {
        for peer in peers.values { send(peer, .jobEnd, body: nil) }
    }

    /// Tells every known worker (and aggregator) to exit, and lets the messages leave.
    public func shutdownWorkers() {
        for peer in peers.values { send(peer, .shutdown, body: nil) }
        for aggregator in aggregators.values { sendRaw(aggregator.identity, .shutdown, body: nil) }
        peers.removeAll()
        aggregators.removeAll()
    }

    /// Live aggregators.
    public var liveAggregators: Int { aggregators.count }

    // MARK: Workers

    /// Ready workers in the order shards are dealt: those behind one aggregator side by side, so
    /// that each aggregator's shards are contiguous and fold into few blocks of the shard tree.
    private func usable() -> [Peer] {
        peers.values.filter { $0.ready && !$0.excluded }.sorted { ($0.via?.aggregator ?? 0, $0.id) < ($1.via?.aggregator ?? 0, $1.id) }
    }

    private func waitForWorkers(_ wanted: Int, _ state: RoundState) throws {
        var announced = -1
        var since = clock.now()
        while usable().count < wanted {
            let ready = usable().count
            if ready != announced {
                onEvent(.waiting(ready: ready, wanted: wanted))
                announced = ready
                since = clock.now()
            }
            if ready == 0, clock.now() - since > max(options.waitWorkers, 1) {
                throw ClusterError("no worker joined within \(Int(options.waitWorkers)) s (--wait-workers) at \(boundEndpoint)")
            }
            try pump(timeout: 0.1, state)
            reapSilentWorkers()
        }
    }

    /// Balanced contiguous ownership over the usable workers, keeping shards where they are when possible.
    private func rebalance() {
        let workers = usable()
        guard !workers.isEmpty else { return }
        let ids = Set(workers.map(\.id))
        for shard in 0..<plan.count where owner[shard].map({ !ids.contains($0) }) ?? true { owner[shard] = nil }
        let base = plan.count / workers.count, extra = plan.count % workers.count
        var target = [Int: Int]()
        for (index, worker) in workers.enumerated() { target[worker.id] = base + (index < extra ? 1 : 0) }
        var count = [Int: Int]()
        for shard in 0..<plan.count {
            guard let id = owner[shard] else { continue }
            if count[id, default: 0] < target[id]! {
                count[id, default: 0] += 1
            } else {
                owner[shard] = nil
            }
        }
        var moved = [Int: Int]()
        var cursor = 0
        for shard in 0..<plan.count where owner[shard] == nil {
            while count[workers[cursor].id, default: 0] >= target[workers[cursor].id]! { cursor += 1 }
            let id = workers[cursor].id
            owner[shard] = id
            count[id, default: 0] += 1
            if peers[id]!.held.isEmpty == false || round > 1 { moved[id, default: 0] += 1 }
        }
        for (id, n) in moved.sorted(by: { $0.key < $1.key }) {
            totals.shardsMoved += n
            onEvent(.shardsMoved(toWorker: id, count: n, reason: "rebalance"))
        }
    }

    /// Gives the pending shards of lost workers to the least busy live ones, in this round.
    private func assignOrphans(_ order: TaskOrder, _ state: RoundState) {
        // Shards are orphaned only when a worker is lost or excluded: the scan over every shard is
        // not repeated for each of the round's messages.
        guard mayHaveOrphans else { return }
        let workers = usable()
        guard !workers.isEmpty else { return }
        mayHaveOrphans = false
        let pendingAnywhere = Set(workers.flatMap(\.pending))
        let orphans = (0..<plan.count).filter { !state.covered[$0] && !pendingAnywhere.contains($0) }
        guard !orphans.isEmpty else { return }
        var given = [Int: [Int]]()
        for shard in orphans {
            let peer = workers.min { ($0.pending.count, $0.id) < ($1.pending.count, $1.id) }!
            peer.pending.insert(shard)
            peer.held.insert(shard)
            peer.lastOwned = []
            owner[shard] = peer.id
            given[peer.id, default: []].append(shard)
        }
        var grouped = [Int: [GroupTask.Entry]]()
        for (id, shards) in given.sorted(by: { $0.key < $1.key }) {
            totals.shardsMoved += shards.count
            onEvent(.shardsMoved(toWorker: id, count: shards.count, reason: "a worker was lost"))
            let peer = peers[id]!
            if let via = peer.via {
                grouped[via.aggregator, default: []].append(GroupTask.Entry(route: via.route, shards: shards, release: []))
            } else {
                var part = order
                part.shards = shards
                part.release = []
                send(peer, .task, part.frames)
            }
        }
        sendGroupTasks(order, grouped)
    }

    /// Sends each aggregator one message for all its workers' orders: the task's bytes travel
    /// once per aggregator rather than once per worker.
    private func sendGroupTasks(_ order: TaskOrder, _ grouped: [Int: [GroupTask.Entry]]) {
        for (id, entries) in grouped.sorted(by: { $0.key < $1.key }) {
            guard let aggregator = aggregators[id] else { continue }
            sendRaw(aggregator.identity, .groupTask, body: GroupTask(job: order.job, task: order.task, entries: entries).body)
        }
    }

    private func reapSilentWorkers() {
        let now = clock.now()
        // Silence is told in seconds: the scan over every worker (it runs for every batch of
        // messages, and is almost always empty) is done at most every 100 ms.
        let scan = now - lastReap >= min(0.1, options.workerTimeout / 20)
        if scan { lastReap = now }
        for aggregator in aggregators.values.filter({ scan && now - $0.lastSeen > options.workerTimeout }).sorted(by: { $0.id < $1.id }) {
            lose(aggregator, reason: "silent for more than \(options.workerTimeout) s (--worker-timeout)")
        }
        for peer in (scan ? peers.values.filter { now - $0.lastSeen > options.workerTimeout } : []).sorted(by: { $0.id < $1.id }) {
            // A worker behind an aggregator is silent when the aggregator speaks without listing it;
            // when the aggregator itself is silent, it is lost with the aggregator.
            if let via = peer.via, let aggregator = aggregators[via.aggregator],
               aggregator.lastSeen - peer.lastSeen <= Double(options.heartbeatMilliseconds) / 1000 { continue }
            lose(peer, reason: "silent for more than \(options.workerTimeout) s (--worker-timeout)")
        }
        if now - lastHeartbeat > Double(options.heartbeatMilliseconds) / 1000 {
            // Workers behind an aggregator hear its heartbeats; the coordinator's go to the aggregator.
            for peer in peers.values where peer.via == nil { send(peer, .heartbeat, body: nil) }
            for aggregator in aggregators.values { sendRaw(aggregator.identity, .heartbeat, body: nil) }
            lastHeartbeat = now
            notify()
        }
    }

    /// Declares an aggregator dead: every worker behind it is lost with it, and its shards move.
    private func lose(_ aggregator: Aggregator, reason: String) {
        guard aggregators[aggregator.id] != nil else { return }
        let behind = peers.values.filter { $0.via?.aggregator == aggregator.id }.sorted { $0.id < $1.id }
        onEvent(.aggregatorLost(id: aggregator.id, label: aggregator.hello.label, reason: reason, workers: behind.count))
        for peer in behind { lose(peer, reason: "its aggregator \(aggregator.id) was lost (\(reason))") }
        aggregators[aggregator.id] = nil
        aggregatorOfIdentity[aggregator.identity] = nil
        for identity in aggregator.routes.values { relayOf[identity] = nil }
        deadIdentities.insert(aggregator.identity)
    }

    private func lose(_ peer: Peer, reason: String) {
        guard peers[peer.id] != nil else { return }
        mayHaveOrphans = true
        peers[peer.id] = nil
        idOfIdentity[peer.identity] = nil
        transport.detachRing(for: peer.identity)
        deadIdentities.insert(peer.identity)
        for shard in 0..<plan.count where owner[shard] == peer.id { owner[shard] = nil }
        onEvent(.workerLost(id: peer.id, label: peer.hello.label, reason: reason, pendingShards: peer.pending.count))
        notify(force: true)
    }

    // MARK: Messages

    /// Receives and handles every waiting message, after waiting up to `timeout` seconds for the first.
    private func pump(timeout: Double, _ state: RoundState) throws {
        if options.exitWithParent, getppid() != parent {
            throw ClusterError("the process that started this coordinator has exited; stopping (the checkpoint stays)")
        }
        let waitStart = clock.now()
        let events = try transport.poll(timeout: timeout)
        roundStatistics.waitSeconds += clock.now() - waitStart
        for event in events {
            switch event {
            case let .message(frames):
                roundStatistics.bytesIn += frames.reduce(0) { $0 + $1.count }
                try handle(frames, state)
            case let .handshakeFailed(address, detail):
                drop("a connection from \(address.isEmpty ? "somewhere" : address) failed the ZeroMQ handshake (\(detail))")
            case let .undeliverable(reason):
                drop(reason)
            case let .keyRefused(fingerprint, address):
                refusedHandshakes += 1
                // The first few and then every hundredth: a flood of bad keys cannot flood the log.
                if refusedHandshakes <= 5 || refusedHandshakes % 100 == 0 {
                    onEvent(.workerRefused(
                        label: "a worker with key \(fingerprint) from \(address.isEmpty ? "an unknown address" : address)",
                        reason: "its key is not among the authorized keys (\(refusedHandshakes) refused so far)"))
                }
            }
        }
    }

    private func drop(_ reason: String) {
        droppedMessages += 1
        totals.dropped[Self.dropCategory(reason), default: 0] += 1
        // Log the first few and then every thousandth, so a flood cannot flood the log.
        if droppedMessages <= 5 || droppedMessages % 1000 == 0 { onEvent(.dropped(total: droppedMessages, reason: reason)) }
    }

    private func handle(_ frames: [[UInt8]], _ state: RoundState) throws {
        guard frames.count >= 2, frames.count <= 5 else {
            drop("\(frames.count) frames (expected an identity, an envelope and at most one body)")
            return
        }
        let identity = frames[0]
        let envelope: Envelope
        switch Envelope.decode(frames[1]) {
        case let .success(decoded):
            envelope = decoded
        case let .failure(.version(theirs)):
            drop("protocol version \(theirs)")
            let reason = "this worker speaks emfleet protocol version \(theirs) but the coordinator speaks \(WireProtocol.version); run the same emfleet version on both"
            sendRaw(identity, .refuse, body: TextBody.encode(reason))
            onEvent(.workerRefused(label: "a peer", reason: reason))
            return
        case let .failure(.kind(kind)):
            drop("unknown message kind \(kind)")
            return
        case let .failure(.notEmfleet(why)):
            drop(why)
            return
        }
        switch envelope.kind {
        case .aggregatorHello, .relay, .groupResult, .groupState, .groupLost:
            try handleAggregator(identity: identity, envelope: envelope, frames: frames, state)
            return
        default:
            break
        }
        // A result carries its outcome in a fourth frame; every other message at most a body.
        guard frames.count <= (envelope.kind == .result ? 4 : 3) else {
            drop("\(frames.count) frames in a \(envelope.kind) message (expected an identity, an envelope, a body and, for a result, its outcome)")
            return
        }
        let body = frames.count >= 3 ? frames[2] : []
        if let id = aggregatorOfIdentity[identity], let aggregator = aggregators[id] {
            // An aggregator's own heartbeats and failures (its workers' messages come relayed).
            aggregator.lastSeen = clock.now()
            if envelope.kind == .failure, let failure = try? WorkerFailure(body: body) {
                lose(aggregator, reason: "it failed: \(failure.message)")
            }
            return
        }
        if envelope.kind == .hello {
            welcome(identity: identity, body: body)
            return
        }
        guard let id = idOfIdentity[identity], let peer = peers[id] else {
            // A worker declared dead that came back (SIGCONT), or one from before a restart.
            if !toldToRejoin.contains(identity),
               deadIdentities.contains(identity) || envelope.kind == .heartbeat || envelope.kind == .result {
                toldToRejoin.insert(identity)
                sendRaw(identity, .rejoin, body: nil)
            }
            drop("\(envelope.kind) from an unknown or dead worker")
            return
        }
        peer.lastSeen = clock.now()
        do {
            switch envelope.kind {
            case .heartbeat:
                break
            case .ready:
                guard envelope.job == jobID else { return }
                let fingerprint = try TextBody.decode(body, "fingerprint")
                if !spec.stream, fingerprint != spec.expectedFingerprint {
                    let files = spec.weightFile.map { "\(spec.path) or \($0)" } ?? spec.path
                    let reason = "\(peer.hello.host) sees a different \(files) (fingerprint \(fingerprint), coordinator \(spec.expectedFingerprint))"
                    sendRaw(identity, .refuse, body: TextBody.encode(reason))
                    onEvent(.workerRefused(label: peer.label, reason: reason))
                    peers[id] = nil
                    idOfIdentity[identity] = nil
                    transport.detachRing(for: identity)
                    return
                }
                peer.ready = true
                notify(force: true)
            case .result:
                guard envelope.job == jobID, envelope.round == round else { return }  // stale: an earlier round
                let result = try ShardResult(frames: frames.dropFirst(2), shardCount: plan.count)
                let shards = result.shards.clamped(to: 0..<plan.count)
                // Only blocks whose every shard is still this worker's to do; anything else is stale.
                guard !shards.isEmpty, shards.allSatisfy({ peer.pending.contains($0) && !state.covered[$0] }) else { return }
                do {
                    try state.accept(result.shards, result.outcome)
                    for shard in shards {
                        state.covered[shard] = true
                        peer.pending.remove(shard)
                    }
                    state.remaining -= shards.count
                    peer.computeSeconds += result.computeSeconds
                    roundStatistics.workerComputeSeconds += result.computeSeconds
                    peer.rows += result.rows
                    roundStatistics.bytesRead += result.bytesRead
                    totals.shardsComputed += shards.count
                    onShardDone?(plan.count - state.remaining, plan.count)
                    notify()
                } catch {
                    drop("bad result from \(peer.label): \(error)")
                    toldToRejoin.insert(identity)
                    sendRaw(identity, .rejoin, body: nil)
                    lose(peer, reason: "sent a bad result for shards \(shards.lowerBound)..<\(shards.upperBound): \(error)")
                }
            case .failure:
                let failure = try WorkerFailure(body: body)
                if failure.fatal {
                    throw ClusterError("\(peer.label): \(failure.message)")
                }
                onEvent(.workerError(id: id, label: peer.hello.label, message: failure.message))
                peer.excluded = true
                mayHaveOrphans = true
                send(peer, .jobEnd, body: nil)
                for shard in 0..<plan.count where owner[shard] == id { owner[shard] = nil }
                peer.pending.removeAll()
                peer.held.removeAll()
                peer.lastOwned = []
            case .rowsRequest:
                guard spec.stream, envelope.job == jobID else { return }
                let request = try RowsRequest(body: body, shardCount: plan.count)
                let range = plan.ranges[request.shard]
                guard request.offset + request.count <= range.count else {
                    drop("rows request beyond shard \(request.shard)")
                    return
                }
                let start = range.lowerBound + request.offset
                let rows = try spec.readRows(start..<(start + request.count))
                let weights = spec.hasWeights ? try spec.readWeights(start..<(start + request.count)) : []
                send(peer, .rows, body: RowsChunk(shard: request.shard, offset: request.offset, values: rows.doubles(), weights: weights).body)
            default:
                drop("\(envelope.kind) is not for the coordinator")
            }
        } catch let error as WireError {
            drop("\(envelope.kind) from \(peer.label): \(error)")
        }
    }

    private func welcome(identity: [UInt8], body: [UInt8]) {
        guard let hello = try? Hello(body: body) else {
            drop("malformed hello")
            return
        }
        if let old = idOfIdentity[identity], let peer = peers[old] {
            // A worker repeats its hello until welcomed: one not yet ready has its welcome on the way.
            if !peer.ready, !peer.excluded {
                peer.lastSeen = clock.now()
                return
            }
            lose(peer, reason: "reconnected")
        }
        guard peers.count < options.maxWorkers else {
            let reason = "the coordinator already has \(options.maxWorkers) workers (--max-workers)"
            sendRaw(identity, .refuse, body: TextBody.encode(reason))
            onEvent(.workerRefused(label: hello.label, reason: reason))
            return
        }
        if let referenceCore, hello.blasCore != referenceCore, !options.allowMixedKernels {
            if hello.runnableCores.contains(referenceCore) {
                sendRaw(identity, .welcome, body: Welcome(
                    workerID: 0, heartbeatMilliseconds: options.heartbeatMilliseconds, messageLimit: options.messageLimit,
                    requiredCore: referenceCore).body)
                onEvent(.kernelSwitch(label: hello.label, core: hello.blasCore, required: referenceCore))
            } else {
                let reason = "it computes with OpenBLAS kernel \(hello.blasCore) and its CPU cannot run the coordinator's \(referenceCore), "
                    + "so the model would depend on which worker computed which shard; --allow-mixed-kernels admits it anyway"
                sendRaw(identity, .refuse, body: TextBody.encode(reason))
                onEvent(.workerRefused(label: hello.label, reason: reason))
            }
            return
        }
        deadIdentities.remove(identity)
        toldToRejoin.remove(identity)
        let peer = Peer(id: nextID, identity: identity, hello: hello, now: clock.now())
        peer.via = relayOf[identity]
        nextID += 1
        peers[peer.id] = peer
        idOfIdentity[identity] = peer.id
        // The welcome itself is small and goes through the socket; the job's bytes may not.
        var ringRefused: String?
        var ring: UInt64 = 0
        // With CURVE every byte goes through the encrypted socket, by choice: no ring, and no reason to log.
        if let offer = hello.ring, peer.via == nil, options.sharedMemory, options.curve == nil, hello.host == Self.hostName {
            ringRefused = transport.attachRing(offer, pid: hello.pid, for: identity)
            if ringRefused == nil { ring = offer.id }
        }
        send(peer, .welcome, body: Welcome(
            workerID: peer.id, heartbeatMilliseconds: options.heartbeatMilliseconds, messageLimit: options.messageLimit, ring: ring).body)
        send(peer, .job, body: spec.body)
        onEvent(.workerJoined(id: peer.id, hello: hello, via: peer.via?.aggregator, sharedMemory: ring != 0, ringRefused: ringRefused))
        notify(force: true)
        if let referenceCore, hello.blasCore != referenceCore {
            onEvent(.blasMismatch(label: peer.label, core: hello.blasCore, expected: referenceCore))
        }
    }

    private func send(_ peer: Peer, _ kind: MessageKind, body: [UInt8]?) {
        sendRaw(peer.identity, kind, body.map { [$0] } ?? [])
    }

    /// This host's name, as workers give theirs in their hellos: only a worker here can share memory.
    private static let hostName = ProcessInfo.processInfo.hostName

    /// Sends a message whose frames after the envelope are `parts` (a body, and a task's payload).
    private func send(_ peer: Peer, _ kind: MessageKind, _ parts: [[UInt8]]) {
        sendRaw(peer.identity, kind, parts)
    }

    private func sendRaw(_ identity: [UInt8], _ kind: MessageKind, body: [UInt8]?) {
        sendRaw(identity, kind, body.map { [$0] } ?? [])
    }

    private func sendRaw(_ identity: [UInt8], _ kind: MessageKind, _ parts: [[UInt8]]) {
        var frames: [[UInt8]]
        if let relay = relayOf[identity] {
            guard let aggregator = aggregators[relay.aggregator] else { return }
            frames = [aggregator.identity, Envelope(.relay).encoded, RouteFrame.encode(relay.route), Envelope(kind, job: jobID, round: round).encoded]
        } else {
            frames = [identity, Envelope(kind, job: jobID, round: round).encoded]
        }
        frames += parts
        roundStatistics.bytesOut += frames.reduce(0) { $0 + $1.count }
        transport.send(frames)
    }
}

// MARK: Aggregators

extension ClusterCoordinator {
    /// Messages from (or relayed by) an aggregator.
    private func handleAggregator(identity: [UInt8], envelope: Envelope, frames: [[UInt8]], _ state: RoundState) throws {
        if envelope.kind == .aggregatorHello {
            guard frames.count == 3 else {
                drop("an aggregator hello of \(frames.count) frames")
                return
            }
            admitAggregator(identity: identity, body: frames[2])
            return
        }
        guard let id = aggregatorOfIdentity[identity], let aggregator = aggregators[id] else {
            // An aggregator declared dead that came back, or one from before a restart.
            if !toldToRejoin.contains(identity) {
                toldToRejoin.insert(identity)
                sendRaw(identity, .rejoin, body: nil)
            }
            drop("\(envelope.kind) from an unknown or dead aggregator")
            return
        }
        let now = clock.now()
        aggregator.lastSeen = now
        let body = frames.count == 3 ? frames[2] : []
        do {
            switch envelope.kind {
            case .relay:
                guard frames.count >= 4, let route = RouteFrame.decode(frames[2]) else {
                    drop("a relay from \(aggregator.label) without a route")
                    return
                }
                guard case let .success(inner) = Envelope.decode(frames[3]),
                      [.hello, .heartbeat, .ready, .result, .failure, .rowsRequest].contains(inner.kind) else {
                    drop("a relay from \(aggregator.label) of a message that is not a worker's")
                    return
                }
                try handle([stand(for: route, behind: aggregator)] + frames[3...], state)
            case .groupState:
                for route in try GroupState(body: body).routes {
                    if let peer = peer(route, behind: aggregator) { peer.lastSeen = now }
                }
            case .groupLost:
                let lost = try GroupLost(body: body)
                if let peer = peer(lost.route, behind: aggregator) {
                    lose(peer, reason: "\(lost.reason) (reported by aggregator \(id))")
                }
                if let standIn = aggregator.routes.removeValue(forKey: lost.route) { relayOf[standIn] = nil }
            case .groupResult:
                guard envelope.job == jobID, envelope.round == round else { return }  // stale: an earlier round
                let result: GroupResult
                do {
                    result = try GroupResult(body: body, shardCount: plan.count)
                } catch {
                    // Its workers' shards would wait for a block that never comes: they move now.
                    drop("bad result from \(aggregator.label): \(error)")
                    toldToRejoin.insert(aggregator.identity)
                    sendRaw(aggregator.identity, .rejoin, body: nil)
                    lose(aggregator, reason: "sent a malformed result: \(error)")
                    return
                }
                try accept(result, from: aggregator, state)
            default:
                drop("\(envelope.kind) is not for the coordinator")
            }
        } catch let error as WireError {
            drop("\(envelope.kind) from \(aggregator.label): \(error)")
        }
    }

    /// The identity standing for a worker behind an aggregator: never a real socket's (those
    /// are 5 bytes), so a worker cannot pose as one behind an aggregator.
    private func stand(for route: Route, behind aggregator: Aggregator) -> [UInt8] {
        if let standIn = aggregator.routes[route] { return standIn }
        let standIn = aggregator.identity + Array("/via/".utf8) + RouteFrame.encode(route)
        aggregator.routes[route] = standIn
        relayOf[standIn] = (aggregator.id, route)
        return standIn
    }

    private func peer(_ route: Route, behind aggregator: Aggregator) -> Peer? {
        guard let standIn = aggregator.routes[route], let id = idOfIdentity[standIn] else { return nil }
        return peers[id]
    }

    /// A folded block: taken when every shard of it is still pending at a worker behind this
    /// aggregator. Anything else (or a sum that fails its checks) means the aggregator cannot be
    /// trusted: it is lost with its workers, whose shards move.
    private func accept(_ result: GroupResult, from aggregator: Aggregator, _ state: RoundState) throws {
        let shards = result.shards.clamped(to: 0..<plan.count)
        var holder = [Int: Peer]()
        for standIn in aggregator.routes.values {
            guard let id = idOfIdentity[standIn], let peer = peers[id] else { continue }
            for shard in peer.pending where shards.contains(shard) { holder[shard] = peer }
        }
        guard !shards.isEmpty, shards.allSatisfy({ holder[$0] != nil && !state.covered[$0] }) else {
            drop("bad result from \(aggregator.label): shards \(shards.lowerBound)..<\(shards.upperBound) are not all pending behind it")
            toldToRejoin.insert(aggregator.identity)
            sendRaw(aggregator.identity, .rejoin, body: nil)
            lose(aggregator, reason: "sent a result for shards \(shards.lowerBound)..<\(shards.upperBound) that are not all pending behind it")
            return
        }
        do {
            try state.accept(result.shards, result.outcome)
        } catch {
            drop("bad result from \(aggregator.label): \(error)")
            toldToRejoin.insert(aggregator.identity)
            sendRaw(aggregator.identity, .rejoin, body: nil)
            lose(aggregator, reason: "sent a bad result for shards \(shards.lowerBound)..<\(shards.upperBound): \(error)")
            return
        }
        for shard in shards {
            state.covered[shard] = true
            holder[shard]!.pending.remove(shard)
        }
        state.remaining -= shards.count
        for part in result.contributions {
            guard let peer = peer(part.route, behind: aggregator) else { continue }
            peer.computeSeconds += part.computeSeconds
            peer.rows += part.rows
            roundStatistics.workerComputeSeconds += part.computeSeconds
            roundStatistics.bytesRead += part.bytesRead
        }
        totals.shardsComputed += shards.count
        onShardDone?(plan.count - state.remaining, plan.count)
        notify()
    }

    private func admitAggregator(identity: [UInt8], body: [UInt8]) {
        guard let hello = try? Hello(body: body) else {
            drop("malformed aggregator hello")
            return
        }
        if let old = aggregatorOfIdentity[identity], let aggregator = aggregators[old] {
            lose(aggregator, reason: "reconnected")
        }
        guard aggregators.count < options.maxWorkers else {
            let reason = "the coordinator already has \(options.maxWorkers) aggregators (--max-workers)"
            sendRaw(identity, .refuse, body: TextBody.encode(reason))
            onEvent(.workerRefused(label: hello.label, reason: reason))
            return
        }
        deadIdentities.remove(identity)
        toldToRejoin.remove(identity)
        let aggregator = Aggregator(id: nextID, identity: identity, hello: hello, now: clock.now())
        nextID += 1
        aggregators[aggregator.id] = aggregator
        aggregatorOfIdentity[identity] = aggregator.id
        sendRaw(identity, .aggregatorWelcome, body: AggregatorWelcome(
            aggregatorID: aggregator.id, heartbeatMilliseconds: options.heartbeatMilliseconds,
            workerTimeoutMilliseconds: Int((options.workerTimeout * 1000).rounded()), messageLimit: options.messageLimit,
            authorizedKeys: options.curve.map { $0.authorized.sorted() } ?? []).body)
        onEvent(.aggregatorJoined(id: aggregator.id, hello: hello))
        notify(force: true)
    }
}
