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
    public var dimension: Int { data.columns }
    /// The dataset.
    public let data: FeatureMatrix
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
    public init(data: FeatureMatrix, targets: TargetRows? = nil, weights: [Double]? = nil, plan: ShardPlan, threads: Int) {
        precondition(plan.rows == data.rows, "shard plan and data disagree on the row count")
        precondition(targets.map { $0.count == data.rows } ?? true, "targets and data disagree on the row count")
        precondition(weights.map { $0.count == data.rows } ?? true, "weights and data disagree on the row count")
        self.data = data
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
        let plan = self.plan, data = self.data, targets = self.shardTargets, weights = self.shardWeights
        let results = try ShardComputation.run(
            job, task, shards: Array(0..<plan.count), blocks: [0..<ShardTree.width(plan.count)], shardCount: plan.count,
            threads: threads,
            data: { shard in
                let range = plan.ranges[shard]
                return ShardData(index: shard, features: data, positions: range, firstRow: range.lowerBound, targets: targets[shard],
                                 weights: weights[shard])
            },
            scratch: scratch)
        return results[0].1
    }
}
