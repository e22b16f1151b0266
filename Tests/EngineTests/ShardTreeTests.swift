import Engine
import Foundation
import Numerics
import Testing

/// The fixed shard tree: blocks cover exactly what a worker holds, and adding blocks gives the
/// same bits as adding the leaves, however the shards are split among workers.
@Suite("Shard tree")
struct ShardTreeTests {
    @Test(arguments: [1, 2, 3, 5, 8, 13, 25])
    func blocksTileTheHeldShards(shards: Int) {
        var generator = SeededGenerator(seed: UInt64(shards))
        for _ in 0..<50 {
            let held = Set((0..<shards).filter { _ in generator.nextUniform() < 0.5 })
            let blocks = ShardTree.blocks(covering: held, shards: shards)
            let covered = blocks.flatMap { $0.clamped(to: 0..<shards) }
            #expect(Set(covered) == held && covered.count == held.count)
            for block in blocks {
                #expect(block.count & (block.count - 1) == 0 && block.lowerBound % block.count == 0)
            }
        }
    }

    @Test(arguments: [3, 8, 13])
    func anySplitAmongWorkersGivesTheSameBits(shards: Int) {
        var generator = SeededGenerator(seed: 99)
        // Values of very different sizes, so that the order of additions shows in the bits.
        var leaves = (0..<shards).map { _ in (0..<5).map { _ in (generator.nextUniform() - 0.5) * pow(10, Double(generator.nextInt(below: 12)) - 6) } }
        // 1e16 then ones: added in sequence each 1 is lost (ties to even); in pairs they are not.
        for i in 0..<shards { leaves[i][0] = i == 0 ? 1e16 : 1 }
        func add(_ a: inout [Double], _ b: [Double]) { for i in a.indices { a[i] += b[i] } }
        var all = Dictionary(uniqueKeysWithValues: leaves.enumerated().map { ($0.offset..<($0.offset + 1), $0.element) })
        let reference = ShardTree.reduce(0..<ShardTree.width(shards), shards: shards, known: &all, add: add)!
        for workers in 1...4 {
            for _ in 0..<20 {
                let owner = (0..<shards).map { _ in generator.nextInt(below: workers) }
                var known = [Range<Int>: [Double]]()
                for worker in 0..<workers {
                    let held = Set((0..<shards).filter { owner[$0] == worker })
                    for block in ShardTree.blocks(covering: held, shards: shards) {
                        var leavesOfBlock = Dictionary(uniqueKeysWithValues: block.clamped(to: 0..<shards).map { ($0..<($0 + 1), leaves[$0]) })
                        known[block] = ShardTree.reduce(block, shards: shards, known: &leavesOfBlock, add: add)
                    }
                }
                let total = ShardTree.reduce(0..<ShardTree.width(shards), shards: shards, known: &known, add: add)!
                #expect(total.map(\.bitPattern) == reference.map(\.bitPattern))
            }
        }
        // A sequential sum in shard order is a different association, which the data tells apart.
        var sequential = leaves[0]
        for leaf in leaves.dropFirst() { add(&sequential, leaf) }
        if shards >= 4 { #expect(sequential[0] != reference[0]) }
    }

    @Test func anIncompleteTreeHasNoSum() {
        var known: [Range<Int>: [Double]] = [0..<1: [1], 2..<3: [3]]
        #expect(ShardTree.reduce(0..<4, shards: 3, known: &known) { $0[0] += $1[0] } == nil)
    }
}
