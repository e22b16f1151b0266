import Datasets
import Engine

/// Every mixture computation as one shard job: column moments, row gathering, k-means++
/// seeding, Lloyd steps, E-step statistics and scoring (see ``ShardTask``).
public enum MixtureJob: ShardJob {
    public typealias Task = ShardTask
    public typealias Result = ShardOutcome
    public typealias Scratch = ShardScratch

    /// The job's name on the wire.
    public static let identifier = "mixture"

    /// Fresh k-means++ state for a shard.
    public static func makeScratch() -> ShardScratch { ShardScratch() }

    /// Evaluates a mixture task on one shard.
    public static func evaluate(_ task: ShardTask, on shard: ShardData, scratch: ShardScratch) throws -> ShardOutcome {
        ShardEvaluator.evaluate(
            task, on: ShardView(data: shard.features, range: shard.positions, firstGlobalRow: shard.firstRow, weights: shard.weights),
            scratch: scratch)
    }

    /// A stepwise EM step is short and on the critical path, as a training step is: workers
    /// compute it on their network thread and poll for the next one (see ``ShardJob/runsInline(_:)``).
    public static func runsInline(_ task: ShardTask) -> Bool {
        if case .minibatchExpectation = task { return true }
        return false
    }

    /// Adds the outcome of the next shards.
    public static func combine(_ left: inout ShardOutcome, _ right: ShardOutcome) { left.add(right) }

    /// The task's bytes.
    public static func encode(task: ShardTask) -> [UInt8] { MixtureTaskCodec.encode(task) }

    /// Decodes a task for data of `context`'s width.
    public static func decodeTask(_ bytes: [UInt8], context: ShardContext) throws -> ShardTask {
        try MixtureTaskCodec.decodeTask(bytes, dimension: context.dimension)
    }

    /// The outcome's bytes.
    public static func encode(result: ShardOutcome) -> [UInt8] { MixtureTaskCodec.encode(result) }

    /// Decodes the outcome of `task` over `shards`, checking its shapes and that it holds no NaN.
    public static func decodeResult(_ bytes: [UInt8], of task: ShardTask, shards: Range<Int>, context: ShardContext) throws -> ShardOutcome {
        // A minibatch's statistics count its rows, not the shards'.
        let rows = if case let .minibatchExpectation(_, batch) = task {
            shards.clamped(to: 0..<context.plan.count).reduce(0) { $0 + batch.rows(ofShardWith: context.plan.ranges[$1].count) }
        } else {
            context.rows(in: shards)
        }
        return try MixtureTaskCodec.decodeOutcome(
            bytes, for: task, rows: rows, shards: shards.clamped(to: 0..<context.plan.count).count, dimension: context.dimension)
    }

    /// The most bytes an outcome of `task` over `rows` rows can take.
    public static func largestResultBytes(of task: ShardTask, rows: Int, context: ShardContext) -> Int {
        let d = context.dimension, row = 12 + 8 * d
        let body: Int = switch task {
        case .columnMoments: 16 * d + 16
        case let .gatherRows(indices): min(indices.count, rows) * row
        case .seedingCommit: 8 * min(rows, context.plan.count)
        case let .seedingLocate(_, targets): min(targets.values.reduce(0) { $0 + $1.count }, rows) * row
        case let .seedingCandidatePotentials(_, candidates): 8 * candidates.count
        case let .lloyd(_, k, _): 8 * (k * d + k)
        case let .hardAssignmentStatistics(_, k, _, type), let .randomStatistics(_, k, _, type):
            8 * (k + MixtureStatistics.momentCount(type, k, d))
        case let .expectation(model), let .minibatchExpectation(model, _):
            8 * (model.parameters.components + MixtureStatistics.momentCount(model.parameters.covarianceType, model.parameters.components, d))
        case let .score(model, output):
            switch output {
            case .none: 8
            case .labels, .logLikelihoods: 8 * rows + 8
            case .probabilities: 8 * rows * model.parameters.components + 8
            }
        }
        return body + 128
    }

    /// The message limit a coordinator of mixture jobs over this data needs: the statistics of
    /// up to 256 components, or one output per row and component of the largest shard for K up to
    /// 256, with a floor of 8 MiB.
    public static func messageLimit(largestShard rows: Int, columns: Int) -> Int {
        let statistics = 256 * (1 + columns * (columns + 1) / 2 + columns) * 8
        let perRow = rows * 256 * 8
        return max(8 << 20, statistics + 4096, perRow + 4096)
    }
}

/// The binary form of mixture shard tasks and outcomes on the wire, and the checks an
/// outcome must pass before it is folded.
///
/// A task travels as the parameters it was built from (a `PreparedMixture` is rebuilt on the
/// worker by the same code, so it has the same bits).
package enum MixtureTaskCodec {
    // MARK: Tasks

    static func encode(_ task: ShardTask) -> [UInt8] {
        var w = WireWriter(capacity: 256)
        switch task {
        case let .columnMoments(shift):
            w.u8(0); w.doubles(shift)
        case let .gatherRows(indices):
            w.u8(1); w.ints(indices)
        case let .seedingCommit(centers):
            w.u8(2); rows(centers, &w)
        case let .seedingLocate(centers, targets):
            w.u8(3); rows(centers, &w)
            w.u32(UInt32(targets.count))
            for key in targets.keys.sorted() { w.int(key); w.doubles(targets[key]!) }
        case let .seedingCandidatePotentials(centers, candidates):
            w.u8(4); rows(centers, &w); rows(candidates, &w)
        case let .lloyd(centers, clusters, anchor):
            w.u8(5); w.doubles(centers); w.int(clusters); w.doubles(anchor)
        case let .hardAssignmentStatistics(centers, clusters, anchor, type):
            w.u8(6); w.doubles(centers); w.int(clusters); w.doubles(anchor); w.u8(code(type))
        case let .randomStatistics(seed, components, anchor, type):
            w.u8(7); w.u64(seed); w.int(components); w.doubles(anchor); w.u8(code(type))
        case let .expectation(model):
            w.u8(8); parameters(model.parameters, &w); w.doubles(model.anchor)
        case let .score(model, output):
            w.u8(9); parameters(model.parameters, &w); w.doubles(model.anchor); w.u8(code(output))
        case let .minibatchExpectation(model, batch):
            w.u8(10); parameters(model.parameters, &w); w.doubles(model.anchor)
            w.u64(batch.seed); w.int(batch.pass); w.int(batch.step); w.int(batch.steps)
        }
        return w.bytes
    }

    /// Decodes a task for data with `dimension` features, refusing any other shape.
    static func decodeTask(_ bytes: [UInt8], dimension d: Int) throws -> ShardTask {
        var r = WireReader(bytes, context: "task")
        let tag = try r.u8("task kind")
        let task: ShardTask
        switch tag {
        case 0: task = .columnMoments(shift: try r.doubles("shift", expected: d))
        case 1: task = .gatherRows(indices: try r.ints("row indices", in: 0...Int(Int32.max)))
        case 2: task = .seedingCommit(centers: try rows(&r, d, "centres"))
        case 3:
            let centers = try rows(&r, d, "centres")
            let count = Int(try r.u32("target shards"))
            var targets = [Int: [Double]]()
            for _ in 0..<min(count, 1 << 20) {
                let key = try r.int("shard key", in: 0...Int.max)
                targets[key] = try r.doubles("targets")
            }
            task = .seedingLocate(centers: centers, targets: targets)
        case 4: task = .seedingCandidatePotentials(centers: try rows(&r, d, "centres"), candidates: try rows(&r, d, "candidates"))
        case 5:
            let centers = try r.doubles("centres")
            let k = try r.int("clusters", in: 1...(1 << 16))
            guard centers.count == k * d else { throw WireError("task: \(centers.count) centre numbers for \(k)×\(d)") }
            task = .lloyd(centers: centers, clusters: k, anchor: try r.doubles("anchor", expected: d))
        case 6:
            let centers = try r.doubles("centres")
            let k = try r.int("clusters", in: 1...(1 << 16))
            guard centers.count == k * d else { throw WireError("task: \(centers.count) centre numbers for \(k)×\(d)") }
            task = .hardAssignmentStatistics(
                centers: centers, clusters: k, anchor: try r.doubles("anchor", expected: d), covarianceType: try covariance(&r))
        case 7:
            task = .randomStatistics(
                seed: try r.u64("seed"), components: try r.int("components", in: 1...(1 << 16)),
                anchor: try r.doubles("anchor", expected: d), covarianceType: try covariance(&r))
        case 8:
            let p = try parameters(&r, d)
            task = .expectation(model: try prepare(p, anchor: try r.doubles("anchor", expected: d)))
        case 9:
            let p = try parameters(&r, d)
            let model = try prepare(p, anchor: try r.doubles("anchor", expected: d))
            let outputs: [RowOutput] = [.none, .labels, .probabilities, .logLikelihoods]
            let index = Int(try r.u8("row output"))
            guard index < outputs.count else { throw WireError("task: unknown row output \(index)") }
            task = .score(model: model, output: outputs[index])
        case 10:
            let p = try parameters(&r, d)
            let model = try prepare(p, anchor: try r.doubles("anchor", expected: d))
            let seed = try r.u64("seed"), pass = try r.int("pass", in: 0...Int(Int32.max))
            let step = try r.int("step", in: 0...Int(Int32.max)), steps = try r.int("steps", in: 1...Int(Int32.max))
            guard step < steps else { throw WireError("task: minibatch step \(step) of \(steps)") }
            task = .minibatchExpectation(model: model, batch: Minibatch(seed: seed, pass: pass, step: step, steps: steps))
        default:
            throw WireError("task: unknown kind \(tag)")
        }
        try r.finish()
        return task
    }

    // MARK: Outcomes

    static func encode(_ outcome: ShardOutcome) -> [UInt8] {
        var w = WireWriter(capacity: 256)
        switch outcome {
        case let .columnMoments(count, weight, sums, squares):
            w.u8(0); w.int(count); w.bool(weight != nil); w.double(weight ?? 0); w.doubles(sums); w.doubles(squares)
        case let .rows(found):
            w.u8(1); indexedRows(found, &w)
        case let .shardPotentials(values):
            w.u8(2); w.doubles(values)
        case let .located(found):
            w.u8(3); indexedRows(found, &w)
        case let .potentials(values):
            w.u8(4); w.doubles(values)
        case let .lloyd(sums, counts, inertia):
            w.u8(5); w.doubles(sums); w.doubles(counts); w.double(inertia)
        case let .statistics(statistics):
            w.u8(6); w.blob(statistics.encoded())
        case let .scores(sum, rows, weight, perRow):
            w.u8(7); w.double(sum); w.int(rows); w.double(weight); w.doubles(perRow)
        }
        return w.bytes
    }

    /// Decodes the outcome of `task` on `shards` shards of `n` rows in all and checks it fits the
    /// task's shapes and holds no NaN: a result that fails is treated as a failed worker.
    static func decodeOutcome(_ bytes: [UInt8], for task: ShardTask, rows n: Int, shards: Int, dimension d: Int) throws -> ShardOutcome {
        var r = WireReader(bytes, context: "result")
        let tag = try r.u8("result kind")
        let outcome: ShardOutcome
        switch (tag, task) {
        case (0, .columnMoments):
            let count = try r.int("row count", in: n...n)
            let weighted = try r.bool("weighted")
            let weight = try r.double("weight total")
            guard weight >= 0 else { throw WireError("result: negative weight total") }
            outcome = .columnMoments(
                count: count, weight: weighted ? weight : nil, sums: try r.doubles("sums", expected: d),
                squares: try r.doubles("squares", expected: d))
        case (1, .gatherRows):
            outcome = .rows(try indexedRows(&r, d))
        case (2, .seedingCommit):
            outcome = .shardPotentials(try r.doubles("potentials", expected: shards))
        case (3, .seedingLocate):
            outcome = .located(try indexedRows(&r, d))
        case let (4, .seedingCandidatePotentials(_, candidates)):
            outcome = .potentials(try r.doubles("potentials", expected: candidates.count))
        case let (5, .lloyd(_, k, _)):
            outcome = .lloyd(
                sums: try r.doubles("sums", expected: k * d), counts: try r.doubles("counts", expected: k),
                inertia: try r.double("inertia"))
        case (6, .hardAssignmentStatistics), (6, .randomStatistics), (6, .expectation), (6, .minibatchExpectation):
            let statistics: MixtureStatistics
            do {
                statistics = try MixtureStatistics(encoded: try r.blob("statistics"))
            } catch let error as MixtureError {
                throw WireError("result: \(error)")
            }
            let (type, k) = expectedStatisticsShape(task)
            guard statistics.covarianceType == type, statistics.components == k, statistics.dimension == d, statistics.rows == n else {
                throw WireError("result: statistics for \(statistics.components) \(statistics.covarianceType.rawValue) components, "
                    + "\(statistics.dimension) features, \(statistics.rows) rows; expected \(k) \(type.rawValue), \(d), \(n)")
            }
            outcome = .statistics(statistics)
        case let (7, .score(model, output)):
            let sum = try r.double("log-likelihood sum")
            let rows = try r.int("rows", in: n...n)
            let weight = try r.double("weight total")
            guard weight >= 0 else { throw WireError("result: negative weight total") }
            let perRowCount: Int
            switch output {
            case .none: perRowCount = 0
            case .labels, .logLikelihoods: perRowCount = n
            case .probabilities: perRowCount = n * model.parameters.components
            }
            outcome = .scores(
                logLikelihoodSum: sum, rows: rows, weight: weight, perRow: try r.doubles("per-row output", expected: perRowCount))
        default:
            throw WireError("result: kind \(tag) does not answer this task")
        }
        try r.finish()
        try checkFinite(outcome)
        return outcome
    }

    private static func expectedStatisticsShape(_ task: ShardTask) -> (CovarianceType, Int) {
        switch task {
        case let .hardAssignmentStatistics(_, k, _, type): return (type, k)
        case let .randomStatistics(_, k, _, type): return (type, k)
        case let .expectation(model), let .minibatchExpectation(model, _): return (model.parameters.covarianceType, model.parameters.components)
        default: return (.full, 0)
        }
    }

    /// NaN never reaches a fold: a worker whose numbers went wrong is treated as failed.
    private static func checkFinite(_ outcome: ShardOutcome) throws {
        let finite: Bool
        switch outcome {
        case let .columnMoments(_, weight, sums, squares): finite = (sums + squares + [weight ?? 0]).allSatisfy(\.isFinite)
        case let .rows(found), let .located(found): finite = found.allSatisfy { $0.values.allSatisfy(\.isFinite) }
        case let .shardPotentials(values): finite = values.allSatisfy { !$0.isNaN }
        case let .potentials(values): finite = values.allSatisfy { !$0.isNaN }
        case let .lloyd(sums, counts, _): finite = (sums + counts).allSatisfy(\.isFinite)
        case let .statistics(s): finite = !s.logLikelihoodSum.isNaN && (s.responsibilitySums + s.moments).allSatisfy(\.isFinite)
        case let .scores(sum, _, weight, perRow): finite = !sum.isNaN && weight.isFinite && !perRow.contains(where: \.isNaN)
        }
        guard finite else { throw WireError("result holds NaN or infinite numbers") }
    }

    // MARK: Pieces

    private static func code(_ type: CovarianceType) -> UInt8 { UInt8(CovarianceType.allCases.firstIndex(of: type)!) }

    private static func covariance(_ r: inout WireReader) throws -> CovarianceType {
        let index = Int(try r.u8("covariance type"))
        guard index < CovarianceType.allCases.count else { throw WireError("\(r.context): unknown covariance type \(index)") }
        return CovarianceType.allCases[index]
    }

    private static func code(_ output: RowOutput) -> UInt8 {
        switch output {
        case .none: 0
        case .labels: 1
        case .probabilities: 2
        case .logLikelihoods: 3
        }
    }

    private static func rows(_ rows: [[Double]], _ w: inout WireWriter) {
        w.u32(UInt32(rows.count))
        for row in rows { w.doubles(row) }
    }

    private static func rows(_ r: inout WireReader, _ d: Int, _ what: String) throws -> [[Double]] {
        let count = Int(try r.u32(what))
        guard count <= 1 << 16 else { throw WireError("\(r.context): \(count) \(what) is too many") }
        return try (0..<count).map { _ in try r.doubles(what, expected: d) }
    }

    private static func indexedRows(_ found: [(index: Int, values: [Double])], _ w: inout WireWriter) {
        w.u32(UInt32(found.count))
        for row in found { w.int(row.index); w.doubles(row.values) }
    }

    private static func indexedRows(_ r: inout WireReader, _ d: Int) throws -> [(index: Int, values: [Double])] {
        let count = Int(try r.u32("rows"))
        guard count <= 1 << 16 else { throw WireError("\(r.context): \(count) rows is too many") }
        return try (0..<count).map { _ in (try r.int("row index", in: 0...Int.max), try r.doubles("row", expected: d)) }
    }

    package static func parameters(_ p: MixtureParameters, _ w: inout WireWriter) {
        w.u8(code(p.covarianceType)); w.int(p.components); w.int(p.dimension)
        w.doubles(p.weights); w.doubles(p.means); w.doubles(p.covariances)
    }

    package static func parameters(_ r: inout WireReader, _ d: Int) throws -> MixtureParameters {
        let type = try covariance(&r)
        let k = try r.int("components", in: 1...(1 << 16))
        _ = try r.int("dimension", in: d...d)
        do {
            return try MixtureParameters(
                covarianceType: type, components: k, dimension: d, weights: try r.doubles("weights", expected: k),
                means: try r.doubles("means", expected: k * d),
                covariances: try r.doubles("covariances", expected: type.covarianceCount(components: k, dimension: d)))
        } catch let error as MixtureError {
            throw WireError("task: \(error)")
        }
    }

    package static func prepare(_ p: MixtureParameters, anchor: [Double]) throws -> PreparedMixture {
        do {
            return try PreparedMixture(p, anchor: anchor)
        } catch {
            throw WireError("task: \(error)")
        }
    }
}
