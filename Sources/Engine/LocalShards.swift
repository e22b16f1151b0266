import Datasets
import Numerics

/// Runs shard jobs on threads in this process over an in-memory dataset.
///
/// Threads take whole shards and results are added by the ``ShardTree``, so every result (and
/// every model fitted from it) is bit-for-bit the one the cluster gives, for any thread count.
/// OpenBLAS is kept single-threaded: parallelism comes from the shards.
public final class LocalShards: ShardRunner, @unchecked Sendable {
    // @unchecked: all stored properties are immutable; `scratch` synchronises itself.
    public let plan: ShardPlan
    public let dimension: Int
    /// Each shard's rows: the whole dataset with the shard's positions in it, or the shard alone.
    private let shardRows: [(matrix: FeatureMatrix, positions: Range<Int>)]
    /// The targets of every row, for jobs with labels.
    public let targets: TargetRows?
    /// The sample weight of every row, when the data has weights.
    public let weights: [Double]?
    /// Threads used per task.
    public let threads: Int
    private let scratch = ScratchStore()
    /// Each shard's targets and weights, cut once.
    private let shardTargets: [TargetRows?]
    private let shardWeights: [[Double]?]

    /// Creates a runner over `data` (with its `targets` and sample `weights`) cut into `plan`'s
    /// shards, using `threads` threads.
    public convenience init(data: FeatureMatrix, targets: TargetRows? = nil, weights: [Double]? = nil, plan: ShardPlan, threads: Int) {
        precondition(plan.rows == data.rows, "shard plan and data disagree on the row count")
        precondition(targets.map { $0.count == data.rows } ?? true, "targets and data disagree on the row count")
        precondition(weights.map { $0.count == data.rows } ?? true, "weights and data disagree on the row count")
        self.init(shardRows: plan.ranges.map { (data, $0) }, dimension: data.columns, targets: targets, weights: weights, plan: plan, threads: threads)
    }

    /// Creates a runner over shards held one matrix each (in memory or read from their file, as
    /// ``ShardResidency`` chose), with every row's `targets` and sample `weights`.
    public convenience init(shards: [FeatureMatrix], targets: TargetRows? = nil, weights: [Double]? = nil, plan: ShardPlan, threads: Int) {
        precondition(shards.count == plan.count && zip(shards, plan.ranges).allSatisfy { $0.rows == $1.count }, "one matrix per shard of the plan")
        precondition(targets.map { $0.count == plan.rows } ?? true, "targets and shards disagree on the row count")
        precondition(weights.map { $0.count == plan.rows } ?? true, "weights and shards disagree on the row count")
        self.init(shardRows: shards.map { ($0, 0..<$0.rows) }, dimension: shards.first?.columns ?? 0, targets: targets, weights: weights,
                  plan: plan, threads: threads)
    }

    private init(
        shardRows: [(matrix: FeatureMatrix, positions: Range<Int>)], dimension: Int, targets: TargetRows?, weights: [Double]?, plan: ShardPlan,
        threads: Int
    ) {
        self.shardRows = shardRows
        self.dimension = dimension
        self.targets = targets
        self.weights = weights
        self.plan = plan
        self.threads = max(1, threads)
        shardTargets = plan.ranges.map { targets?.slice($0) }
        shardWeights = plan.ranges.map { range in weights.map { Array($0[range]) } }
        BLAS.setThreadCount(1)
    }

    /// Runs `task` on every shard and adds the results by the shard tree.
    public func run<Job: ShardJob>(_ job: Job.Type, _ task: Job.Task) throws -> Job.Result {
        let plan = self.plan, rows = self.shardRows, targets = self.shardTargets, weights = self.shardWeights
        let results = try ShardComputation.run(
            job, task, shards: Array(0..<plan.count), blocks: [0..<ShardTree.width(plan.count)], shardCount: plan.count,
            threads: threads,
            data: { shard in
                let (matrix, positions) = rows[shard]
                return ShardData(index: shard, features: matrix, positions: positions, firstRow: plan.ranges[shard].lowerBound,
                                 targets: targets[shard], weights: weights[shard])
            },
            scratch: scratch)
        for (matrix, _) in rows {
            // A file-backed shard's reads cannot throw inside the kernels: a failure shows here.
            try matrix.fileBackedRows?.checkReads()
        }
        return results[0].1
    }
}
