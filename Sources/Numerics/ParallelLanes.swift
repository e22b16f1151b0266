import Atomics
import Dispatch
import Foundation

/// Threads kept between parallel loops, for loops short enough that waking a thread is a large
/// part of them: a training step computes its shards side by side for tens of microseconds, and
/// `DispatchQueue.concurrentPerform` woke a sleeping thread for each such loop, about 40 µs on
/// this project's virtual CPUs (docs/BENCHMARKS.md).
///
/// A thread that ran a lane polls for the next loop for ``idleSpinMicroseconds`` before it sleeps,
/// so that back-to-back loops find it awake (and a caller polls as long for the others' lanes);
/// only the threads a loop needs are woken.
/// Which thread runs a lane never changes what the lane computes: callers give each lane its own
/// work, as with `concurrentPerform`.
///
/// ```swift
/// ParallelLanes.shared.run(lanes: 4) { lane in compute(part: lane) }
/// ```
public final class ParallelLanes: @unchecked Sendable {
    // @unchecked: `body` and `lanes` are written by the one caller that holds `busy` before it
    // publishes the loop in `state`, and read only by the threads that loop takes part in, which
    // the caller waits for before it writes them again.

    /// One pool per process, with a thread per CPU the process may run on (the caller is one of them).
    public static let shared = ParallelLanes(threads: ProcessorAffinity.allowed().count)

    /// The threads that run lanes, the caller's included.
    public let threads: Int

    /// How long a thread that ran a lane polls for the next loop, and a caller for the others'
    /// lanes, before it sleeps; 0 sleeps at once, for a process whose cores belong to other
    /// processes (a coordinator whose workers compute on this machine, or workers that together
    /// have more threads than there are cores).
    public var idleSpinMicroseconds: Int {
        get { spin.load(ordering: .relaxed) }
        set { spin.store(max(0, newValue), ordering: .relaxed) }
    }

    /// A thread of the pool: where it sleeps, and whether it does.
    private final class Sleeper: Sendable {
        let condition = NSCondition()
        let sleeping = ManagedAtomic<Bool>(false)
    }

    private let spin = ManagedAtomic<Int>(200)
    private let busy = ManagedAtomic<Bool>(false)
    /// The current loop: its number << 16 | the threads that take part in it (the caller's included).
    private let state = ManagedAtomic<Int>(0)
    private let pending = ManagedAtomic<Int>(0)
    private let callerSleeping = ManagedAtomic<Bool>(false)
    private let done = NSCondition()
    private let sleepers: [Sleeper]
    private var body: ((Int) -> Void)?
    private var lanes = 0

    /// A pool of `threads` threads in all: `threads - 1` are started (they live as long as the
    /// process), the caller of ``run(lanes:_:)`` is the last.
    public init(threads: Int) {
        self.threads = min(max(1, threads), 1 << 15)
        sleepers = (0..<self.threads).map { _ in Sleeper() }
        for index in 1..<self.threads {
            let thread = Thread { [self] in serve(index) }
            thread.name = "emfleet-lane-\(index)"
            thread.start()
        }
    }

    /// Runs `body(lane)` for every lane in `0..<lanes`, side by side on up to ``threads`` threads,
    /// and returns when all have returned. A call made while another runs (from a lane, or from
    /// another thread) uses `DispatchQueue.concurrentPerform` instead.
    public func run(lanes count: Int, _ body: (Int) -> Void) {
        guard count > 1 else {
            if count == 1 { body(0) }
            return
        }
        guard threads > 1, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return withoutActuallyEscaping(body) { body in
                let lanes = LaneBody(body: body)
                DispatchQueue.concurrentPerform(iterations: count) { lanes.body($0) }
            }
        }
        defer { busy.store(false, ordering: .releasing) }
        let taking = min(count, threads)
        withoutActuallyEscaping(body) { body in
            self.body = body
            lanes = count
            pending.store(taking - 1, ordering: .relaxed)
            let loop = (state.load(ordering: .relaxed) >> 16) + 1
            state.store(loop << 16 | taking, ordering: .sequentiallyConsistent)
            for sleeper in sleepers[1..<taking] where sleeper.sleeping.load(ordering: .sequentiallyConsistent) {
                sleeper.condition.lock()
                sleeper.condition.signal()
                sleeper.condition.unlock()
            }
            runLanes(of: 0, taking: taking)
            waitForLanes()
            self.body = nil
        }
    }

    /// The lanes thread `index` runs when `taking` threads take part: index, index + taking, …
    private func runLanes(of index: Int, taking: Int) {
        guard let body else { return }
        for lane in stride(from: index, to: lanes, by: taking) { body(lane) }
    }

    private func deadline() -> UInt64 { DispatchTime.now().uptimeNanoseconds + UInt64(idleSpinMicroseconds) * 1000 }

    private func waitForLanes() {
        // Polling for the others' lanes pays only while they have cores of their own, which is
        // what ``idleSpinMicroseconds`` says: with more threads than cores it would take theirs.
        let until = deadline()
        while pending.load(ordering: .acquiring) > 0 {
            guard DispatchTime.now().uptimeNanoseconds < until else {
                done.lock()
                callerSleeping.store(true, ordering: .sequentiallyConsistent)
                while pending.load(ordering: .sequentiallyConsistent) > 0 { done.wait() }
                callerSleeping.store(false, ordering: .relaxed)
                done.unlock()
                return
            }
        }
    }

    private func serve(_ index: Int) {
        let sleeper = sleepers[index]
        var seen = 0
        var until: UInt64 = 0
        while true {
            let current = state.load(ordering: .acquiring)
            let loop = current >> 16, taking = current & 0xFFFF
            if loop != seen >> 16 {
                seen = current
                if index < taking {
                    runLanes(of: index, taking: taking)
                    if pending.wrappingDecrementThenLoad(ordering: .sequentiallyConsistent) == 0,
                       callerSleeping.load(ordering: .sequentiallyConsistent) {
                        done.lock()
                        done.broadcast()
                        done.unlock()
                    }
                    until = deadline()
                }
                continue
            }
            guard DispatchTime.now().uptimeNanoseconds >= until else { continue }
            // Sleep until the caller signals a loop this thread takes part in (or the state moves).
            sleeper.condition.lock()
            sleeper.sleeping.store(true, ordering: .sequentiallyConsistent)
            while state.load(ordering: .sequentiallyConsistent) == seen { sleeper.condition.wait() }
            sleeper.sleeping.store(false, ordering: .relaxed)
            sleeper.condition.unlock()
        }
    }
}

/// Carries a loop's body to `concurrentPerform`'s threads.
private struct LaneBody: @unchecked Sendable {
    // @unchecked: callers give each lane its own work (see ``ParallelLanes``).
    let body: (Int) -> Void
}
