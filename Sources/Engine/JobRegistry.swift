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
    private let decodeFold: @Sendable ([UInt8], ShardContext) throws -> PreparedFold

    init<Job: ShardJob>(_ job: Job.Type) {
        identifier = Job.identifier
        decodeFold = { bytes, context in
            let task = try Job.decodeTask(bytes, context: context)
            return PreparedFold(
                decode: { block, bytes in FoldPart(try Job.decodeResult(bytes, of: task, shards: block, context: context)) },
                combine: { parts, target in
                    var known = [Range<Int>: Job.Result]()
                    for (block, part) in parts {
                        guard let value = part.value as? Job.Result else { throw WireError("a folded part of another job") }
                        known[block] = value
                    }
                    guard let total = try ShardTree.reduce(target, shards: context.plan.count, known: &known, add: Job.combine), known.isEmpty else {
                        throw WireError("the parts do not cover shards \(target.lowerBound)..<\(target.upperBound)")
                    }
                    return Job.encode(result: total)
                },
                resultBytes: { block in
                    Job.largestResultBytes(of: task, rows: context.rows(in: block), context: context)
                })
        }
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

    /// Decodes a task of this job for an aggregator, which adds its workers' block results by
    /// the shard tree without computing any.
    ///
    /// - Throws: `WireError` when the bytes are not a valid task for that shape.
    public func prepareFold(_ task: [UInt8], context: ShardContext) throws -> PreparedFold {
        try decodeFold(task, context)
    }
}

/// A decoded result of one block, kept by an aggregator until its fold is complete.
public final class FoldPart: @unchecked Sendable {
    let value: Any
    init(_ value: Any) { self.value = value }
}

/// A task as an aggregator sees it: its workers' block results checked, decoded and added.
public struct PreparedFold: Sendable {
    /// Decodes and checks a worker's result for `block` (as the coordinator would).
    public let decode: @Sendable (_ block: Range<Int>, _ bytes: [UInt8]) throws -> FoldPart
    /// Adds parts that exactly cover the aligned block `target` by the shard tree, and encodes the sum.
    public let combine: @Sendable (_ parts: [(Range<Int>, FoldPart)], _ target: Range<Int>) throws -> [UInt8]
    /// The most bytes the encoded result of the (clamped) block can take.
    public let resultBytes: @Sendable (_ block: Range<Int>) -> Int

    init(decode: @escaping @Sendable (Range<Int>, [UInt8]) throws -> FoldPart,
         combine: @escaping @Sendable ([(Range<Int>, FoldPart)], Range<Int>) throws -> [UInt8],
         resultBytes: @escaping @Sendable (Range<Int>) -> Int) {
        self.decode = decode; self.combine = combine; self.resultBytes = resultBytes
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
