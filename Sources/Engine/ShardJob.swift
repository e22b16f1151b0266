import Foundation
import Datasets

/// A kind of work done shard by shard: its tasks, its per-shard results, and how results add up.
///
/// The runtime (the in-process ``LocalShards`` runner, and the coordinator and workers of the
/// `Cluster` target) is written against this protocol only and never names a model. A job
/// supplies:
/// - the evaluation of one task on one shard, with per-shard scratch state it may keep between tasks;
/// - the addition of two results, `left` covering the shards just before `right`'s: results are
///   always added by the fixed ``ShardTree``, so every result is the same bits for any number of
///   workers or threads;
/// - the wire codecs of tasks and results, the result decoder checking a result against its task
///   (shapes, finiteness) before it is used;
/// - the largest result a task can produce for some rows, which sizes the coordinator's message
///   limit and lets workers split what would not fit.
///
/// ```swift
/// enum RowCount: ShardJob {
///     static let identifier = "example.row-count"
///     static func evaluate(_ task: Void, on shard: ShardData, scratch: NoScratch) -> Int { shard.rows }
///     static func combine(_ left: inout Int, _ right: Int) { left += right }
///     …
/// }
/// let rows = try runner.run(RowCount.self, ())
/// ```
public protocol ShardJob: SendableMetatype {
    /// What the coordinator asks of every shard.
    associatedtype Task: Sendable
    /// A shard's answer, or the sum of the answers of consecutive shards.
    associatedtype Result: Sendable
    /// State a shard keeps between tasks of one job (caches, workspaces).
    associatedtype Scratch: AnyObject = NoScratch

    /// The name workers know the job by (`"mixture"`, `"training"`); unique among registered jobs.
    static var identifier: String { get }

    /// Fresh scratch state for a shard.
    static func makeScratch() -> Scratch

    /// Evaluates `task` on one shard.
    ///
    /// - Throws: ``FatalJobError`` when every shard would fail alike (the job stops), or any
    ///   other error for a failure of this process (a worker is then excluded from the job).
    static func evaluate(_ task: Task, on shard: ShardData, scratch: Scratch) throws -> Result

    /// Adds `right`, the result of the shards just after `left`'s, to `left`.
    static func combine(_ left: inout Result, _ right: Result)

    /// Checks a combined result before it leaves a worker or the local runner: a problem every
    /// worker would see alike (diverged weights) is a ``FatalJobError``.
    static func check(_ result: Result, of task: Task) throws

    /// Whether `task` is short and on the critical path: workers then compute it on their
    /// network thread instead of handing it to their compute thread.
    static func runsInline(_ task: Task) -> Bool

    /// The task's bytes on the wire.
    static func encode(task: Task) -> [UInt8]
    /// Decodes a task, refusing one that does not fit the data's shape.
    static func decodeTask(_ bytes: [UInt8], context: ShardContext) throws -> Task
    /// The result's bytes on the wire.
    static func encode(result: Result) -> [UInt8]
    /// Decodes the result of `task` over `shards` and checks its shapes and values.
    static func decodeResult(_ bytes: [UInt8], of task: Task, shards: Range<Int>, context: ShardContext) throws -> Result

    /// The most bytes an encoded result of `task` over `rows` rows can take.
    static func largestResultBytes(of task: Task, rows: Int, context: ShardContext) -> Int
}

extension ShardJob where Scratch == NoScratch {
    /// Jobs without per-shard state share one empty scratch.
    public static func makeScratch() -> NoScratch { NoScratch.shared }
}

extension ShardJob {
    /// By default a combined result needs no check.
    public static func check(_ result: Result, of task: Task) throws {}
    /// By default tasks go to the worker's compute thread.
    public static func runsInline(_ task: Task) -> Bool { false }
}

/// Scratch of a job that keeps no per-shard state.
public final class NoScratch: Sendable {
    /// The one instance.
    public static let shared = NoScratch()
}

/// A failure that every shard would meet alike (bad values in the data, diverged weights):
/// the job stops with this message instead of moving the shards to another worker.
public struct FatalJobError: Error, CustomStringConvertible, Sendable {
    /// What happened and what to do, as one line.
    public var description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// What a task is decoded against: the data's shape and shard layout.
public struct ShardContext: Sendable, Equatable {
    /// The shard layout of the job's rows.
    public var plan: ShardPlan
    /// Feature columns per row.
    public var dimension: Int

    /// Creates a context.
    public init(plan: ShardPlan, dimension: Int) {
        self.plan = plan
        self.dimension = dimension
    }

    /// Rows of the shards in `shards` (a block may reach past the last shard).
    public func rows(in shards: Range<Int>) -> Int {
        plan.ranges[shards.clamped(to: 0..<plan.count)].reduce(0) { $0 + $1.count }
    }

    /// Rows of the largest shard.
    public var largestShardRows: Int { plan.ranges.map(\.count).max() ?? 0 }
}

/// The rows of one shard, as the runner holds them.
public struct ShardData: Sendable {
    /// The shard's index in the plan.
    public var index: Int
    /// A matrix holding the shard's rows (the whole dataset in process, the shard alone on a worker).
    public var features: FeatureMatrix
    /// The positions in `features` that make up the shard.
    public var positions: Range<Int>
    /// The global index of the shard's first row.
    public var firstRow: Int
    /// The targets of the shard's rows (`targets[i]` belongs to position `positions.lowerBound + i`),
    /// when the job has labels.
    public var targets: TargetRows?
    /// The sample weights of the shard's rows (`weights[i]` belongs to position
    /// `positions.lowerBound + i`; finite, non-negative), when the data has weights; nil means
    /// every row counts once, and a job must then give the bits it gives without weights.
    public var weights: [Double]?

    /// Creates a shard's data.
    public init(
        index: Int, features: FeatureMatrix, positions: Range<Int>, firstRow: Int, targets: TargetRows? = nil, weights: [Double]? = nil
    ) {
        precondition(weights.map { $0.count == positions.count } ?? true, "one weight per row of the shard")
        self.index = index
        self.features = features
        self.positions = positions
        self.firstRow = firstRow
        self.targets = targets
        self.weights = weights
    }

    /// Rows in the shard.
    public var rows: Int { positions.count }
}

/// Something that runs a job's task on every shard of a dataset and returns the results added
/// by the ``ShardTree``: in this process (``LocalShards``) or on workers (`ClusterCoordinator`).
///
/// Algorithms (EM, training, selection) are written against this protocol only.
public protocol ShardRunner: AnyObject {
    /// The dataset's shard layout.
    var plan: ShardPlan { get }
    /// Feature columns per row.
    var dimension: Int { get }
    /// Runs `task` of `job` on every shard and adds the results by the shard tree.
    func run<Job: ShardJob>(_ job: Job.Type, _ task: Job.Task) throws -> Job.Result
    /// What the last round cost on the network (nil in process).
    var lastRound: RoundStatistics? { get }
}

/// Traffic and time of a coordinator's last round, for logs and benchmarks.
public struct RoundStatistics: Sendable {
    /// Bytes received (all frames) during the round.
    public var bytesIn = 0
    /// Bytes sent during the round.
    public var bytesOut = 0
    /// Seconds spent waiting for messages (the rest of the round is the coordinator's own work).
    public var waitSeconds = 0.0
    /// Seconds from the start to the end of the round.
    public var seconds = 0.0
    /// Bytes the workers read from the data file during the round (shards over their `--memory-limit`).
    public var bytesRead = 0
    /// The workers' seconds of computing for the results accepted in the round, summed over
    /// workers (they compute in parallel: divide by the workers for the time of one).
    public var workerComputeSeconds = 0.0
    /// CPU seconds the coordinator's process spent during the round (all its threads, ZeroMQ's
    /// included): what the workers' messages cost it, whatever else the machine runs.
    public var cpuSeconds = 0.0

    /// Empty statistics.
    public init() {}

    /// This process's CPU seconds so far (user and system, all threads).
    public static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// This process's peak resident memory in bytes (`VmHWM`), or 0 where it cannot be read.
    public static func peakResidentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return 0 }
        return kilobytes * 1024
    }
}

/// What a coordinator's rounds cost over a job, for the job's closing log line.
public struct RoundTotals: Sendable {
    /// Rounds run.
    public var rounds = 0
    /// Their seconds, start to end.
    public var seconds = 0.0
    /// The coordinator's CPU seconds during them.
    public var cpuSeconds = 0.0
    /// Bytes received and sent during them.
    public var bytesIn = 0, bytesOut = 0

    /// No rounds yet.
    public init() {}

    /// Adds a round's figures.
    public mutating func add(_ round: RoundStatistics) {
        rounds += 1
        seconds += round.seconds
        cpuSeconds += round.cpuSeconds
        bytesIn += round.bytesIn
        bytesOut += round.bytesOut
    }
}

extension ShardRunner {
    /// In process there is no network to account for.
    public var lastRound: RoundStatistics? { nil }

    /// The shape tasks are decoded against.
    public var context: ShardContext { ShardContext(plan: plan, dimension: dimension) }
}

extension Duration {
    /// The duration in seconds.
    package var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
