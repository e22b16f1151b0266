import CKernels
import Foundation

/// Which CPUs this process may run on (`sched_getaffinity`), and pinning it to some of them.
///
/// Local worker fleets that take every core pin each worker to its own CPUs: a worker that
/// stays on one core keeps its weights and workspaces in that core's cache, and at
/// 784-256-128-10 two workers on two cores took about a tenth less time per step than when
/// the scheduler moved them (docs/BENCHMARKS.md, "Two workers on two cores").
public enum ProcessorAffinity {
    /// The CPUs this process may run on, in increasing order (every online CPU where the
    /// affinity cannot be read).
    public static func allowed() -> [Int] {
        var cpus = [Int32](repeating: 0, count: 1024)
        let count = cpus.withUnsafeMutableBufferPointer { emfleet_allowed_cpus($0.baseAddress!, $0.count) }
        guard count > 0 else { return Array(0..<ProcessInfo.processInfo.activeProcessorCount) }
        return cpus.prefix(min(count, cpus.count)).map(Int.init)
    }

    /// Pins every thread of this process, and the threads it starts later, to `cpus`.
    ///
    /// - Throws: ``AffinityError`` naming the CPUs when one is not among ``allowed()`` or the
    ///   system refuses.
    public static func pin(to cpus: [Int]) throws(AffinityError) {
        let allowed = Set(allowed())
        let list = cpus.map(String.init).joined(separator: ",")
        guard !cpus.isEmpty, cpus.allSatisfy(allowed.contains) else {
            throw AffinityError("CPUs \(list) are not all among those this process may use (\(allowed.sorted().map(String.init).joined(separator: ",")))")
        }
        let values = cpus.map(Int32.init)
        guard values.withUnsafeBufferPointer({ emfleet_pin_process($0.baseAddress!, $0.count) }) == 0 else {
            throw AffinityError("cannot pin this process to CPUs \(list): \(String(cString: strerror(errno)))")
        }
    }

    /// Parses a CPU list as `taskset -c` writes it: `3`, `0,2`, `4-7`, `0-1,6`.
    public static func parse(_ text: String) -> [Int]? {
        var cpus = [Int]()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
            switch bounds.count {
            case 1:
                guard let cpu = bounds[0], cpu >= 0 else { return nil }
                cpus.append(cpu)
            case 2:
                guard let low = bounds[0], let high = bounds[1], low >= 0, low <= high, high < 1 << 16 else { return nil }
                cpus += Array(low...high)
            default:
                return nil
            }
        }
        return cpus.isEmpty ? nil : Array(Set(cpus)).sorted()
    }

    /// Deals `count` workers of `threads` threads each their own CPUs out of ``allowed()``, when
    /// together they take every one of them (nil otherwise: with cores to spare, or more
    /// workers than cores, the scheduler places them better than a fixed deal).
    public static func deal(workers count: Int, threads: Int) -> [[Int]]? {
        let cpus = allowed()
        guard count > 1, threads >= 1, count * threads == cpus.count else { return nil }
        return (0..<count).map { Array(cpus[($0 * threads)..<(($0 + 1) * threads)]) }
    }
}

/// Pinning a process to CPUs failed.
public struct AffinityError: Error, CustomStringConvertible, Sendable {
    /// What failed, as one line.
    public var description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}
