import Datasets
import Foundation
import Messaging
import Mixture
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

    /// Creates options.
    public init(endpoint: String) { self.endpoint = endpoint }

    /// Heartbeat period: a fifth of the worker timeout, so a few heartbeats may be lost.
    var heartbeatMilliseconds: Int { max(50, Int(workerTimeout * 1000 / 5)) }
}

/// Something that happened in the cluster, for the log.
public enum ClusterEvent: Sendable {
    /// A worker joined (it gets shards at the next round).
    case workerJoined(id: Int, hello: Hello)
    /// A worker was declared dead or failed; `shards` of its shards were still pending.
    case workerLost(id: Int, label: String, reason: String, pendingShards: Int)
    /// A worker was turned away.
    case workerRefused(label: String, reason: String)
    /// A worker reported an error (the job goes on without it unless it is fatal).
    case workerError(id: Int, label: String, message: String)
    /// Shards changed owner.
    case shardsMoved(toWorker: Int, count: Int, reason: String)
    /// Workers' OpenBLAS kernels differ: models may differ in the last bits.
    case blasMismatch(label: String, core: String, expected: String)
    /// Messages that failed their checks were dropped (running total).
    case dropped(total: Int, reason: String)
    /// The coordinator is waiting for workers.
    case waiting(ready: Int, wanted: Int)
}

/// A failure of the cluster as a whole.
public struct ClusterError: Error, CustomStringConvertible, Sendable {
    /// One line: what happened and what to do.
    public var description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// Traffic and time of the last round, for benchmarks.
public struct RoundStatistics: Sendable {
    /// Bytes received (all frames) during the round.
    public var bytesIn = 0
    /// Bytes sent during the round.
    public var bytesOut = 0
    /// Seconds spent waiting in `zmq_poll` (the rest of the round is the coordinator's own work).
    public var waitSeconds = 0.0
    /// Seconds from the start to the end of `run`.
    public var seconds = 0.0
}

/// The coordinator: a `ShardRunner` whose shards live on worker processes.
///
/// Each `run` is a round: the task goes to every live worker for the shards it owns, the
/// per-shard outcomes come back, and they are returned in shard order, so the fold, and
/// every model fitted from it, is the same bits whoever computed each shard. A worker that
/// goes silent, sends a malformed or non-finite result, or reports an error loses its
/// pending shards to the others within the same round.
public final class ClusterCoordinator: ShardRunner {
    public private(set) var plan: ShardPlan
    public var dimension: Int { spec.columns }
    /// The job's data.
    public private(set) var spec: JobSpec
    /// What the last round cost.
    public private(set) var lastRound = RoundStatistics()
    /// Messages dropped because they failed a check.
    public private(set) var droppedMessages = 0
    /// Called as shard outcomes of the current round arrive: (shards done, shards in all).
    public var onShardDone: ((Int, Int) -> Void)?

    private let options: CoordinatorOptions
    private let onEvent: (ClusterEvent) -> Void
    private let context: ZMQContext
    private let socket: ZMQSocket
    /// Reports connections that failed the ZeroMQ handshake (garbage bytes, other protocols).
    private let monitor: ZMQMonitor
    /// Admits only authorized worker keys when CURVE is on.
    private let zap: ZAPHandler?
    private var peers: [Int: Peer] = [:]
    private var idOfIdentity: [[UInt8]: Int] = [:]
    private var deadIdentities = Set<[UInt8]>()
    /// Identities told to rejoin that have not said hello since: they are told only once.
    private var toldToRejoin = Set<[UInt8]>()
    private var nextID = 1
    private var owner: [Int?]
    private var jobID: UInt64
    private var round: UInt64 = 0
    private var lastHeartbeat = ContinuousClock.now
    private var referenceCore: String?
    private var started = false
    private let parent = getppid()

    private final class Peer {
        let id: Int
        let identity: [UInt8]
        let hello: Hello
        var lastSeen = ContinuousClock.now
        var ready = false
        /// Excluded from the current job after an error on its side.
        var excluded = false
        var held = Set<Int>()
        var pending = Set<Int>()
        init(id: Int, identity: [UInt8], hello: Hello) { self.id = id; self.identity = identity; self.hello = hello }
        var label: String { "worker \(id) (\(hello.label))" }
    }

    /// Binds the socket; workers may connect from now on.
    public init(options: CoordinatorOptions, spec: JobSpec, onEvent: @escaping (ClusterEvent) -> Void) throws {
        self.options = options
        self.spec = spec
        self.onEvent = onEvent
        plan = spec.plan
        owner = Array(repeating: nil, count: spec.shards)
        jobID = UInt64.random(in: 1...UInt64.max)
        context = try ZMQContext()
        socket = try ZMQSocket(context: context, type: .router)
        try socket.setRouterMandatory(true)
        // Memory one peer can make the coordinator hold is bounded by the queue and message limits
        // (libzmq assembles a whole message before handing it over): see docs/PROTOCOL.md.
        try socket.setMaxMessageSize(WireProtocol.coordinatorMessageLimit(
            largestShard: spec.plan.ranges.map(\.count).max() ?? 0, columns: spec.columns))
        try socket.setSendHighWaterMark(0)
        try socket.setReceiveHighWaterMark(WireProtocol.coordinatorQueuePerPeer)
        let monitorEndpoint = "inproc://emfleet-coordinator-monitor-\(UUID().uuidString)"
        try socket.monitor(
            endpoint: monitorEndpoint, events: [.handshakeFailedNoDetail, .handshakeFailedProtocol, .handshakeFailedAuth])
        monitor = try ZMQMonitor(context: context, endpoint: monitorEndpoint)
        if let curve = options.curve {
            let handler = try ZAPHandler(context: context, authorized: curve.authorized)
            zap = handler
            try socket.setCurveServer(secretKey: try ZMQCurve.decode(z85: curve.keys.secretKey))
            try socket.setZAPDomain("emfleet")
        } else {
            zap = nil
        }
        try socket.bind(options.endpoint)
        referenceCore = BLAS.coreName
        zap?.onRefused = { [weak self] fingerprint, address in
            self?.refusedHandshakes += 1
            // The first few and then every hundredth: a flood of bad keys cannot flood the log.
            if let self, self.refusedHandshakes <= 5 || self.refusedHandshakes % 100 == 0 {
                onEvent(.workerRefused(
                    label: "a worker with key \(fingerprint) from \(address.isEmpty ? "an unknown address" : address)",
                    reason: "its key is not among the authorized keys (\(self.refusedHandshakes) refused so far)"))
            }
        }
    }

    /// Handshakes refused for an unknown key.
    public private(set) var refusedHandshakes = 0

    deinit {
        zap?.close()
        monitor.close()
        socket.close()
    }

    /// The endpoint actually bound (resolves `tcp://…:*`).
    public var boundEndpoint: String { (try? socket.lastEndpoint) ?? options.endpoint }

    /// Live workers that have the job's data ready.
    public var liveWorkers: Int { peers.values.filter { $0.ready && !$0.excluded }.count }

    // MARK: Rounds

    public func run(_ task: ShardTask) throws -> [ShardOutcome] {
        var outcomes = [ShardOutcome?](repeating: nil, count: plan.count)
        let plan = self.plan, columns = spec.columns
        try runRound(taskBytes: MixtureTaskCodec.encode(task)) { range, bytes in
            guard range.count == 1 else { throw WireError("result: a mixture result covers one shard, not \(range.count)") }
            outcomes[range.lowerBound] = try MixtureTaskCodec.decodeOutcome(
                bytes, for: task, shardRows: plan.ranges[range.lowerBound].count, dimension: columns)
        }
        return outcomes.map { $0! }
    }

    /// One round of any job: `taskBytes` go to every live worker for the shards it owns, and
    /// each result, which covers an aligned block of shards (see ``ShardTree``), is handed to
    /// `accept` to be checked and kept. Returns when every shard is covered.
    ///
    /// `accept` throws for a result that fails its checks; its sender is then treated as
    /// failed and its pending shards go to other workers.
    package func runRound(taskBytes: [UInt8], accept: (Range<Int>, [UInt8]) throws -> Void) throws {
        try withoutActuallyEscaping(accept) { accept in
            try runRound(taskBytes: taskBytes, state: RoundState(shards: plan.count, accept: accept))
        }
    }

    private func runRound(taskBytes: [UInt8], state: RoundState) throws {
        let clock = ContinuousClock.now
        lastRound = RoundStatistics()
        round += 1
        try pump(timeoutMilliseconds: 0, state)
        if !started {
            try waitForWorkers(options.minWorkers, state)
            started = true
        }
        rebalance()
        for peer in usable() {
            let mine = (0..<plan.count).filter { owner[$0] == peer.id }
            let release = peer.held.subtracting(mine).sorted()
            peer.held = Set(mine)
            peer.pending = Set(mine)
            if !mine.isEmpty || !release.isEmpty {
                send(peer, .task, body: TaskOrder(task: taskBytes, shards: mine, release: release).body)
            }
        }
        var idleSince: ContinuousClock.Instant?
        while state.remaining > 0 {
            try pump(timeoutMilliseconds: 50, state)
            reapSilentWorkers()
            assignOrphans(taskBytes: taskBytes, state)
            if usable().isEmpty {
                let since = idleSince ?? .now
                idleSince = since
                if ContinuousClock.now - since > .seconds(options.waitWorkers) {
                    throw ClusterError(
                        "no live worker for \(Int(options.waitWorkers)) s (--wait-workers) with \(state.remaining) of \(plan.count) shards to do")
                }
            } else {
                idleSince = nil
            }
        }
        lastRound.seconds = (ContinuousClock.now - clock).seconds
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

    /// Tells every known worker to exit, and lets the messages leave.
    public func shutdownWorkers() {
        for peer in peers.values { send(peer, .shutdown, body: nil) }
        peers.removeAll()
    }

    // MARK: Workers

    private func usable() -> [Peer] {
        peers.values.filter { $0.ready && !$0.excluded }.sorted { $0.id < $1.id }
    }

    private func waitForWorkers(_ wanted: Int, _ state: RoundState) throws {
        var announced = -1
        var since = ContinuousClock.now
        while usable().count < wanted {
            let ready = usable().count
            if ready != announced {
                onEvent(.waiting(ready: ready, wanted: wanted))
                announced = ready
                since = .now
            }
            if ready == 0, ContinuousClock.now - since > .seconds(max(options.waitWorkers, 1)) {
                throw ClusterError("no worker joined within \(Int(options.waitWorkers)) s (--wait-workers) at \(boundEndpoint)")
            }
            try pump(timeoutMilliseconds: 100, state)
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
        for (id, n) in moved.sorted(by: { $0.key < $1.key }) { onEvent(.shardsMoved(toWorker: id, count: n, reason: "rebalance")) }
    }

    /// Gives the pending shards of lost workers to the least busy live ones, in this round.
    private func assignOrphans(taskBytes: [UInt8], _ state: RoundState) {
        let workers = usable()
        guard !workers.isEmpty else { return }
        let pendingAnywhere = Set(workers.flatMap(\.pending))
        let orphans = (0..<plan.count).filter { !state.covered[$0] && !pendingAnywhere.contains($0) }
        guard !orphans.isEmpty else { return }
        var given = [Int: [Int]]()
        for shard in orphans {
            let peer = workers.min { ($0.pending.count, $0.id) < ($1.pending.count, $1.id) }!
            peer.pending.insert(shard)
            peer.held.insert(shard)
            owner[shard] = peer.id
            given[peer.id, default: []].append(shard)
        }
        for (id, shards) in given.sorted(by: { $0.key < $1.key }) {
            onEvent(.shardsMoved(toWorker: id, count: shards.count, reason: "a worker was lost"))
            send(peers[id]!, .task, body: TaskOrder(task: taskBytes, shards: shards, release: []).body)
        }
    }

    private func reapSilentWorkers() {
        let now = ContinuousClock.now
        for peer in peers.values where now - peer.lastSeen > .seconds(options.workerTimeout) {
            lose(peer, reason: "silent for more than \(options.workerTimeout) s (--worker-timeout)")
        }
        if now - lastHeartbeat > .milliseconds(options.heartbeatMilliseconds) {
            for peer in peers.values { send(peer, .heartbeat, body: nil) }
            lastHeartbeat = now
        }
    }

    private func lose(_ peer: Peer, reason: String) {
        guard peers[peer.id] != nil else { return }
        peers[peer.id] = nil
        idOfIdentity[peer.identity] = nil
        deadIdentities.insert(peer.identity)
        for shard in 0..<plan.count where owner[shard] == peer.id { owner[shard] = nil }
        onEvent(.workerLost(id: peer.id, label: peer.hello.label, reason: reason, pendingShards: peer.pending.count))
    }

    // MARK: Messages

    /// Receives and handles every waiting message, after waiting up to `timeoutMilliseconds` for the first.
    private func pump(timeoutMilliseconds: Int, _ state: RoundState) throws {
        if options.exitWithParent, getppid() != parent {
            throw ClusterError("the process that started this coordinator has exited; stopping (the checkpoint stays)")
        }
        let waitStart = ContinuousClock.now
        var ready = try ZMQPoll.readable([socket] + (zap.map { [$0.socket] } ?? []), timeoutMilliseconds: timeoutMilliseconds)
        lastRound.waitSeconds += (ContinuousClock.now - waitStart).seconds
        // Every pump, not only when a request waits: delayed refusals fall due on their own.
        try zap?.serve()
        ready.removeAll { $0 == 1 }
        while let event = try? monitor.next(timeoutMilliseconds: 0) {
            drop("a connection from \(event.address.isEmpty ? "somewhere" : event.address) failed the ZeroMQ handshake (event \(event.value))")
        }
        guard !ready.isEmpty else { return }
        while let frames = try socket.tryReceive() {
            lastRound.bytesIn += frames.reduce(0) { $0 + $1.count }
            try handle(frames, state)
        }
    }

    private func drop(_ reason: String) {
        droppedMessages += 1
        // Log the first few and then every thousandth, so a flood cannot flood the log.
        if droppedMessages <= 5 || droppedMessages % 1000 == 0 { onEvent(.dropped(total: droppedMessages, reason: reason)) }
    }

    private func handle(_ frames: [[UInt8]], _ state: RoundState) throws {
        guard frames.count >= 2, frames.count <= 3 else {
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
        let body = frames.count == 3 ? frames[2] : []
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
        peer.lastSeen = .now
        do {
            switch envelope.kind {
            case .heartbeat:
                break
            case .ready:
                guard envelope.job == jobID else { return }
                let fingerprint = try TextBody.decode(body, "fingerprint")
                if !spec.stream, fingerprint != spec.fingerprint {
                    let reason = "\(peer.hello.host) sees a different \(spec.path) (fingerprint \(fingerprint), coordinator \(spec.fingerprint))"
                    sendRaw(identity, .refuse, body: TextBody.encode(reason))
                    onEvent(.workerRefused(label: peer.label, reason: reason))
                    peers[id] = nil
                    idOfIdentity[identity] = nil
                    return
                }
                peer.ready = true
            case .result:
                guard envelope.job == jobID, envelope.round == round else { return }  // stale: an earlier round
                let result = try ShardResult(body: body, shardCount: plan.count)
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
                    onShardDone?(plan.count - state.remaining, plan.count)
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
                send(peer, .jobEnd, body: nil)
                for shard in 0..<plan.count where owner[shard] == id { owner[shard] = nil }
                peer.pending.removeAll()
                peer.held.removeAll()
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
                send(peer, .rows, body: RowsChunk(shard: request.shard, offset: request.offset, values: rows.doubles()).body)
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
            lose(peer, reason: "reconnected")
        }
        guard peers.count < options.maxWorkers else {
            let reason = "the coordinator already has \(options.maxWorkers) workers (--max-workers)"
            sendRaw(identity, .refuse, body: TextBody.encode(reason))
            onEvent(.workerRefused(label: hello.label, reason: reason))
            return
        }
        deadIdentities.remove(identity)
        toldToRejoin.remove(identity)
        let peer = Peer(id: nextID, identity: identity, hello: hello)
        nextID += 1
        peers[peer.id] = peer
        idOfIdentity[identity] = peer.id
        send(peer, .welcome, body: Welcome(workerID: peer.id, heartbeatMilliseconds: options.heartbeatMilliseconds).body)
        send(peer, .job, body: spec.body)
        onEvent(.workerJoined(id: peer.id, hello: hello))
        if let referenceCore, hello.blasCore != referenceCore {
            onEvent(.blasMismatch(label: peer.label, core: hello.blasCore, expected: referenceCore))
        }
    }

    private func send(_ peer: Peer, _ kind: MessageKind, body: [UInt8]?) {
        sendRaw(peer.identity, kind, body: body)
    }

    private func sendRaw(_ identity: [UInt8], _ kind: MessageKind, body: [UInt8]?) {
        var frames = [identity, Envelope(kind, job: jobID, round: round).encoded]
        if let body { frames.append(body) }
        lastRound.bytesOut += frames.reduce(0) { $0 + $1.count }
        // A peer that vanished (EHOSTUNREACH) is found out by its silence.
        _ = try? socket.trySend(frames)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
