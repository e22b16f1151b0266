import Dispatch
import Foundation
import Numerics

/// Computes a task on the shards a process holds, on threads, and adds their results over
/// aligned blocks of the ``ShardTree``: the one piece of arithmetic plumbing shared by the
/// in-process runner and every worker.
public enum ShardComputation {
    /// Computes `task` on each shard of `shards` with up to `threads` threads (each thread takes
    /// whole shards), then adds the results over each of `blocks`.
    ///
    /// - Parameters:
    ///   - blocks: aligned blocks made only of shards in `shards`, in shard order.
    ///   - data: a shard's rows (called on the computing threads).
    ///   - scratch: where each shard's scratch state is kept.
    /// - Returns: each block with its checked result, in the order of `blocks`.
    /// - Throws: the first error a shard met (the others stop early), or ``ShardJob/check(_:of:)``'s.
    public static func run<Job: ShardJob>(
        _ job: Job.Type, _ task: Job.Task, shards: [Int], blocks: [Range<Int>], shardCount: Int, threads: Int,
        data: (Int) throws -> ShardData, scratch: ScratchStore
    ) throws -> [(Range<Int>, Job.Result)] {
        let leaves = Locked<[Int: Job.Result]>([:])
        let failure = Locked<(any Error)?>(nil)
        let lanes = min(max(1, threads), max(1, shards.count))
        ParallelLanes.shared.run(lanes: lanes) { lane in
            for index in stride(from: lane, to: shards.count, by: lanes) {
                guard failure.current == nil else { return }
                let shard = shards[index]
                do {
                    let rows = try data(shard)
                    let state: Job.Scratch = scratch.scratch(for: Job.self, shard: shard)
                    let result = try Job.evaluate(task, on: rows, scratch: state)
                    leaves.withLock { $0[shard] = result }
                } catch {
                    failure.withLock { $0 = $0 ?? error }
                }
            }
        }
        if let error = failure.current { throw error }
        var known: [Range<Int>: Job.Result] = leaves.takeBlocks()
        var results = [(Range<Int>, Job.Result)]()
        results.reserveCapacity(blocks.count)
        for block in blocks {
            guard let value = ShardTree.reduce(block, shards: shardCount, known: &known, add: Job.combine) else {
                preconditionFailure("block \(block) holds a shard that was not computed")
            }
            try Job.check(value, of: task)
            results.append((block, value))
        }
        return results
    }
}

/// Per-shard scratch state of every job, kept between tasks and dropped with the shard.
public final class ScratchStore: @unchecked Sendable {
    // @unchecked: the scratch objects are not Sendable; each is used by one thread at a time,
    // since each shard is computed by one thread per task.
    private let states = Locked<[ObjectIdentifier: [Int: AnyObject]]>([:])

    /// Creates an empty store.
    public init() {}

    /// The scratch of `shard` for `job`, made on first use.
    public func scratch<Job: ShardJob>(for job: Job.Type, shard: Int) -> Job.Scratch {
        states.withLock { states in
            // Entries under a job's identifier are made by that job, so the cast cannot fail
            // (and a checked dynamic cast costs a runtime lookup on every shard of every step).
            if let existing = states[ObjectIdentifier(job)]?[shard] { return unsafeDowncast(existing, to: Job.Scratch.self) }
            let made = Job.makeScratch()
            states[ObjectIdentifier(job), default: [:]][shard] = made
            return made
        }
    }

    /// Forgets the scratch of `shards` (they moved to another worker).
    public func release(_ shards: [Int]) {
        states.withLock { states in
            for key in states.keys {
                for shard in shards { states[key]![shard] = nil }
            }
        }
    }

    /// Forgets everything (the job ended).
    public func removeAll() { states.withLock { $0.removeAll() } }
}

extension Locked {
    /// Takes per-shard values out, keyed by single-shard blocks (no longer held here, so they can be added in place).
    func takeBlocks<Element>() -> [Range<Int>: Element] where Value == [Int: Element] {
        let taken = withLock { values -> [Int: Element] in
            defer { values = [:] }
            return values
        }
        return Dictionary(uniqueKeysWithValues: taken.map { ($0.key..<($0.key + 1), $0.value) })
    }
}
