import Datasets
import Dispatch
import Foundation
import Messaging
import Mixture
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
/// tasks with per-shard outcomes, one job after another.
///
/// The socket is used by the thread that calls ``run()`` only. Computing happens on a
/// separate thread, which hands each finished shard back through an `inproc` PAIR socket,
/// so heartbeats keep flowing however long a task takes.
public final class ClusterWorker {
    private let options: WorkerOptions
    private let context: ZMQContext
    private let socket: ZMQSocket
    private let wake: ZMQSocket
    private let wakeEndpoint: String
    /// Reports failed handshakes: a refused key, or a coordinator with other security settings.
    private let monitor: ZMQMonitor
    private let computeQueue = DispatchQueue(label: "emfleet.worker.compute")
    private let store = ShardStore()
    private let hello: Hello

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
    private var waiting: [(round: UInt64, order: TaskOrder)] = []
    private var streaming = StreamingState()
    private var dropped = 0

    /// Connects (lazily: ZeroMQ retries until the coordinator is there).
    public init(options: WorkerOptions) throws {
        self.options = options
        heartbeatMilliseconds = options.heartbeatMilliseconds
        context = try ZMQContext()
        socket = try ZMQSocket(context: context, type: .dealer)
        try socket.setMaxMessageSize(WireProtocol.maxMessageBytes)
        try socket.setReconnectInterval(milliseconds: 200)
        if let curve = options.curve {
            try socket.setCurveClient(
                serverKey: try ZMQCurve.decode(z85: curve.coordinatorKey), publicKey: try ZMQCurve.decode(z85: curve.keys.publicKey),
                secretKey: try ZMQCurve.decode(z85: curve.keys.secretKey))
        }
        let monitorEndpoint = "inproc://emfleet-worker-monitor-\(UUID().uuidString)"
        try socket.monitor(endpoint: monitorEndpoint, events: [.handshakeFailedAuth, .handshakeFailedProtocol, .handshakeFailedNoDetail])
        monitor = try ZMQMonitor(context: context, endpoint: monitorEndpoint)
        try socket.connect(options.endpoint)
        wakeEndpoint = "inproc://emfleet-worker-\(UUID().uuidString)"
        wake = try ZMQSocket(context: context, type: .pair)
        try wake.bind(wakeEndpoint)
        hello = Hello(
            host: ProcessInfo.processInfo.hostName, pid: Int(getpid()), threads: options.threads,
            blasCore: BLAS.coreName, software: ClusterInfo.softwareVersion, name: options.name)
        BLAS.setThreadCount(1)
    }

    deinit {
        monitor.close()
        socket.close()
        wake.close()
    }

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
                while let frames = try socket.tryReceive() {
                    lastHeard = .now
                    do {
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
    /// Until when the loop polls without sleeping (see `WorkerOptions.pollAfterStepMicroseconds`).
    private var pollUntil = ContinuousClock.now

    /// Gives up when the coordinator refuses this worker's key or speaks another security mechanism.
    private func checkHandshakes() throws {
        while let event = try monitor.next(timeoutMilliseconds: 0) {
            if event.event.contains(.handshakeFailedAuth) {
                let fingerprint = options.curve.map { CurveKeyPair.fingerprint($0.keys.publicKey) } ?? "none"
                throw WorkerExit(description: "authentication failed: the coordinator at \(options.endpoint) does not accept this worker's key (\(fingerprint)); add its .public file to the coordinator's --authorized-keys")
            }
            throw WorkerExit(description: options.curve == nil
                ? "the handshake with the coordinator at \(options.endpoint) failed: it probably requires CURVE; give --curve-secret and --coordinator-key"
                : "the handshake with the coordinator at \(options.endpoint) failed: check --coordinator-key (or the coordinator does not use CURVE)")
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
            heartbeatMilliseconds = welcome.heartbeatMilliseconds
            welcomed = true
        case .refuse:
            throw WorkerExit(description: "the coordinator refused this worker: \((try? TextBody.decode(body, "refusal")) ?? "no reason given")")
        case .rejoin:
            guard welcomed else { return .goOn }  // a hello is already on its way
            dropJob()
            welcomed = false
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
                    let fingerprint = try DataFingerprint.of(path: spec.path)
                    job = spec
                    try send(.ready, body: TextBody.encode(fingerprint), job: jobID)
                } catch {
                    try send(.failure, body: WorkerFailure(fatal: false, message: "\(error)").body, job: envelope.job)
                }
            }
        case .task:
            guard let job, envelope.job == jobID else { return .goOn }
            let order = try TaskOrder(body: body, shardCount: job.shards)
            store.release(order.release)
            if job.stream {
                waiting.append((envelope.round, order))
                try requestMissingRows()
            } else if order.task.first == NeuralTaskCodec.stepTag {
                // A training step is short and on the critical path: compute it here, without
                // the hand-offs to and from the compute thread (after any earlier task ends).
                computeQueue.sync {}
                for (kind, body) in store.computeInline(order, job: job, threads: options.threads) {
                    try send(kind, body: body, job: jobID, round: envelope.round)
                }
                pollUntil = ContinuousClock.now + .microseconds(options.pollAfterStepMicroseconds)
            } else {
                startCompute(order, round: envelope.round)
            }
        case .rows:
            guard let job, envelope.job == jobID, job.stream else { return .goOn }
            let chunk = try RowsChunk(body: body, shardCount: job.shards)
            streaming.receive(chunk, plan: job.plan, columns: job.columns, store: store)
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
        case .hello, .ready, .result, .failure, .rowsRequest:
            break  // coordinator-bound kinds: ignore
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
        if now - lastHeard > .seconds(options.coordinatorTimeout) {
            if lastJobEnded {
                return "the coordinator went away after its job ended; exiting"
            }
            throw WorkerExit(description: "no word from the coordinator at \(options.endpoint) for \(Int(options.coordinatorTimeout)) s; exiting")
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
        var frames = [Envelope(kind, job: job, round: round).encoded]
        if let body { frames.append(body) }
        try socket.send(frames)
        lastSent = .now
    }

    private func dropJob() {
        epoch &+= 1
        store.epoch = epoch
        store.removeAll()
        job = nil
        waiting.removeAll()
        streaming = StreamingState()
    }

    // MARK: Computing

    private func startCompute(_ order: TaskOrder, round: UInt64) {
        guard let job else { return }
        pollUntil = .now  // the compute threads need the cores more than the next task does
        let store = self.store, threads = options.threads, epoch = self.epoch, jobID = self.jobID
        computeQueue.async {
            store.compute(order, job: job, jobID: jobID, round: round, epoch: epoch, threads: threads)
        }
    }

    /// Passes finished shards from the compute thread to the coordinator.
    private func forwardComputed() throws {
        while let frames = try wake.tryReceive() {
            guard frames.count == 3, frames[0].count == 8 else { continue }
            let epochOfResult = frames[0].withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
            guard epochOfResult == epoch else { continue }  // computed for a job since dropped
            let envelope = try Envelope.decode(frames[1]).get()
            try socket.send([envelope.encoded, frames[2]])
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
            startCompute(first.order, round: first.round)
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
    /// Partially received shards: their values so far.
    var partial: [Int: [Double]] = [:]
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

    mutating func receive(_ chunk: RowsChunk, plan: ShardPlan, columns: Int, store: ShardStore) {
        inFlight = max(0, inFlight - 1)
        let count = plan.ranges[chunk.shard].count
        guard chunk.values.count % columns == 0, chunk.offset * columns == partial[chunk.shard, default: []].count else { return }
        partial[chunk.shard, default: []].append(contentsOf: chunk.values)
        if partial[chunk.shard]!.count == count * columns {
            store.insert(FeatureMatrix(rows: count, columns: columns, values: partial.removeValue(forKey: chunk.shard)!), shard: chunk.shard)
            nextOffset[chunk.shard] = nil
        }
    }
}

/// The shards a worker holds, shared by its network thread and its compute thread.
private final class ShardStore: @unchecked Sendable {
    // @unchecked: every field is read and written under `lock`; `output` is used only under `lock`.
    private let lock = NSLock()
    private var rows: [Int: FeatureMatrix] = [:]
    private var scratch: [Int: ShardScratch] = [:]
    var epoch: UInt64 {
        get { lock.withLock { _epoch } }
        set { lock.withLock { _epoch = newValue } }
    }
    private var _epoch: UInt64 = 0
    var output: ZMQSocket?

    func holds(_ shard: Int) -> Bool { lock.withLock { rows[shard] != nil } }

    func insert(_ matrix: FeatureMatrix, shard: Int) { lock.withLock { rows[shard] = matrix } }

    func release(_ shards: [Int]) {
        lock.withLock {
            for shard in shards {
                rows[shard] = nil
                scratch[shard] = nil
                targets[shard] = nil
                neuralScratch[shard] = nil
            }
        }
    }

    func removeAll() {
        lock.withLock {
            rows.removeAll()
            scratch.removeAll()
            targets.removeAll()
            neuralScratch.removeAll()
        }
    }

    /// Loads missing shards (shared storage), runs the task on each shard with `threads`
    /// threads, and hands each outcome to the network thread as it is done.
    func compute(_ order: TaskOrder, job: JobSpec, jobID: UInt64, round: UInt64, epoch: UInt64, threads: Int) {
        if NeuralTaskCodec.isNeural(order.task) {
            computeNeural(order, job: job, threads: threads) { kind, body in
                self.emit(epoch: epoch, kind, job: jobID, round: round, body: body)
            }
            return
        }
        let plan = job.plan
        let task: ShardTask
        do {
            task = try MixtureTaskCodec.decodeTask(order.task, dimension: job.columns)
        } catch {
            emit(epoch: epoch, .failure, job: jobID, round: round, body: WorkerFailure(fatal: false, message: "cannot read the task: \(error)").body)
            return
        }
        let shards = order.shards
        let failed = FailureFlag()
        DispatchQueue.concurrentPerform(iterations: min(threads, max(1, shards.count))) { lane in
            var index = lane
            while index < shards.count, !failed.isSet {
                let shard = shards[index]
                index += min(threads, max(1, shards.count))
                do {
                    let matrix = try rowsOf(shard, job: job, plan: plan)
                    let state = lock.withLock { () -> ShardScratch in
                        if let existing = scratch[shard] { return existing }
                        let made = ShardScratch()
                        scratch[shard] = made
                        return made
                    }
                    let view = ShardView(data: matrix, range: 0..<matrix.rows, firstGlobalRow: plan.ranges[shard].lowerBound)
                    let outcome = ShardEvaluator.evaluate(task, on: view, scratch: state)
                    let result = ShardResult(shards: shard..<(shard + 1), outcome: MixtureTaskCodec.encode(outcome))
                    emit(epoch: epoch, .result, job: jobID, round: round, body: result.body)
                } catch {
                    failed.set()
                    // Bad values in the rows would fail on every worker: that stops the job.
                    let fatal = (error as? DatasetError)?.row != nil
                    emit(epoch: epoch, .failure, job: jobID, round: round, body: WorkerFailure(fatal: fatal, message: "\(error)").body)
                }
            }
        }
    }

    private var targets: [Int: TargetRows] = [:]
    private var neuralScratch: [Int: NeuralScratch] = [:]

    /// A training task: per-shard sums added up over the aligned blocks this worker holds
    /// whole (one result per block), or per-shard outputs for predictions.
    /// A training task computed on the calling thread; returns the messages to send.
    func computeInline(_ order: TaskOrder, job: JobSpec, threads: Int) -> [(MessageKind, [UInt8])] {
        let messages = MessageList()
        computeNeural(order, job: job, threads: threads) { messages.append(($0, $1)) }
        return messages.all
    }

    private func computeNeural(_ order: TaskOrder, job: JobSpec, threads: Int, deliver: @escaping @Sendable (MessageKind, [UInt8]) -> Void) {
        let plan = job.plan
        let task: NeuralTask
        do {
            task = try NeuralTaskCodec.decodeTask(order.task, dimension: job.columns, plan: plan)
        } catch {
            deliver(.failure, WorkerFailure(fatal: false, message: "cannot read the task: \(error)").body)
            return
        }
        let shards = order.shards
        let failed = FailureFlag()
        let leaves = LeafSlots()
        let lanes = min(threads, max(1, shards.count))
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            var index = lane
            while index < shards.count, !failed.isSet {
                let shard = shards[index]
                index += lanes
                do {
                    let matrix = try rowsOf(shard, job: job, plan: plan)
                    if case let .predict(state) = task {
                        let data = NeuralShard(features: matrix, targets: .classes([]), index: shard)
                        let outputs = NeuralShardEvaluator.outputs(state, shard: data)
                        deliver(.result, ShardResult(shards: shard..<(shard + 1), outcome: NeuralTaskCodec.encode(outputs: outputs)).body)
                        continue
                    }
                    let data = NeuralShard(features: matrix, targets: try targetsOf(shard, job: job, plan: plan), index: shard)
                    let scratch = lock.withLock { () -> NeuralScratch in
                        if let existing = neuralScratch[shard] { return existing }
                        let made = NeuralScratch()
                        neuralScratch[shard] = made
                        return made
                    }
                    leaves.store(NeuralShardEvaluator.sums(task, shard: data, scratch: scratch), at: shard)
                } catch {
                    failed.set()
                    let fatal = (error as? DatasetError)?.row != nil
                    deliver(.failure, WorkerFailure(fatal: fatal, message: "\(error)").body)
                }
            }
        }
        if failed.isSet { return }
        if case .predict = task { return }
        var known = leaves.byRange()
        // EMFLEET_RESULTS_PER_SHARD=1 sends every shard's sums alone (the other design the
        // benchmark compares); the model is the same either way.
        let blocks = perShardResults
            ? shards.sorted().map { $0..<($0 + 1) }
            : ShardTree.blocks(covering: Set(shards), shards: plan.count)
        var results: [(Range<Int>, TrainingSums)] = []
        for block in blocks {
            guard let value = ShardTree.reduce(block, shards: plan.count, known: &known, add: +=) else { continue }
            // Diverged weights give every worker the same NaN: a fault of the job, not of this worker.
            guard value.batch.isFinite else {
                deliver(.failure, WorkerFailure(fatal: true, message: task.divergence).body)
                return
            }
            results.append((block, value))
        }
        for (block, value) in results {
            deliver(.result, ShardResult(shards: block, outcome: NeuralTaskCodec.encode(value)).body)
        }
    }

    private func targetsOf(_ shard: Int, job: JobSpec, plan: ShardPlan) throws -> TargetRows {
        if let held = lock.withLock({ targets[shard] }) { return held }
        // Without labels (targets from a mixture, or predictions) placeholders keep the shapes.
        let loaded = job.labels == .none
            ? TargetRows.classes(Array(repeating: 0, count: plan.ranges[shard].count))
            : try job.readTargets(plan.ranges[shard])
        lock.withLock { targets[shard] = loaded }
        return loaded
    }

    private func rowsOf(_ shard: Int, job: JobSpec, plan: ShardPlan) throws -> FeatureMatrix {
        if let held = lock.withLock({ rows[shard] }) { return held }
        let matrix = try job.readRows(plan.ranges[shard])
        lock.withLock { rows[shard] = matrix }
        return matrix
    }

    private func emit(epoch: UInt64, _ kind: MessageKind, job: UInt64, round: UInt64, body: [UInt8]) {
        let epochBytes = withUnsafeBytes(of: epoch) { Array($0) }
        lock.withLock {
            try? output?.send([epochBytes, Envelope(kind, job: job, round: round).encoded, body])
        }
    }
}

/// Whether training results go one shard at a time (see `EMFLEET_RESULTS_PER_SHARD`).
private let perShardResults = ProcessInfo.processInfo.environment["EMFLEET_RESULTS_PER_SHARD"] == "1"

/// Messages collected from several threads.
final class MessageList: @unchecked Sendable {
    // @unchecked: `items` is only touched under `lock`.
    private let lock = NSLock()
    private var items: [(MessageKind, [UInt8])] = []
    func append(_ item: (MessageKind, [UInt8])) { lock.withLock { items.append(item) } }
    var all: [(MessageKind, [UInt8])] { lock.withLock { items } }
}

/// Per-shard sums computed by several threads, then read as single-shard blocks.
final class LeafSlots: @unchecked Sendable {
    // @unchecked: `values` is only touched under `lock`.
    private let lock = NSLock()
    private var values: [Int: TrainingSums] = [:]

    func store(_ sums: TrainingSums, at shard: Int) { lock.withLock { values[shard] = sums } }

    /// Takes the sums out, keyed by single-shard blocks (they are no longer held here, so they can be added in place).
    func byRange() -> [Range<Int>: TrainingSums] {
        let taken = lock.withLock { () -> [Int: TrainingSums] in
            defer { values = [:] }
            return values
        }
        return Dictionary(uniqueKeysWithValues: taken.map { ($0.key..<($0.key + 1), $0.value) })
    }
}

/// Set once by any thread when a shard fails, so the others stop early.
private final class FailureFlag: @unchecked Sendable {
    // @unchecked: `value` is only touched under `lock`.
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// Facts the cluster exchanges about software.
public enum ClusterInfo {
    /// The emfleet version workers report in their hello.
    public static let softwareVersion = "0.2.0"
}
