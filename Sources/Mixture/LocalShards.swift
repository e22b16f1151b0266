import Datasets
import Dispatch
import Foundation
import Numerics

/// Runs shard tasks on threads in this process over an in-memory dataset.
///
/// Threads take whole shards, and outcomes are returned in shard order, so the results (and
/// every model fitted from them) are bit-for-bit the same for any thread count. OpenBLAS is
/// kept single-threaded: parallelism comes from the shards.
public final class LocalShards: ShardRunner, @unchecked Sendable {
    // @unchecked: `scratch` entries are touched only by the thread that currently holds
    // that shard (each shard index is handed out once per `run`), and `run` is not reentrant.
    public let plan: ShardPlan
    public var dimension: Int { data.columns }
    /// The dataset.
    public let data: FeatureMatrix
    /// Threads used per task.
    public let threads: Int
    private let scratch: [ShardScratch]

    /// Creates a runner over `data` cut into `plan`'s shards, using `threads` threads.
    public init(data: FeatureMatrix, plan: ShardPlan, threads: Int) {
        precondition(plan.rows == data.rows, "shard plan and data disagree on the row count")
        self.data = data
        self.plan = plan
        self.threads = max(1, threads)
        self.scratch = plan.ranges.map { _ in ShardScratch() }
        BLAS.setThreadCount(1)
    }

    /// Runs `task` on every shard.
    public func run(_ task: ShardTask) throws -> [ShardOutcome] {
        let shardCount = plan.count
        let results = OutcomeSlots(count: shardCount)
        let next = ShardCounter()
        let data = self.data, plan = self.plan, scratch = self.scratch
        DispatchQueue.concurrentPerform(iterations: min(threads, shardCount)) { _ in
            while let shard = next.take(below: shardCount) {
                let view = ShardView(data: data, range: plan.ranges[shard], firstGlobalRow: plan.ranges[shard].lowerBound)
                results.store(ShardEvaluator.evaluate(task, on: view, scratch: scratch[shard]), at: shard)
            }
        }
        return results.collect()
    }
}

/// Hands out shard indices to threads, each once.
private final class ShardCounter: @unchecked Sendable {
    // @unchecked: the counter is only read and written under `lock`.
    private let lock = NSLock()
    private var value = 0

    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

/// One result slot per shard, written by whichever thread computed it.
private final class OutcomeSlots: @unchecked Sendable {
    // @unchecked: every slot is written exactly once, under `lock`, and read after all writers finish.
    private let lock = NSLock()
    private var slots: [ShardOutcome?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func store(_ outcome: ShardOutcome, at index: Int) {
        lock.lock()
        slots[index] = outcome
        lock.unlock()
    }

    func collect() -> [ShardOutcome] { slots.map { $0! } }
}
