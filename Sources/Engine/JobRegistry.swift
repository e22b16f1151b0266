/// The jobs a worker serves, by identifier: the executable registers them, and the worker
/// decodes and computes each task through the job its order names.
public struct JobRegistry: Sendable {
    private var jobs: [String: RegisteredJob] = [:]

    /// An empty registry.
    public init() {}

    /// Adds `job`; a second job with the same identifier replaces the first.
    public mutating func register<Job: ShardJob>(_ job: Job.Type) {
        jobs[Job.identifier] = RegisteredJob(job)
    }

    /// The job registered as `identifier`.
    public subscript(identifier: String) -> RegisteredJob? { jobs[identifier] }

    /// The identifiers served, sorted.
    public var identifiers: [String] { jobs.keys.sorted() }
}

/// A job with its types erased, as a worker uses it: bytes in, bytes out.
public struct RegisteredJob: Sendable {
    /// The job's identifier.
    public let identifier: String
    private let decode: @Sendable ([UInt8], ShardContext) throws -> PreparedTask

    init<Job: ShardJob>(_ job: Job.Type) {
        identifier = Job.identifier
        decode = { bytes, context in
            let task = try Job.decodeTask(bytes, context: context)
            return PreparedTask(
                inline: Job.runsInline(task),
                compute: { shards, threads, messageLimit, data, scratch in
                    var blocks = ShardTree.blocks(covering: Set(shards), shards: context.plan.count)
                    // Results that grow with the rows they cover (per-row outputs) are split until each fits a message.
                    if let messageLimit {
                        blocks = blocks.flatMap { block in
                            ShardTree.split(block, shards: context.plan.count) { part in
                                Job.largestResultBytes(of: task, rows: context.rows(in: part), context: context) > messageLimit
                            }
                        }
                    }
                    return try ShardComputation.run(
                        Job.self, task, shards: shards, blocks: blocks, shardCount: context.plan.count, threads: threads,
                        data: data, scratch: scratch
                    ).map { ($0.0, Job.encode(result: $0.1)) }
                })
        }
    }

    /// Decodes a task of this job for data of `context`'s shape.
    ///
    /// - Throws: `WireError` when the bytes are not a valid task for that shape.
    public func prepare(_ task: [UInt8], context: ShardContext) throws -> PreparedTask {
        try decode(task, context)
    }
}

/// A decoded task, ready to be computed on the shards a worker holds.
public struct PreparedTask: Sendable {
    /// Whether the task is computed on the worker's network thread (see ``ShardJob/runsInline(_:)``).
    public let inline: Bool
    /// Computes the task on `shards` with `threads` threads, returning one encoded result per
    /// aligned block (split so each fits `messageLimit` bytes, when given).
    public let compute: @Sendable (
        _ shards: [Int], _ threads: Int, _ messageLimit: Int?, _ data: (Int) throws -> ShardData, _ scratch: ScratchStore
    ) throws -> [(Range<Int>, [UInt8])]
}
