import Datasets
import Engine
import Foundation
import Numerics

/// Where a job's shards are computed, as plain values: in this process, on local worker
/// processes, or on remote workers that connect to a bound endpoint.
public struct ClusterSettings: Sendable, Equatable {
    /// Local worker processes to start (nil: none).
    public var workers: Int?
    /// The endpoint to listen on for remote workers (nil: none).
    public var bind: String?
    /// With `bind`: ready workers to wait for before the first round.
    public var minWorkers = 1
    /// Seconds of silence after which a worker is declared dead and its shards move.
    public var workerTimeout = 5.0
    /// Seconds to wait for a worker when none is left before giving up.
    public var waitWorkers = 60.0
    /// Whether workers get their rows from the coordinator instead of reading the file.
    public var streamData = false
    /// Threads per local worker (nil: cores / workers, at least 1).
    public var workerThreads: Int?
    /// With `bind`: this coordinator's CURVE secret key file.
    public var curveSecret: String?
    /// With `curveSecret`: the workers' public key file, or a directory of them.
    public var authorizedKeys: String?
    /// Most workers admitted at once.
    public var maxWorkers = 1024
    /// Whether the coordinator stops when the process that started it exits.
    public var exitWithParent = false
    /// Admit workers whose OpenBLAS kernel differs from the coordinator's and cannot change.
    public var allowMixedKernels = false
    /// Whether workers on this host may exchange big frames through shared memory (`SharedRing`).
    public var sharedMemory = true
    /// The most memory each process's shards may take, in process and on local workers (nil: no limit).
    public var memoryLimit: MemoryLimit?

    /// Settings that compute in this process.
    public init() {}

    /// Whether shards are computed by worker processes.
    public var isDistributed: Bool { workers != nil || bind != nil }
}

/// The shards of one job and how to tear them down: held in this process, or described to
/// workers (local processes started here, or remote ones that connect).
///
/// ```swift
/// let job = try JobShards(path: "train.npy", csv: CSVOptions(), shards: nil, threads: nil,
///                         cluster: settings,
///                         messageLimit: { MixtureJob.messageLimit(largestShard: $0.largestShardRows, columns: $0.dimension) },
///                         workerExecutable: "/usr/local/bin/emfleet") { event in print(event) }
/// defer { job.finish() }
/// let model = try GaussianMixture.fit(on: job.runner, options: options)
/// ```
public final class JobShards {
    /// Runs tasks on the shards: a ``LocalShards`` or the coordinator.
    public let runner: any ShardRunner
    /// The coordinator when the shards are on workers.
    public let coordinator: ClusterCoordinator?
    private let fleet: LocalFleet?

    /// Opens the data file at `path` for a job; with `labels`, for a training job.
    ///
    /// In process, the rows are loaded (finite values only) and cut into shards here. On
    /// workers, only the file's shape is read here: each worker reads its own rows.
    ///
    /// - Parameters:
    ///   - shards: the shard count (nil: `defaultShards` of the row count).
    ///   - threads: threads in process (nil: every core).
    ///   - cluster: where to compute.
    ///   - labels: the targets a training job reads beside the data.
    ///   - weights: the sample-weight file (one weight per row); `csv`'s weight column names
    ///     weights inside the data instead. Every weight is read and checked here first (count,
    ///     sign, finiteness, a positive total); jobs see them as ``ShardData/weights``.
    ///   - defaultShards: the shard count for a row count when `shards` is nil.
    ///   - messageLimit: the largest message the coordinator accepts, from the jobs it will run
    ///     over this data (`ShardJob.largestResultBytes` of their tasks).
    ///   - workerExecutable: the program local workers run as `PROGRAM worker …`.
    ///   - onEvent: cluster events (workers joining, lost, refused; shards moved), on the
    ///     thread that runs tasks.
    /// - Throws: ``DatasetError`` for unreadable data, ``ClusterError`` when the endpoint or
    ///   the workers cannot be set up, and the CURVE key files' errors.
    public init(
        path: String, csv: CSVOptions, shards: Int?, threads: Int?, cluster: ClusterSettings,
        labels: JobSpec.LabelSource = .none,
        weights weightFile: String? = nil,
        defaultShards: (Int) -> Int = ShardPlan.defaultShardCount(rows:),
        messageLimit: (ShardContext) -> Int,
        workerExecutable: String,
        onEvent: @escaping (ClusterEvent) -> Void
    ) throws {
        guard cluster.isDistributed else {
            let threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
            if let limit = cluster.memoryLimit {
                runner = try Self.limitedLocalShards(
                    path: path, csv: csv, shards: shards, threads: threads, limit: limit, labels: labels, weights: weightFile,
                    defaultShards: defaultShards, onEvent: onEvent)
                coordinator = nil
                fleet = nil
                return
            }
            let matrix = try DatasetLoader.load(path: path, csv: csv, finiteOnly: true).features
            let plan = ShardPlan(rows: matrix.rows, shards: shards ?? defaultShards(matrix.rows))
            var spec = JobSpec(path: path, csv: csv, rows: matrix.rows, columns: matrix.columns, shards: plan.count, fingerprint: "", stream: false)
            spec.labels = labels
            spec.weightFile = weightFile
            let weights = try spec.checkedWeights()
            let targets = labels == .none ? nil : try spec.readTargets(0..<matrix.rows)
            runner = LocalShards(data: matrix, targets: targets, weights: weights, plan: plan, threads: threads)
            coordinator = nil
            fleet = nil
            return
        }
        // Between its parallel loops (an optimizer's update) a coordinator's cores belong to the
        // workers that may compute beside it: its idle threads sleep at once rather than poll.
        ParallelLanes.shared.idleSpinMicroseconds = 0
        var spec = try JobSpec.describe(path: path, csv: csv, shards: shards, stream: cluster.streamData)
        if let count = cluster.workers, !cluster.streamData {
            try JobDataSource.checkFits(path: path, rows: spec.rows, columns: spec.columns, processes: count, limit: cluster.memoryLimit)
        }
        if shards == nil { spec.shards = defaultShards(spec.rows) }
        spec.labels = labels
        try spec.setWeightFile(weightFile)
        _ = try spec.checkedWeights()
        var options = CoordinatorOptions(endpoint: cluster.bind ?? "")
        options.workerTimeout = cluster.workerTimeout
        options.waitWorkers = cluster.waitWorkers
        options.streamData = cluster.streamData
        options.minWorkers = cluster.minWorkers
        options.maxWorkers = max(cluster.maxWorkers, cluster.workers ?? 0)
        options.exitWithParent = cluster.exitWithParent
        options.allowMixedKernels = cluster.allowMixedKernels
        options.sharedMemory = cluster.sharedMemory
        options.messageLimit = messageLimit(ShardContext(plan: spec.plan, dimension: spec.columns))
        if let secret = cluster.curveSecret, let authorized = cluster.authorizedKeys {
            options.curve = CurveServerSettings(keys: try CurveKeyPair.readSecret(secret), authorized: try CurveKeyPair.authorizedKeys(authorized))
        }
        if let count = cluster.workers {
            let fleet = try LocalFleet()
            options.endpoint = fleet.endpoint
            options.minWorkers = count
            let coordinator = try ClusterCoordinator(options: options, spec: spec, onEvent: onEvent)
            let cores = ProcessInfo.processInfo.activeProcessorCount
            try fleet.start(count: count, threads: cluster.workerThreads ?? max(1, cores / count), executable: workerExecutable,
                            memoryLimit: cluster.memoryLimit)
            self.fleet = fleet
            self.coordinator = coordinator
        } else {
            coordinator = try ClusterCoordinator(options: options, spec: spec, onEvent: onEvent)
            fleet = nil
        }
        runner = coordinator!
    }

    /// The shards of an in-process job under `limit`: those that fit are loaded, the rest are
    /// read from the file on every pass; one event says how many of each.
    private static func limitedLocalShards(
        path: String, csv: CSVOptions, shards: Int?, threads: Int, limit: MemoryLimit, labels: JobSpec.LabelSource, weights weightFile: String?,
        defaultShards: (Int) -> Int, onEvent: (ClusterEvent) -> Void
    ) throws -> LocalShards {
        var spec = try JobSpec.describe(path: path, csv: csv, shards: shards, stream: false)
        if shards == nil { spec.shards = defaultShards(spec.rows) }
        spec.labels = labels
        try spec.setWeightFile(weightFile)
        try JobDataSource.checkFits(path: path, rows: spec.rows, columns: spec.columns, processes: 1, limit: limit)
        let weights = try spec.checkedWeights()
        let targets = labels == .none ? nil : try spec.readTargets(0..<spec.rows)
        let residency = ShardResidency(limit: limit)
        let plan = spec.plan
        let matrices = try plan.ranges.enumerated().map { shard, range in
            try JobDataSource.rows(
                shard: shard, range: range, path: path, csv: csv,
                bytes: try JobDataSource.bytesInMemory(path: path, rows: range.count, columns: spec.columns), residency: residency
            ) { try spec.readRows(range) }
        }
        let held = residency.summary
        if held.streamed > 0 {
            onEvent(.residency(kept: held.kept, keptBytes: held.keptBytes, streamed: held.streamed, bytesPerPass: held.streamedBytes,
                               file: path, limit: limit))
        }
        return LocalShards(shards: matrices, targets: targets, weights: weights, plan: plan, threads: threads)
    }

    /// Ends the job on the workers, stops local ones and closes the socket.
    public func finish() {
        coordinator?.endJob()
        if fleet != nil { coordinator?.shutdownWorkers() }
        fleet?.stop()
    }

    /// Live workers, or nil in process.
    public var liveWorkers: Int? { coordinator?.liveWorkers }
}
