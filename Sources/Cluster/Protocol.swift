import Engine
import Foundation

/// The emfleet wire protocol, version 10 (see docs/PROTOCOL.md).
///
/// Every message is a ZeroMQ multipart message whose first frame is a 24-byte ``Envelope``
/// and whose second frame, when present, is the body encoded with `WireWriter`. A task and a
/// result carry the job's own bytes in a third frame, the payload, so that they are neither
/// copied into a body nor out of one (a task's payload is the same array for every worker).
/// Between a coordinator and a worker on one host such a frame may travel through a
/// shared-memory ring instead (`SharedRing`): sent empty, with a descriptor frame appended.
public enum WireProtocol {
    /// The protocol version this build speaks; a peer with another is refused.
    public static let version: UInt16 = 10
    /// The first four bytes of every envelope.
    static let magic: [UInt8] = Array("EMFL".utf8)
    /// Largest message a worker accepts (`ZMQ_MAXMSGSIZE`): tasks and streamed rows stay far below.
    public static let maxMessageBytes: Int64 = 1 << 30
    /// Messages queued per worker connection at the coordinator (`ZMQ_RCVHWM`): with the message
    /// size limit, it bounds the memory one peer can hold there.
    public static let coordinatorQueuePerPeer: Int32 = 2

    /// Bytes of a result message beyond its outcome (envelope, block, lengths).
    public static let resultOverhead = 256
    /// The smallest message limit a coordinator uses.
    public static let minimumMessageLimit = 8 << 20
}

/// What a message is.
public enum MessageKind: UInt16, Sendable, CaseIterable {
    /// Worker → coordinator: who I am (``Hello``).
    case hello = 1
    /// Coordinator → worker: admitted, with the heartbeat settings (``Welcome``).
    case welcome = 2
    /// Coordinator → worker: not admitted, with the reason to print.
    case refuse = 3
    /// Coordinator → worker: the dataset of the job to load (``JobSpec``).
    case job = 4
    /// Worker → coordinator: the job's data is readable here, with its fingerprint.
    case ready = 5
    /// Coordinator → worker: run a task on these shards (``TaskOrder``).
    case task = 6
    /// Worker → coordinator: one shard's outcome (``ShardResult``).
    case result = 7
    /// Either way: I am alive.
    case heartbeat = 8
    /// Worker → coordinator: something failed here (``WorkerFailure``).
    case failure = 9
    /// Worker → coordinator (`--stream-data`): send me rows of a shard (``RowsRequest``).
    case rowsRequest = 10
    /// Coordinator → worker (`--stream-data`): rows of a shard (``RowsChunk``).
    case rows = 11
    /// Coordinator → worker: the job is over; drop its data.
    case jobEnd = 12
    /// Coordinator → worker: exit.
    case shutdown = 13
    /// Coordinator → worker: I do not know you (declared dead, or I restarted); say hello again.
    case rejoin = 14
    /// Aggregator → coordinator: who I am (``Hello``); I relay and fold for workers behind me.
    case aggregatorHello = 15
    /// Coordinator → aggregator: admitted, with the settings and the worker keys to admit (``AggregatorWelcome``).
    case aggregatorWelcome = 16
    /// Either way between coordinator and aggregator: a message to or from one worker behind the
    /// aggregator. Frames: this envelope, the worker's route (8 bytes), its envelope, its body.
    case relay = 17
    /// Coordinator → aggregator: one task for several workers behind it (``GroupTask``).
    case groupTask = 18
    /// Aggregator → coordinator: the folded result of an aligned block of shards (``GroupResult``).
    case groupResult = 19
    /// Aggregator → coordinator: the workers behind it that are alive (``GroupState``); also its heartbeat.
    case groupState = 20
    /// Aggregator → coordinator: a worker behind it is gone (``GroupLost``).
    case groupLost = 21
}

/// The fixed first frame of every message: magic, version, kind, job and round.
public struct Envelope: Equatable, Sendable {
    /// Size of the encoded envelope.
    public static let size = 24
    /// The sender's protocol version.
    public var version: UInt16
    /// The message kind.
    public var kind: MessageKind
    /// The job the message belongs to (0: none).
    public var job: UInt64
    /// The round (one task over all shards) it belongs to (0: none).
    public var round: UInt64

    /// Creates an envelope with this build's protocol version.
    public init(_ kind: MessageKind, job: UInt64 = 0, round: UInt64 = 0) {
        self.version = WireProtocol.version
        self.kind = kind
        self.job = job
        self.round = round
    }

    /// The 24 bytes.
    public var encoded: [UInt8] {
        var w = WireWriter(capacity: Self.size)
        for byte in WireProtocol.magic { w.u8(byte) }
        w.u16(version)
        w.u16(kind.rawValue)
        w.u64(job)
        w.u64(round)
        return w.bytes
    }

    /// What was wrong with a first frame.
    public enum Problem: Error, Equatable, Sendable {
        /// Not an emfleet message at all (size or magic).
        case notEmfleet(String)
        /// An emfleet peer speaking another protocol version.
        case version(UInt16)
        /// An unknown message kind.
        case kind(UInt16)
    }

    /// Parses a first frame; the version is checked before the kind, so that a peer of
    /// another version can be told so whatever it sent.
    public static func decode(_ frame: [UInt8]) -> Result<Envelope, Problem> {
        guard frame.count == size else { return .failure(.notEmfleet("first frame is \(frame.count) bytes, expected \(size)")) }
        guard Array(frame[0..<4]) == WireProtocol.magic else { return .failure(.notEmfleet("bad magic")) }
        var r = WireReader(frame, context: "envelope")
        _ = try? r.u32("magic")
        let version = (try? r.u16("version")) ?? 0
        guard version == WireProtocol.version else { return .failure(.version(version)) }
        let rawKind = (try? r.u16("kind")) ?? 0
        guard let kind = MessageKind(rawValue: rawKind) else { return .failure(.kind(rawKind)) }
        var envelope = Envelope(kind)
        envelope.job = (try? r.u64("job")) ?? 0
        envelope.round = (try? r.u64("round")) ?? 0
        return .success(envelope)
    }
}

/// A worker's introduction.
public struct Hello: Equatable, Sendable {
    /// Host name.
    public var host: String
    /// Process id.
    public var pid: Int
    /// Threads it computes with.
    public var threads: Int
    /// OpenBLAS's core type (`openblas_get_corename`): workers must agree for bit-identical models.
    public var blasCore: String
    /// emfleet's version string.
    public var software: String
    /// A name given with `--name` (may be empty).
    public var name: String
    /// The OpenBLAS kernels the worker's CPU can run (`BLASKernel.runnableKernelsOnThisCPU()`).
    public var runnableCores: [String] = []
    /// The shared-memory ring a coordinator on the same host may map (nil: none offered).
    public var ring: RingOffer?

    var body: [UInt8] {
        var w = WireWriter()
        w.string(host); w.int(pid); w.int(threads); w.string(blasCore); w.string(software); w.string(name)
        w.u32(UInt32(runnableCores.count))
        for core in runnableCores { w.string(core) }
        w.bool(ring != nil)
        if let ring { w.u64(ring.id); w.int(ring.descriptor); w.int(ring.capacity) }
        return w.bytes
    }

    init(host: String, pid: Int, threads: Int, blasCore: String, software: String, name: String, runnableCores: [String] = []) {
        self.host = host; self.pid = pid; self.threads = threads; self.blasCore = blasCore; self.software = software; self.name = name
        self.runnableCores = runnableCores
    }

    init(body: [UInt8]) throws {
        var r = WireReader(body, context: "hello")
        host = try r.string("host", maxBytes: 255)
        pid = try r.int("pid", in: 0...Int(Int32.max))
        threads = try r.int("threads", in: 1...4096)
        blasCore = try r.string("BLAS core", maxBytes: 64)
        software = try r.string("version", maxBytes: 64)
        name = try r.string("name", maxBytes: 255)
        let count = Int(try r.u32("runnable core count"))
        guard count <= 64 else { throw WireError("hello: \(count) runnable cores is too many") }
        runnableCores = try (0..<count).map { _ in try r.string("runnable core", maxBytes: 64) }
        if try r.u8("ring offered") != 0 {
            ring = RingOffer(
                id: try r.u64("ring id"), descriptor: try r.int("ring descriptor", in: 0...Int(Int32.max)),
                capacity: try r.int("ring capacity", in: SharedRing.capacities))
        }
        try r.finish()
    }

    /// How the coordinator names this worker in messages.
    public var label: String { name.isEmpty ? "\(host):\(pid)" : "\(name) (\(host):\(pid))" }
}

/// The coordinator's answer to ``Hello``.
struct Welcome: Equatable {
    var workerID: Int
    var heartbeatMilliseconds: Int
    /// The largest message the coordinator accepts: workers split results to fit it.
    var messageLimit: Int
    /// The OpenBLAS kernel the worker must compute with (empty: its own): a worker that runs
    /// another re-executes itself with it and says hello again.
    var requiredCore = ""
    /// The id of the worker's ring that the coordinator mapped (0: none): from then on big
    /// frames go through it both ways.
    var ring: UInt64 = 0
    var body: [UInt8] {
        var w = WireWriter()
        w.int(workerID); w.int(heartbeatMilliseconds); w.int(messageLimit); w.string(requiredCore); w.u64(ring)
        return w.bytes
    }
    init(workerID: Int, heartbeatMilliseconds: Int, messageLimit: Int, requiredCore: String = "", ring: UInt64 = 0) {
        self.workerID = workerID; self.heartbeatMilliseconds = heartbeatMilliseconds; self.messageLimit = messageLimit
        self.requiredCore = requiredCore; self.ring = ring
    }
    init(body: [UInt8]) throws {
        var r = WireReader(body, context: "welcome")
        workerID = try r.int("worker id", in: 0...Int.max)
        heartbeatMilliseconds = try r.int("heartbeat", in: 10...3_600_000)
        messageLimit = try r.int("message limit", in: 4096...Int(Int32.max) * 8)
        requiredCore = try r.string("required core", maxBytes: 64)
        ring = try r.u64("ring")
        try r.finish()
    }
}

/// A task for some shards of the current job: a body (the job, the shards) and the task's
/// bytes as the payload frame after it.
struct TaskOrder {
    /// The registered identifier of the job the task belongs to (see `JobRegistry`).
    var job: String
    /// The task, encoded by its job: the message's payload frame.
    var task: [UInt8]
    /// Shards to compute, in the order to send results.
    var shards: [Int]
    /// Shards the worker holds but no longer owns: drop them.
    var release: [Int]

    /// The body frame (everything but the task).
    var body: [UInt8] {
        var w = WireWriter(capacity: job.utf8.count + 20 + 8 * (shards.count + release.count))
        w.string(job); w.ints(shards); w.ints(release)
        return w.bytes
    }
    /// The frames after the envelope: the body, then the task.
    var frames: [[UInt8]] { [body, task] }
    init(job: String, task: [UInt8], shards: [Int], release: [Int]) { self.job = job; self.task = task; self.shards = shards; self.release = release }
    init(body: [UInt8], task: [UInt8], shardCount: Int) throws {
        var r = WireReader(body, context: "task order")
        job = try r.string("job", maxBytes: 64)
        shards = try r.ints("shards", in: 0...(shardCount - 1), maxCount: shardCount)
        release = try r.ints("released shards", in: 0...(shardCount - 1), maxCount: shardCount)
        try r.finish()
        self.task = task
    }
    /// Decodes the frames after an envelope: a body and a task.
    init(frames: ArraySlice<[UInt8]>, shardCount: Int) throws {
        guard frames.count == 2 else { throw WireError("task order: \(frames.count) frames after the envelope, expected a body and a task") }
        try self.init(body: frames[frames.startIndex], task: frames[frames.startIndex + 1], shardCount: shardCount)
    }
}

/// The encoded result of an aligned block of shards (see `ShardTree`): a body (the block and
/// its figures) and the job's outcome as the payload frame after it.
struct ShardResult {
    /// The shards covered: `[first, first + count)`, an aligned block of ``ShardTree``.
    var shards: Range<Int>
    /// The block's sum, encoded by its job: the message's payload frame.
    var outcome: [UInt8]
    /// The worker's seconds of computing for this block (its share of the task's time), for
    /// the coordinator's metrics; never used in the arithmetic.
    var computeSeconds = 0.0
    /// Rows of the block's shards, for the coordinator's metrics.
    var rows = 0
    /// Bytes the worker read from the data file for this block during the task (shards over its
    /// `--memory-limit`), for the job log; never used in the arithmetic.
    var bytesRead = 0
    /// The body frame (everything but the outcome).
    var body: [UInt8] {
        var w = WireWriter(capacity: 48)
        w.int(shards.lowerBound); w.int(shards.count); w.double(computeSeconds); w.int(rows); w.int(bytesRead)
        return w.bytes
    }
    /// The frames after the envelope: the body, then the outcome.
    var frames: [[UInt8]] { [body, outcome] }
    init(shards: Range<Int>, outcome: [UInt8], computeSeconds: Double = 0, rows: Int = 0, bytesRead: Int = 0) {
        self.shards = shards; self.outcome = outcome; self.computeSeconds = computeSeconds; self.rows = rows; self.bytesRead = bytesRead
    }
    /// Decodes the frames after an envelope: a body and an outcome.
    init(frames: ArraySlice<[UInt8]>, shardCount: Int) throws {
        guard frames.count == 2 else { throw WireError("result: \(frames.count) frames after the envelope, expected a body and an outcome") }
        try self.init(body: frames[frames.startIndex], outcome: frames[frames.startIndex + 1], shardCount: shardCount)
    }
    init(body: [UInt8], outcome: [UInt8], shardCount: Int) throws {
        var r = WireReader(body, context: "result")
        let first = try r.int("first shard", in: 0...(shardCount - 1))
        let width = ShardTree.width(shardCount)
        let count = try r.int("shard count", in: 1...width)
        guard ShardTree.isAlignedBlock(first..<(first + count), shards: shardCount) else {
            throw WireError("result: shards \(first)..<\(first + count) are not an aligned block")
        }
        shards = first..<(first + count)
        self.outcome = outcome
        let seconds = try r.double("compute seconds")
        // A lying figure would only skew the metrics, but keep them plausible: finite, 0 to a day.
        guard seconds.isFinite, seconds >= 0, seconds <= 86_400 else { throw WireError("result: compute seconds \(seconds)") }
        computeSeconds = seconds
        rows = try r.int("rows", in: 0...Int(Int32.max))
        bytesRead = try r.int("bytes read", in: 0...(1 << 50))
        try r.finish()
    }
}

/// A failure on a worker.
struct WorkerFailure {
    /// True when the data itself is bad (every worker would fail): the job stops.
    var fatal: Bool
    var message: String
    var body: [UInt8] {
        var w = WireWriter()
        w.bool(fatal); w.string(message)
        return w.bytes
    }
    init(fatal: Bool, message: String) { self.fatal = fatal; self.message = message }
    init(body: [UInt8]) throws {
        var r = WireReader(body, context: "failure")
        fatal = try r.bool("fatal")
        message = try r.string("message", maxBytes: 4096)
        try r.finish()
    }
}

/// `--stream-data`: a worker asks for `count` rows of `shard` from `offset` (within the shard).
struct RowsRequest {
    var shard: Int
    var offset: Int
    var count: Int
    var body: [UInt8] {
        var w = WireWriter()
        w.int(shard); w.int(offset); w.int(count)
        return w.bytes
    }
    init(shard: Int, offset: Int, count: Int) { self.shard = shard; self.offset = offset; self.count = count }
    init(body: [UInt8], shardCount: Int) throws {
        var r = WireReader(body, context: "rows request")
        shard = try r.int("shard", in: 0...(shardCount - 1))
        offset = try r.int("offset", in: 0...Int(Int32.max))
        count = try r.int("count", in: 1...(1 << 20))
        try r.finish()
    }
}

/// `--stream-data`: rows of a shard, as float64 row-major, and their sample weights (none when
/// the job has no weights).
struct RowsChunk {
    var shard: Int
    var offset: Int
    var values: [Double]
    var weights: [Double] = []
    var body: [UInt8] {
        var w = WireWriter(capacity: 8 * (values.count + weights.count) + 40)
        w.int(shard); w.int(offset); w.doubles(values); w.doubles(weights)
        return w.bytes
    }
    init(shard: Int, offset: Int, values: [Double], weights: [Double] = []) {
        self.shard = shard; self.offset = offset; self.values = values; self.weights = weights
    }
    init(body: [UInt8], shardCount: Int) throws {
        var r = WireReader(body, context: "rows")
        shard = try r.int("shard", in: 0...(shardCount - 1))
        offset = try r.int("offset", in: 0...Int(Int32.max))
        values = try r.doubles("values")
        weights = try r.doubles("weights")
        guard weights.allSatisfy({ $0.isFinite && $0 >= 0 }) else { throw WireError("rows: a weight is negative or not finite") }
        try r.finish()
    }
}

/// A worker behind an aggregator, as the aggregator names it on the wire.
public typealias Route = UInt64

/// The route frame of a ``MessageKind/relay`` message.
enum RouteFrame {
    static func encode(_ route: Route) -> [UInt8] { withUnsafeBytes(of: route.littleEndian) { Array($0) } }
    static func decode(_ frame: [UInt8]) -> Route? {
        guard frame.count == 8 else { return nil }
        return Route(littleEndian: frame.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
    }
}

/// The coordinator's answer to an aggregator's hello.
struct AggregatorWelcome: Equatable {
    var aggregatorID: Int
    var heartbeatMilliseconds: Int
    /// A worker silent this long at the aggregator is reported lost.
    var workerTimeoutMilliseconds: Int
    var messageLimit: Int
    /// The public keys (Z85) of the workers the aggregator admits; empty without CURVE.
    var authorizedKeys: [String]
    var body: [UInt8] {
        var w = WireWriter()
        w.int(aggregatorID); w.int(heartbeatMilliseconds); w.int(workerTimeoutMilliseconds); w.int(messageLimit)
        w.u32(UInt32(authorizedKeys.count))
        for key in authorizedKeys { w.string(key) }
        return w.bytes
    }
    init(aggregatorID: Int, heartbeatMilliseconds: Int, workerTimeoutMilliseconds: Int, messageLimit: Int, authorizedKeys: [String]) {
        self.aggregatorID = aggregatorID; self.heartbeatMilliseconds = heartbeatMilliseconds
        self.workerTimeoutMilliseconds = workerTimeoutMilliseconds; self.messageLimit = messageLimit; self.authorizedKeys = authorizedKeys
    }
    init(body: [UInt8]) throws {
        var r = WireReader(body, context: "aggregator welcome")
        aggregatorID = try r.int("aggregator id", in: 0...Int.max)
        heartbeatMilliseconds = try r.int("heartbeat", in: 10...3_600_000)
        workerTimeoutMilliseconds = try r.int("worker timeout", in: 10...86_400_000)
        messageLimit = try r.int("message limit", in: 4096...Int(Int32.max) * 8)
        let count = Int(try r.u32("authorized key count"))
        guard count <= 1 << 20 else { throw WireError("aggregator welcome: \(count) authorized keys is too many") }
        authorizedKeys = try (0..<count).map { _ in try r.string("authorized key", maxBytes: 40) }
        try r.finish()
    }
}

/// One task for several workers behind an aggregator: the task's bytes once, and each
/// worker's shards (as its ``TaskOrder`` would carry them).
struct GroupTask {
    struct Entry: Equatable {
        var route: Route
        var shards: [Int]
        var release: [Int]
    }
    var job: String
    var task: [UInt8]
    var entries: [Entry]

    var body: [UInt8] {
        let shardCount = entries.reduce(0) { $0 + $1.shards.count + $1.release.count }
        var w = WireWriter(capacity: task.count + job.utf8.count + 24 + 8 * shardCount + 24 * entries.count)
        w.string(job); w.blob(task)
        w.u32(UInt32(entries.count))
        for entry in entries {
            w.u64(entry.route)
            Self.writeRuns(entry.shards, &w)
            Self.writeRuns(entry.release, &w)
        }
        return w.bytes
    }

    /// Shards as runs of consecutive ones (first, count): a worker's shards are usually one run,
    /// so a round's lists cost bytes per worker rather than per shard.
    private static func writeRuns(_ shards: [Int], _ w: inout WireWriter) {
        var runs = [(Int, Int)]()
        for shard in shards {
            if let last = runs.last, last.0 + last.1 == shard { runs[runs.count - 1].1 += 1 } else { runs.append((shard, 1)) }
        }
        w.u32(UInt32(runs.count))
        for (first, count) in runs { w.int(first); w.int(count) }
    }

    private static func readRuns(_ r: inout WireReader, _ what: String, shardCount: Int) throws -> [Int] {
        let count = Int(try r.u32("\(what) run count"))
        guard count <= shardCount else { throw WireError("group task: \(count) runs of \(what) for \(shardCount) shards") }
        var shards = [Int]()
        for _ in 0..<count {
            let first = try r.int("\(what) run start", in: 0...(shardCount - 1))
            let length = try r.int("\(what) run length", in: 1...(shardCount - first))
            guard shards.count + length <= shardCount else { throw WireError("group task: more \(what) than shards") }
            shards.append(contentsOf: first..<(first + length))
        }
        return shards
    }
    init(job: String, task: [UInt8], entries: [Entry]) { self.job = job; self.task = task; self.entries = entries }
    init(body: [UInt8], shardCount: Int) throws {
        var r = WireReader(body, context: "group task")
        job = try r.string("job", maxBytes: 64)
        task = try r.blob("task")
        let count = Int(try r.u32("entry count"))
        guard count <= shardCount + 65_536 else { throw WireError("group task: \(count) entries is too many") }
        entries = try (0..<count).map { _ in
            Entry(route: try r.u64("route"),
                  shards: try Self.readRuns(&r, "shards", shardCount: shardCount),
                  release: try Self.readRuns(&r, "released shards", shardCount: shardCount))
        }
        try r.finish()
    }
}

/// The folded result of an aligned block of shards computed behind an aggregator, with each
/// contributing worker's share of the figures a ``ShardResult`` carries.
struct GroupResult {
    struct Contribution: Equatable {
        var route: Route
        var computeSeconds: Double
        var rows: Int
        var bytesRead: Int
    }
    var shards: Range<Int>
    var outcome: [UInt8]
    var contributions: [Contribution]

    var body: [UInt8] {
        var w = WireWriter(capacity: outcome.count + 40 + 32 * contributions.count)
        w.int(shards.lowerBound); w.int(shards.count); w.blob(outcome)
        w.u32(UInt32(contributions.count))
        for part in contributions { w.u64(part.route); w.double(part.computeSeconds); w.int(part.rows); w.int(part.bytesRead) }
        return w.bytes
    }
    init(shards: Range<Int>, outcome: [UInt8], contributions: [Contribution]) {
        self.shards = shards; self.outcome = outcome; self.contributions = contributions
    }
    init(body: [UInt8], shardCount: Int) throws {
        var r = WireReader(body, context: "group result")
        let first = try r.int("first shard", in: 0...(shardCount - 1))
        let count = try r.int("shard count", in: 1...ShardTree.width(shardCount))
        guard ShardTree.isAlignedBlock(first..<(first + count), shards: shardCount) else {
            throw WireError("group result: shards \(first)..<\(first + count) are not an aligned block")
        }
        shards = first..<(first + count)
        outcome = try r.blob("outcome")
        let parts = Int(try r.u32("contribution count"))
        guard parts >= 1, parts <= count else { throw WireError("group result: \(parts) contributions for \(count) shards") }
        contributions = try (0..<parts).map { _ in
            let route = try r.u64("route")
            let seconds = try r.double("compute seconds")
            guard seconds.isFinite, seconds >= 0, seconds <= 86_400 else { throw WireError("group result: compute seconds \(seconds)") }
            return Contribution(route: route, computeSeconds: seconds, rows: try r.int("rows", in: 0...Int(Int32.max)),
                                bytesRead: try r.int("bytes read", in: 0...(1 << 50)))
        }
        try r.finish()
    }
}

/// The workers alive behind an aggregator, sent every heartbeat period.
struct GroupState {
    var routes: [Route]
    var body: [UInt8] {
        var w = WireWriter(capacity: 4 + 8 * routes.count)
        w.u32(UInt32(routes.count))
        for route in routes { w.u64(route) }
        return w.bytes
    }
    init(routes: [Route]) { self.routes = routes }
    init(body: [UInt8]) throws {
        var r = WireReader(body, context: "group state")
        let count = Int(try r.u32("route count"))
        guard count <= 1 << 20 else { throw WireError("group state: \(count) routes is too many") }
        routes = try (0..<count).map { _ in try r.u64("route") }
        try r.finish()
    }
}

/// A worker behind an aggregator that the aggregator gave up on, and why.
struct GroupLost {
    var route: Route
    var reason: String
    var body: [UInt8] {
        var w = WireWriter()
        w.u64(route); w.string(reason)
        return w.bytes
    }
    init(route: Route, reason: String) { self.route = route; self.reason = reason }
    init(body: [UInt8]) throws {
        var r = WireReader(body, context: "group lost")
        route = try r.u64("route")
        reason = try r.string("reason", maxBytes: 4096)
        try r.finish()
    }
}

/// Text bodies (refuse, ready's fingerprint).
enum TextBody {
    static func encode(_ text: String) -> [UInt8] {
        var w = WireWriter()
        w.string(text)
        return w.bytes
    }
    static func decode(_ body: [UInt8], _ what: String) throws -> String {
        var r = WireReader(body, context: what)
        let text = try r.string(what, maxBytes: 4096)
        try r.finish()
        return text
    }
}

/// Entry points for the wire fuzzer (`emfleet-fuzz`): every message decoder, fed the same bytes.
package enum WireFuzzing {
    /// Decodes `data` (after a selector byte that picks the shard count) as every message body.
    package static func decodeEveryMessage(_ data: [UInt8]) {
        guard let selector = data.first else { return }
        let bytes = Array(data.dropFirst())
        let shards = Int(selector % 7) + 1
        _ = Envelope.decode(bytes)
        _ = try? Hello(body: bytes)
        _ = try? Welcome(body: bytes)
        _ = try? TaskOrder(body: bytes, task: [], shardCount: shards)
        _ = try? ShardResult(body: bytes, outcome: [], shardCount: shards)
        _ = try? WorkerFailure(body: bytes)
        _ = try? RowsRequest(body: bytes, shardCount: shards)
        _ = try? RowsChunk(body: bytes, shardCount: shards)
        _ = try? JobSpec(body: bytes)
        _ = try? TextBody.decode(bytes, "text")
        _ = try? AggregatorWelcome(body: bytes)
        _ = try? GroupTask(body: bytes, shardCount: shards)
        _ = try? GroupResult(body: bytes, shardCount: shards)
        _ = try? GroupState(body: bytes)
        _ = try? GroupLost(body: bytes)
        _ = RouteFrame.decode(bytes)
    }
}
