import Datasets
import Engine
import Mixture
import Numerics
import Testing

/// The wire forms of mixture tasks and outcomes: exact round trips, and refusal (never a
/// crash) of anything truncated, forged or out of shape.
@Suite("Mixture job codecs")
struct MixtureJobCodecTests {
    static let d = 3
    /// One shard of 100 rows.
    static let context = ShardContext(plan: ShardPlan(rows: 100, shards: 1), dimension: 3)
    static func context(rows: Int, dimension: Int = 3) -> ShardContext {
        ShardContext(plan: ShardPlan(rows: rows, shards: 1), dimension: dimension)
    }
    static let parameters = try! MixtureParameters(
        covarianceType: .full, components: 2, dimension: 3, weights: [0.25, 0.75],
        means: [0, 1, 2, -1, 0.5, 3],
        covariances: [2, 0.1, 0, 0.1, 1, 0.2, 0, 0.2, 3, 1, 0, 0, 0, 1, 0, 0, 0, 1])
    static let model = try! PreparedMixture(parameters, anchor: [0.5, 0.5, 0.5])

    static let tasks: [ShardTask] = [
        .columnMoments(shift: [1, 2, 3]),
        .gatherRows(indices: [0, 17, 99]),
        .seedingCommit(centers: [[1, 2, 3], [4, 5, 6]]),
        .seedingLocate(centers: [[1, 2, 3]], targets: [0: [0.5], 8192: [1.5, 2.5]]),
        .seedingCandidatePotentials(centers: [[1, 2, 3]], candidates: [[0, 0, 0], [1, 1, 1]]),
        .lloyd(centers: [1, 2, 3, 4, 5, 6], clusters: 2, anchor: [0, 0, 0]),
        .hardAssignmentStatistics(centers: [1, 2, 3, 4, 5, 6], clusters: 2, anchor: [0, 0, 0], covarianceType: .diag),
        .randomStatistics(seed: 42, components: 2, anchor: [0, 0, 0], covarianceType: .tied),
        .expectation(model: model),
        .score(model: model, output: .probabilities),
        // The last of seven minibatches: 10 of 100 rows (9 of 99, so a wrong row count shows).
        .minibatchExpectation(model: model, batch: Minibatch(seed: 3, pass: 1, step: 6, steps: 7)),
    ]

    @Test("every task survives its encoding", arguments: 0..<tasks.count)
    func taskRoundTrip(index: Int) throws {
        let bytes = MixtureJob.encode(task: Self.tasks[index])
        let decoded = try MixtureJob.decodeTask(bytes, context: Self.context)
        #expect(MixtureJob.encode(task: decoded) == bytes)
    }

    @Test("every outcome survives its encoding, computed on real rows", arguments: 0..<tasks.count)
    func outcomeRoundTrip(index: Int) throws {
        let generated = SyntheticMixture.generate(samples: 100, features: Self.d, components: 2, seed: 1)
        let shard = ShardView(data: generated.features, range: 0..<100, firstGlobalRow: 0)
        var task = Self.tasks[index]
        if case .gatherRows = task { task = .gatherRows(indices: [0, 17, 99]) }
        if case .seedingLocate(let centers, _) = task { task = .seedingLocate(centers: centers, targets: [0: [0.5]]) }
        let outcome = ShardEvaluator.evaluate(task, on: shard, scratch: ShardScratch())
        let bytes = MixtureJob.encode(result: outcome)
        let decoded = try MixtureJob.decodeResult(bytes, of: task, shards: 0..<1, context: Self.context)
        #expect(MixtureJob.encode(result: decoded) == bytes)
        // Every shorter prefix is refused with an error, never a crash.
        for length in 0..<bytes.count {
            #expect(throws: (any Error).self) {
                try MixtureJob.decodeResult(Array(bytes[0..<length]), of: task, shards: 0..<1, context: Self.context)
            }
        }
        // The wrong row count for the shard is refused where the outcome states it.
        if case .statistics = outcome {
            #expect(throws: (any Error).self) {
                try MixtureJob.decodeResult(bytes, of: task, shards: 0..<1, context: Self.context(rows: 99))
            }
        }
    }

    @Test("truncated and forged tasks are refused")
    func badTasks() {
        for task in Self.tasks {
            let bytes = MixtureJob.encode(task: task)
            for length in 0..<bytes.count {
                #expect(throws: (any Error).self) { try MixtureJob.decodeTask(Array(bytes[0..<length]), context: Self.context) }
            }
            #expect(throws: (any Error).self) { try MixtureJob.decodeTask(bytes + [0], context: Self.context) }
            if case .gatherRows = task { continue }  // row indices do not depend on the dimension
            #expect(throws: (any Error).self) { try MixtureJob.decodeTask(bytes, context: Self.context(rows: 100, dimension: Self.d + 1)) }
        }
        var generator = SeededGenerator(seed: 3)
        for _ in 0..<2000 {
            let junk = (0..<Int.random(in: 0..<200, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? MixtureJob.decodeTask(junk, context: Self.context)
        }
    }

    @Test("statistics holding NaN are refused, so a broken worker's numbers never reach the fold")
    func nanStatisticsAreRefused() throws {
        let task = ShardTask.expectation(model: Self.model)
        var statistics = MixtureStatistics(covarianceType: .full, components: 2, dimension: Self.d)
        statistics.rows = 10
        statistics.moments[3] = .nan
        #expect {
            try MixtureJob.decodeResult(
                MixtureJob.encode(result: .statistics(statistics)), of: task, shards: 0..<1, context: Self.context(rows: 10))
        } throws: { "\($0)".contains("NaN") }
        // A different covariance type than the task's is refused too.
        let tied = MixtureStatistics(covarianceType: .tied, components: 2, dimension: Self.d)
        #expect(throws: (any Error).self) {
            try MixtureJob.decodeResult(MixtureJob.encode(result: .statistics(tied)), of: task, shards: 0..<1, context: Self.context(rows: 1))
        }
    }

    @Test("a statistics message whose row count does not fit an Int is refused, not trapped on")
    func hugeRowCountIsRefused() throws {
        var bytes = MixtureStatistics(covarianceType: .diag, components: 2, dimension: Self.d).encoded()
        for i in 16..<24 { bytes[i] = 0xFF }
        #expect(throws: MixtureError.self) { try MixtureStatistics(encoded: bytes) }
    }
}
