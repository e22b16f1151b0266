import Datasets
import Dispatch
import Engine
import Foundation
import Messaging
import Numerics

/// How a worker connects and behaves.
public struct WorkerOptions: Sendable {
    /// The coordinator's endpoint (`tcp://host:port` or `ipc://path`).
    public var endpoint: String
    /// Threads to compute with (shards run in parallel).
    public var threads: Int
    /// A name shown in the coordinator's messages.
    public var name: String = ""
    /// Exit when nothing has been heard from the coordinator for this long.
    public var coordinatorTimeout: Double = 60
    /// Exit when the parent process goes away (local workers started by `--workers`).
    public var exitWithParent = false
    /// Heartbeat period before the coordinator sets one.
    public var heartbeatMilliseconds = 1000
    /// CURVE keys (nil: no encryption).
    public var curve: CurveClientSettings?
    /// After sending a training step's result, poll for the next task this long before
    /// sleeping: the next step usually comes within a fraction of a millisecond, and waking a
    /// sleeping CPU (above all a virtual one) costs more than the polling. 0 turns it off.
    public var pollAfterStepMicroseconds = 1000
    /// The most memory this worker's shards may take (nil: every shard is kept in memory);
    /// shards over it are read from their `.npy` file on every pass (see ``MemoryLimit``).
    public var memoryLimit: MemoryLimit?
    /// Where to turn when the endpoint in use goes silent (an aggregator that died): tried in
    /// turn after ``endpoint``, each with its server's public key when CURVE is on (nil: the
    /// key of ``curve``).
    public var fallbacks: [(endpoint: String, serverKey: String?)] = []
    /// Offer the coordinator a shared-memory ring, through which a coordinator on the same host
    /// sends tasks and takes results without copying them through the socket (see `SharedRing`).
    public var sharedMemory = true

    /// Creates options.
    public init(endpoint: String, threads: Int) {
        self.endpoint = endpoint
        self.threads = max(1, threads)
    }
}

/// Why a worker stopped other than by being told to.
public struct WorkerExit: Error, CustomStringConvertible, Sendable {
    /// What happened, as one line.
    public var description: String
}

/// A worker process: connects to a coordinator, loads the shards it is given, and answers
/// tasks of the jobs it serves (its ``JobRegistry``) with one result per aligned block of
/// shards it holds, one job after another.
///
/// The socket is used by the thread that calls ``run()`` only. Computing happens on a
/// separate thread, which hands each finished shard back through an `inproc` PAIR socket,
/// so heartbeats keep flowing however long a task takes.
public final class ClusterWorker {
    private let options: WorkerOptions
    private let context: ZMQContext
    private var socket: ZMQSocket
    private let wake: ZMQSocket
    private let wakeEndpoint: String
    /// Reports failed handshakes: a refused key, or a coordinator with other security settings.
    private var monitor: ZMQMonitor
    /// The endpoints this worker may use (``WorkerOptions/endpoint`` then the fallbacks) and
    /// which one is in use.
    private let upstreams: [(endpoint: String, curve: CurveClientSettings?)]
    private var upstreamIndex = 0
    private var endpoint: String { upstreams[upstreamIndex].endpoint }
    /// When the endpoint in use was taken.
    private var connectedSince = ContinuousClock.now
    private let computeQueue = DispatchQueue(label: "emfleet.worker.compute")
    private let store: ShardStore
    private var hello: Hello
    /// The shared-memory ring offered in the current hello (a new one for every new hello:
    /// what a coordinator that forgot this worker left in the old one is never read).
    private var ring: SharedRing?
    /// Whether the coordinator mapped ``ring``: then big frames go through it both ways.
    private var ringInUse = false
    private let jobs: JobRegistry
    /// The coordinator's message limit, from its welcome: results are split to fit it.
    private var messageLimit: Int?

    private var heartbeatMilliseconds: Int
    private var welcomed = false
    private var lastHeard = ContinuousClock.now
    private var lastSent = ContinuousClock.now
    private var lastHello = ContinuousClock.now
    private var job: JobSpec?
    private var jobID: UInt64 = 0
    /// Whether the last job ended cleanly (then a coordinator that goes away is no error).
    private var lastJobEnded = false
    /// Bumped when the job ends or the worker rejoins: compute results of an older epoch are dropped.
    private var epoch: UInt64 = 0
    private let parent = getppid()
    /// Orders waiting for streamed rows, oldest first.
    private var waiting: [(round: UInt64, order: TaskOrder, task: PreparedTask)] = []
    private var streaming = StreamingState()
    private var dropped = 0

    /// Connects (lazily: ZeroMQ retries until the coordinator is there).
    ///
    /// - Parameter jobs: the jobs this worker computes; a task of any other is refused.
    public init(options: WorkerOptions, jobs: JobRegistry) throws {
        self.options = options
        self.jobs = jobs
        store = ShardStore(residency: ShardResidency(limit: options.memoryLimit), logName: options.name)
        heartbeatMilliseconds = options.heartbeatMilliseconds
        context = try ZMQContext()
        upstreams = [(options.endpoint, options.curve)] + options.fallbacks.map { fallback in
            (fallback.endpoint, options.curve.map { CurveClientSettings(keys: $0.keys, coordinatorKey: fallback.serverKey ?? $0.coordinatorKey) })
        }
        (socket, monitor) = try Self.connect(context: context, to: options.endpoint, curve: options.curve)
        wakeEndpoint = "inproc://emfleet-worker-\(UUID().uuidString)"
        wake = try ZMQSocket(context: context, type: .pair)
        try wake.bind(wakeEndpoint)
        hello = Hello(
            host: ProcessInfo.processInfo.hostName, pid: Int(getpid()), threads: options.threads,
            blasCore: BLAS.coreName, software: EmfleetVersion.string, name: options.name,
            runnableCores: BLASKernel.runnableKernelsOnThisCPU())
        BLAS.setThreadCount(1)
        renewRing()
    }

    /// Makes a new ring for the next hello (none when shared memory is off or cannot be had:
    /// the socket carries everything then).
    private func renewRing() {
        ringInUse = false
        ring = options.sharedMemory ? try? SharedRing.create() : nil
        hello.ring = ring?.offer
    }

    deinit {
        monitor.close()
        socket.close()
        wake.close()
    }

    /// A DEALER socket connected (lazily: ZeroMQ retries) to `endpoint`, and its monitor.
    private static func connect(context: ZMQContext, to endpoint: String, curve: CurveClientSettings?) throws -> (ZMQSocket, ZMQMonitor) {
        let socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setMaxMessageSize(WireProtocol.maxMessageBytes)
        try socket.setReconnectInterval(milliseconds: 200)
        if let curve {
            try socket.setCurveClient(
                serverKey: try ZMQCurve.decode(z85: curve.coordinatorKey), publicKey: try ZMQCurve.decode(z85: curve.keys.publicKey),
                secretKey: try ZMQCurve.decode(z85: curve.keys.secretKey))
        }
        let monitorEndpoint = "inproc://emfleet-worker-monitor-\(UUID().uuidString)"
        try socket.monitor(endpoint: monitorEndpoint, events: [.handshakeFailedAuth, .handshakeFailedProtocol, .handshakeFailedNoDetail])
        let monitor = try ZMQMonitor(context: context, endpoint: monitorEndpoint)
        try socket.connect(endpoint)
        return (socket, monitor)
    }

    /// Turns to the next endpoint (after the one in use went silent): the job is dropped and
    /// the worker says hello there, as a new worker.
    private func failOver() throws {
        upstreamIndex = (upstreamIndex + 1) % upstreams.count
        let next = upstreams[upstreamIndex]
        FileHandle.standardError.write(Data("emfleet: worker\(options.name.isEmpty ? "" : " " + options.name): no word for \(Self.seconds(failoverSeconds)) s; turning to \(next.endpoint)\n".utf8))
        monitor.close()
        try? socket.setLinger(milliseconds: 0)
        socket.close()
        (socket, monitor) = try Self.connect(context: context, to: next.endpoint, curve: next.curve)
        dropJob()
        welcomed = false
        renewRing()
        lastHeard = .now
        connectedSince = .now
        try send(.hello, body: hello.body)
        lastHello = .now
    }

    /// How long the endpoint in use may be silent before a worker with fallbacks turns to the
    /// next: ten heartbeat periods, twice the time after which the coordinator declares an
    /// aggregator (or worker) dead, so its shards have moved by then.
    private var failoverSeconds: Double { max(1, Double(heartbeatMilliseconds) * 10 / 1000) }

    private static func seconds(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value) }

    /// Serves jobs until told to shut down, or until the coordinator has gone away after its
    /// last job ended cleanly.
    ///
    /// - Returns: why it stopped, as a line to print.
    /// - Throws: ``WorkerExit`` when refused, when the coordinator goes silent during a job or
    ///   before any, or when the parent is gone.
    @discardableResult
    public func run() throws -> String {
        let computeSide = try ZMQSocket(context: context, type: .pair)
        try computeSide.connect(wakeEndpoint)
        store.output = computeSide
        defer {
            computeQueue.sync {}
            computeSide.close()
        }
        try send(.hello, body: hello.body)
        lastHello = .now
        while true {
            let polling = ContinuousClock.now < pollUntil
            let ready = try ZMQPoll.readable([socket, wake], timeoutMilliseconds: polling ? 0 : 200)
            if polling, ready.isEmpty {
                sched_yield()  // let the I/O thread (and anyone else) run on this core
                if let done = try keepAlive() { return done }
                continue
            }
            if ready.contains(1) { try forwardComputed() }
            if ready.contains(0) {
                while let received = try socket.tryReceive() {
                    lastHeard = .now
                    do {
                        let frames = try ring?.incoming(received) ?? received
                        if try handle(frames) == .stop { return "told to shut down by the coordinator" }
                    } catch let error as WireError {
                        // A malformed message is dropped, never followed.
                        dropped += 1
                        if dropped <= 5 || dropped % 1000 == 0 {
                            FileHandle.standardError.write(Data("emfleet: worker: dropped a malformed message (\(dropped) so far): \(error)\n".utf8))
                        }
                    }
                }
            }
            try checkHandshakes()
            if let done = try keepAlive() { return done }
        }
    }

    private enum Next { case goOn, stop }
    /// How long the last task that may run on the network thread took (see `ShardJob.runsInline`).
    private let inlineSeconds = Locked(0.0)
    /// Until when the loop polls without sleeping (see `WorkerOptions.pollAfterStepMicroseconds`).
    private var pollUntil = ContinuousClock.now

    /// Gives up when the coordinator refuses this worker's key or speaks another security mechanism.
    private func checkHandshakes() throws {
        while let event = try monitor.next(timeoutMilliseconds: 0) {
            if event.event.contains(.handshakeFailedAuth) {
                let fingerprint = options.curve.map { CurveKeyPair.fingerprint($0.keys.publicKey) } ?? "none"
                throw WorkerExit(description: "authentication failed: the coordinator at \(endpoint) does not accept this worker's key (\(fingerprint)); add its .public file to the coordinator's --authorized-keys")
            }
            throw WorkerExit(description: options.curve == nil
                ? "the handshake with the coordinator at \(endpoint) failed: it probably requires CURVE; give --curve-secret and --coordinator-key"
                : "the handshake with the coordinator at \(endpoint) failed: check --coordinator-key (or the coordinator does not use CURVE)")
        }
    }

    private func handle(_ frames: [[UInt8]]) throws -> Next {
        guard let first = frames.first else { return .goOn }
        let envelope: Envelope
        switch Envelope.decode(first) {
        case let .success(decoded):
            envelope = decoded
        case let .failure(.version(theirs)):
            // A refusal keeps its layout in every version: print it whatever it says.
            if first.count >= 8, first[6] == UInt8(MessageKind.refuse.rawValue), first[7] == 0, frames.count == 2,
               let reason = try? TextBody.decode(frames[1], "refusal") {
                throw WorkerExit(description: "the coordinator refused this worker: \(reason)")
            }
            throw WorkerExit(description: "the coordinator speaks protocol version \(theirs); this worker speaks \(WireProtocol.version)")
        case .failure:
            return .goOn  // not from an emfleet coordinator; nothing to answer
        }
        let body = frames.count > 1 ? frames[1] : []
        switch envelope.kind {
        case .welcome:
            let welcome = try Welcome(body: body)
            if !welcome.requiredCore.isEmpty, welcome.requiredCore != BLAS.coreName {
                // The coordinator computes with another kernel: so must this worker, for models that do
                // not depend on which worker computed which shard. It comes back as a new process.
                FileHandle.standardError.write(Data(
                    "emfleet: worker: the coordinator computes with OpenBLAS kernel \(welcome.requiredCore), this worker with \(BLAS.coreName); re-executing with OPENBLAS_CORETYPE=\(welcome.requiredCore)\n".utf8))
                monitor.close()
                socket.close()
                throw WorkerExit(description: BLASKernel.reexecute(withKernel: welcome.requiredCore))
            }
            heartbeatMilliseconds = welcome.heartbeatMilliseconds
            messageLimit = welcome.messageLimit - WireProtocol.resultOverhead
            ringInUse = ring != nil && welcome.ring == ring?.id
            welcomed = true
        case .refuse:
            throw WorkerExit(description: "the coordinator refused this worker: \((try? TextBody.decode(body, "refusal")) ?? "no reason given")")
        case .rejoin:
            guard welcomed else { return .goOn }  // a hello is already on its way
            dropJob()
            welcomed = false
            renewRing()
            try send(.hello, body: hello.body)
            lastHello = .now
        case .job:
            dropJob()
            let spec = try JobSpec(body: body)
            jobID = envelope.job
            lastJobEnded = false
            if spec.stream {
                job = spec
                try send(.ready, body: TextBody.encode(""), job: jobID)
            } else {
                do {
                    let fingerprint = try spec.localFingerprint()
                    job = spec
                    try send(.ready, body: TextBody.encode(fingerprint), job: jobID)
                } catch {
                    try send(.failure, body: WorkerFailure(fatal: false, message: "\(error)").body, job: envelope.job)
                }
            }
        case .task:
            guard let job, envelope.job == jobID else { return .goOn }
            let order = try TaskOrder(frames: frames.dropFirst(), shardCount: job.shards)
            store.release(order.release)
            guard let served = jobs[order.job] else {
                let message = "this worker does not serve \(order.job) jobs (it serves: \(jobs.identifiers.joined(separator: ", ")))"
                try send(.failure, body: WorkerFailure(fatal: false, message: message).body, job: jobID, round: envelope.round)
                return .goOn
            }
            let task: PreparedTask
            do {
                task = try served.prepare(order.task, context: ShardContext(plan: job.plan, dimension: job.columns))
            } catch {
                try send(.failure, body: WorkerFailure(fatal: false, message: "cannot read the task: \(error)").body, job: jobID, round: envelope.round)
                return .goOn
            }
            if job.stream {
                waiting.append((envelope.round, order, task))
                try requestMissingRows()
            } else if task.inline, inlineSeconds.current < Double(heartbeatMilliseconds) / 1000 / 2 {
                // A short task on the critical path (a training step): computed here, without the
                // hand-offs to and from the compute thread (after any earlier task ends). While such
                // tasks take longer than half a heartbeat period (a wide network) they go to the
                // compute thread, so that heartbeats keep flowing; each one's time is measured on
                // either path, so a single slow step does not move the next ones.
                computeQueue.sync {}
                let start = ContinuousClock.now
                for (kind, parts) in store.compute(task, shards: order.shards, job: job, threads: options.threads, messageLimit: messageLimit) {
                    try send(kind, parts, job: jobID, round: envelope.round)
                }
                inlineSeconds.withLock { $0 = (ContinuousClock.now - start).seconds }
                pollUntil = ContinuousClock.now + .microseconds(options.pollAfterStepMicroseconds)
            } else {
                startCompute(task, shards: order.shards, round: envelope.round)
            }
        case .rows:
            guard let job, envelope.job == jobID, job.stream else { return .goOn }
            let chunk = try RowsChunk(body: body, shardCount: job.shards)
            streaming.receive(chunk, plan: job.plan, columns: job.columns, weighted: job.hasWeights, store: store)
            try requestMissingRows()
        case .jobEnd:
            if envelope.job == jobID {
                dropJob()
                lastJobEnded = true
            }
        case .shutdown:
            return .stop
        case .heartbeat:
            break
        case .hello, .ready, .result, .failure, .rowsRequest, .aggregatorHello, .aggregatorWelcome, .relay, .groupTask, .groupResult,
             .groupState, .groupLost:
            break  // coordinator-bound kinds, and those between coordinator and aggregators: ignore
        }
        return .goOn
    }

    /// Sends heartbeats, re-introduces itself while unwelcomed, and gives up on a silent
    /// coordinator (returning a reason when that is a normal end).
    private func keepAlive() throws -> String? {
        let now = ContinuousClock.now
        if options.exitWithParent, getppid() != parent {
            throw WorkerExit(description: "the process that started this worker has exited")
        }
        if upstreams.count > 1, !(lastJobEnded && welcomed),
           now - lastHeard > .seconds(welcomed ? failoverSeconds : max(failoverSeconds, 10)), now - connectedSince > .seconds(failoverSeconds) {
            try failOver()
            return nil
        }
        if now - lastHeard > .seconds(options.coordinatorTimeout) {
            if lastJobEnded {
                return "the coordinator went away after its job ended; exiting"
            }
            throw WorkerExit(description: "no word from the coordinator at \(endpoint) for \(Int(options.coordinatorTimeout)) s; exiting")
        }
        if !welcomed, now - lastHello > .seconds(2) {
            try send(.hello, body: hello.body)
            lastHello = now
        }
        if now - lastSent > .milliseconds(heartbeatMilliseconds) {
            try send(.heartbeat, body: nil, job: jobID)
        }
        return nil
    }

    private func send(_ kind: MessageKind, body: [UInt8]?, job: UInt64 = 0, round: UInt64 = 0) throws {
        try send(kind, body.map { [$0] } ?? [], job: job, round: round)
    }

    /// Sends a message whose frames after the envelope are `parts` (a body, and a result's outcome).
    private func send(_ kind: MessageKind, _ parts: [[UInt8]], job: UInt64 = 0, round: UInt64 = 0) throws {
        let frames = [Envelope(kind, job: job, round: round).encoded] + parts
        switch kind {
        case .hello, .heartbeat:
            // A DEALER with no connection (a handshake refused, the coordinator not up yet) would
            // block here; these are repeated anyway, so one that cannot be queued now is dropped,
            // and the loop goes on to notice the refusal or the silence.
            guard try socket.trySend(frames) else { return }
        default:
            try socket.send(outgoing(frames))
        }
        lastSent = .now
    }

    /// `frames` with their big frames in the ring, when the coordinator mapped it.
    private func outgoing(_ frames: [[UInt8]]) -> [[UInt8]] {
        guard ringInUse, let ring else { return frames }
        return ring.outgoing(frames)
    }

    private func dropJob() {
        inlineSeconds.withLock { $0 = 0 }
        epoch &+= 1
        store.epoch = epoch
        store.removeAll()
        job = nil
        waiting.removeAll()
        streaming = StreamingState()
    }

    // MARK: Computing

    private func startCompute(_ task: PreparedTask, shards: [Int], round: UInt64) {
        guard let job else { return }
        pollUntil = .now  // the compute threads need the cores more than the next task does
        let store = self.store, threads = options.threads, epoch = self.epoch, jobID = self.jobID, limit = messageLimit
        let inlineSeconds = self.inlineSeconds
        computeQueue.async {
            let start = ContinuousClock.now
            for (kind, parts) in store.compute(task, shards: shards, job: job, threads: threads, messageLimit: limit) {
                store.emit(epoch: epoch, kind, job: jobID, round: round, parts)
            }
            if task.inline { inlineSeconds.withLock { $0 = (ContinuousClock.now - start).seconds } }
        }
    }

    /// Passes finished shards from the compute thread to the coordinator.
    private func forwardComputed() throws {
        while let frames = try wake.tryReceive() {
            guard frames.count >= 3, frames[0].count == 8 else { continue }
            let epochOfResult = frames[0].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            guard epochOfResult == epoch else { continue }  // computed for a job since dropped
            let envelope = try Envelope.decode(frames[1]).get()
            try socket.send(outgoing([envelope.encoded] + frames.dropFirst(2)))
            lastSent = .now
        }
    }

    // MARK: Streaming

    /// Asks for the rows the oldest waiting orders need, keeping a few requests in flight,
    /// and starts every order whose shards have all arrived.
    private func requestMissingRows() throws {
        guard let job else { return }
        while let first = waiting.first, first.order.shards.allSatisfy(store.holds) {
            waiting.removeFirst()
            startCompute(first.task, shards: first.order.shards, round: first.round)
        }
        let needed = waiting.flatMap(\.order.shards).filter { !store.holds($0) }
        for request in streaming.nextRequests(for: needed, plan: job.plan, columns: job.columns) {
            try send(.rowsRequest, body: request.body, job: jobID)
        }
    }
}

/// Flow control for `--stream-data`: at most a few chunk requests in flight.
private struct StreamingState {
    static let window = 4
    static let chunkBytes = 4 << 20
    /// Partially received shards: their values and weights so far.
    var partial: [Int: [Double]] = [:]
    var partialWeights: [Int: [Double]] = [:]
    /// Next row offset to request per shard.
    var nextOffset: [Int: Int] = [:]
    var inFlight = 0

    mutating func nextRequests(for shards: [Int], plan: ShardPlan, columns: Int) -> [RowsRequest] {
        var requests = [RowsRequest]()
        let chunkRows = max(1, Self.chunkBytes / (8 * columns))
        for shard in shards {
            let count = plan.ranges[shard].count
            while inFlight < Self.window, nextOffset[shard, default: 0] < count {
                let offset = nextOffset[shard, default: 0]
                let rows = min(chunkRows, count - offset)
                requests.append(RowsRequest(shard: shard, offset: offset, count: rows))
                nextOffset[shard] = offset + rows
                inFlight += 1
            }
            if inFlight >= Self.window { break }
        }
        return requests
    }

    mutating func receive(_ chunk: RowsChunk, plan: ShardPlan, columns: Int, weighted: Bool, store: ShardStore) {
        inFlight = max(0, inFlight - 1)
        let count = plan.ranges[chunk.shard].count
        guard chunk.values.count % columns == 0, chunk.offset * columns == partial[chunk.shard, default: []].count,
              chunk.weights.count == (weighted ? chunk.values.count / columns : 0)
        else { return }
        partial[chunk.shard, default: []].append(contentsOf: chunk.values)
        if weighted { partialWeights[chunk.shard, default: []].append(contentsOf: chunk.weights) }
        if partial[chunk.shard]!.count == count * columns {
            store.insert(
                FeatureMatrix(rows: count, columns: columns, values: partial.removeValue(forKey: chunk.shard)!),
                weights: partialWeights.removeValue(forKey: chunk.shard), shard: chunk.shard)
            nextOffset[chunk.shard] = nil
        }
    }
}

/// The shards a worker holds, shared by its network thread and its compute thread.
private final class ShardStore: Sendable {
    private struct Held {
        var rows: [Int: FeatureMatrix] = [:]
        var targets: [Int: TargetRows] = [:]
        var weights: [Int: [Double]] = [:]
    }

    private let held = Locked(Held())
    let scratch = ScratchStore()
    /// Which shards are kept in memory and which are read from the file.
    private let residency: ShardResidency
    /// How this worker is named in its log lines.
    private let logName: String

    init(residency: ShardResidency, logName: String) {
        self.residency = residency
        self.logName = logName
    }
    private let epochValue = Locked<UInt64>(0)
    /// The network thread's end of the hand-off socket (set once before computing starts).
    private let outputSocket = Locked<ZMQSocket?>(nil)

    var epoch: UInt64 {
        get { epochValue.current }
        set { epochValue.withLock { $0 = newValue } }
    }

    var output: ZMQSocket? {
        get { outputSocket.current }
        set { outputSocket.withLock { $0 = newValue } }
    }

    func holds(_ shard: Int) -> Bool { held.withLock { $0.rows[shard] != nil } }

    func insert(_ matrix: FeatureMatrix, weights: [Double]?, shard: Int) {
        held.withLock {
            $0.rows[shard] = matrix
            $0.weights[shard] = weights
        }
    }

    func release(_ shards: [Int]) {
        held.withLock { held in
            for shard in shards {
                held.rows[shard] = nil
                held.targets[shard] = nil
                held.weights[shard] = nil
            }
        }
        scratch.release(shards)
        residency.release(shards)
    }

    func removeAll() {
        held.withLock { $0 = Held() }
        scratch.removeAll()
        residency.removeAll()
    }

    /// Runs a task on `shards` (loading missing ones from shared storage), and returns the
    /// messages to send (each kind with its frames after the envelope): one result per block, or the failure.
    func compute(_ task: PreparedTask, shards: [Int], job: JobSpec, threads: Int, messageLimit: Int?) -> [(MessageKind, [[UInt8]])] {
        do {
            let start = ContinuousClock.now
            let results = try task.compute(shards, threads, messageLimit, { try self.data(of: $0, job: job) }, scratch)
            let read = try bytesRead(shards)
            if let report = residency.changedReport(file: job.path) {
                FileHandle.standardError.write(Data("emfleet: worker\(logName.isEmpty ? "" : " " + logName): \(report)\n".utf8))
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
            // Each block carries its share of the time by rows, so the coordinator's sums add up.
            let total = max(1, shards.reduce(0) { $0 + job.plan.ranges[$1].count })
            return results.map { block, outcome in
                let rows = block.clamped(to: 0..<job.plan.count).reduce(0) { $0 + job.plan.ranges[$1].count }
                let blockRead = block.reduce(0) { $0 + (read[$1] ?? 0) }
                return (.result, ShardResult(shards: block, outcome: outcome, computeSeconds: seconds * Double(rows) / Double(total), rows: rows,
                                             bytesRead: blockRead).frames)
            }
        } catch let error as FatalJobError {
            return [(.failure, [WorkerFailure(fatal: true, message: error.description).body])]
        } catch {
            // Bad values in the rows would fail on every worker: that stops the job.
            let fatal = (error as? DatasetError)?.row != nil
            return [(.failure, [WorkerFailure(fatal: fatal, message: "\(error)").body])]
        }
    }

    /// The bytes each of `shards` read from its file during the task just computed, after
    /// checking that every read succeeded.
    private func bytesRead(_ shards: [Int]) throws -> [Int: Int] {
        var read: [Int: Int] = [:]
        for shard in shards {
            guard let source = held.withLock({ $0.rows[shard] })?.fileBackedRows else { continue }
            try source.checkReads()
            read[shard] = source.takeBytesRead()
        }
        return read
    }

    /// A shard's rows and, for jobs with labels, its targets; for data with weights, its weights.
    private func data(of shard: Int, job: JobSpec) throws -> ShardData {
        let range = job.plan.ranges[shard]
        let matrix: FeatureMatrix
        if let rows = held.withLock({ $0.rows[shard] }) {
            matrix = rows
        } else {
            matrix = try JobDataSource.rows(
                shard: shard, range: range, path: job.path, csv: job.csv,
                bytes: try JobDataSource.bytesInMemory(path: job.path, rows: range.count, columns: job.columns), residency: residency
            ) { try job.readRows(range) }
            held.withLock { $0.rows[shard] = matrix }
        }
        var labels: TargetRows?
        if job.labels != .none {
            if let targets = held.withLock({ $0.targets[shard] }) {
                labels = targets
            } else {
                let loaded = try job.readTargets(range)
                held.withLock { $0.targets[shard] = loaded }
                labels = loaded
            }
        }
        var weights: [Double]?
        if job.hasWeights {
            if let held = held.withLock({ $0.weights[shard] }) {
                weights = held
            } else {
                let loaded = try job.readWeights(range)
                held.withLock { $0.weights[shard] = loaded }
                weights = loaded
            }
        }
        return ShardData(
            index: shard, features: matrix, positions: 0..<matrix.rows, firstRow: range.lowerBound, targets: labels, weights: weights)
    }

    func emit(epoch: UInt64, _ kind: MessageKind, job: UInt64, round: UInt64, _ parts: [[UInt8]]) {
        let epochBytes = withUnsafeBytes(of: epoch) { Array($0) }
        outputSocket.withLock { socket in
            _ = try? socket?.send([epochBytes, Envelope(kind, job: job, round: round).encoded] + parts)
        }
    }
}

