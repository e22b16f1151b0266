import Foundation
import Numerics
import Testing

@Suite("Parallel lanes")
struct ParallelLanesTests {
    /// How many times each lane of one loop ran.
    private static func counts(_ pool: ParallelLanes, lanes: Int) -> [Int] {
        let ran = Locked([Int](repeating: 0, count: max(lanes, 0)))
        pool.run(lanes: lanes) { lane in ran.withLock { $0[lane] += 1 } }
        return ran.current
    }

    @Test("every lane runs once, for fewer, as many and more lanes than threads", arguments: [0, 1, 2, 3, 4, 7, 64])
    func everyLaneOnce(lanes: Int) {
        let pool = ParallelLanes(threads: 3)
        #expect(Self.counts(pool, lanes: lanes) == [Int](repeating: 1, count: lanes))
    }

    @Test("lanes run on more than one thread, and the loop returns only when all have returned")
    func sideBySide() {
        let pool = ParallelLanes(threads: 2)
        let threads = Locked(Set<String>())
        let finished = Locked(0)
        pool.run(lanes: 2) { lane in
            threads.withLock { _ = $0.insert("\(Unmanaged.passUnretained(Thread.current).toOpaque())") }
            // The second lane takes longer: the caller must still wait for it.
            if lane == 1 { Thread.sleep(forTimeInterval: 0.05) }
            finished.withLock { $0 += 1 }
        }
        #expect(finished.current == 2)
        #expect(threads.current.count == 2)
    }

    @Test("thousands of loops back to back finish, whether idle threads poll or sleep at once", arguments: [0, 200])
    func backToBack(spin: Int) {
        let pool = ParallelLanes(threads: 3)
        pool.idleSpinMicroseconds = spin
        let total = Locked(0)
        for round in 0..<5_000 {
            pool.run(lanes: 1 + round % 4) { _ in total.withLock { $0 += 1 } }
            // Now and then a pause longer than the poll, so that the threads go to sleep.
            if round % 500 == 0 { Thread.sleep(forTimeInterval: 0.002) }
        }
        #expect(total.current == (0..<5_000).reduce(0) { $0 + 1 + $1 % 4 })
    }

    @Test("a loop inside a lane, and loops from two threads at once, run every lane")
    func nestedAndConcurrent() async {
        let pool = ParallelLanes(threads: 2)
        let inner = Locked(0)
        pool.run(lanes: 2) { _ in pool.run(lanes: 3) { _ in inner.withLock { $0 += 1 } } }
        #expect(inner.current == 6)
        let both = Locked(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    for _ in 0..<500 { pool.run(lanes: 2) { _ in both.withLock { $0 += 1 } } }
                }
            }
        }
        #expect(both.current == 2_000)
    }
}
