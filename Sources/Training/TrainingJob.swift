import Datasets
import Engine
import Foundation
import Mixture
import Neural
import Numerics

/// Input standardisation learned from the training rows: `x' = (x − mean) · scale`.
public struct Standardisation: Codable, Equatable, Sendable {
    /// Column means.
    public var mean: [Double]
    /// 1 / column standard deviation (1 for a constant column).
    public var scale: [Double]

    /// Creates a standardisation.
    public init(mean: [Double], scale: [Double]) {
        self.mean = mean
        self.scale = scale
    }

    /// Applies it to `rows` row-major rows.
    public func apply(_ values: inout [Double], rows: Int) {
        let d = mean.count
        for r in 0..<rows {
            for j in 0..<d { values[r * d + j] = (values[r * d + j] - mean[j]) * scale[j] }
        }
    }
}

/// How a training job cuts each shard into training and validation rows and minibatches.
///
/// Everything here depends only on the seed, the epoch and the shard layout, never on which
/// worker holds a shard: a shard's last `⌊n·F⌋` rows are its validation rows; each epoch its
/// training rows are shuffled by a generator seeded from (seed, epoch, shard); step `t` takes
/// the next `b_s` of them, where the global batch is split as evenly as possible over shards.
public struct BatchLayout: Equatable, Sendable {
    package var plan: ShardPlan
    package var batchSize: Int
    package var validationFraction: Double
    package var seed: UInt64
    /// The dropout rate of each hidden layer in a step (empty: none).
    package var dropout: [Double]

    /// The fewest rows of a minibatch each shard computes by default.
    ///
    /// A step's products run per shard (the fixed shard tree is what keeps the model the same for
    /// any number of workers), and products of fewer rows run further below the `sgemm` rate: at
    /// 784-256-128-10 with batches of 256, 8 shards of 32 rows took 0.73 s per epoch in one
    /// process, 4 of 64 rows 0.59 s (docs/BENCHMARKS.md). A job can use at most as many workers
    /// as it has shards, so with batches of 256 the default uses at most 4: give `--shards` (or a
    /// larger batch) for more.
    public static let defaultRowsPerShard = 64

    /// The default shard count of a training job: one per 8,192 rows, at most 1,024, and at most
    /// one per ``defaultRowsPerShard`` rows of a minibatch.
    public static func defaultShardCount(rows: Int, batchSize: Int) -> Int {
        max(1, min(ShardPlan.defaultShardCount(rows: rows), batchSize / defaultRowsPerShard))
    }

    package init(plan: ShardPlan, batchSize: Int, validationFraction: Double, seed: UInt64, dropout: [Double] = []) {
        self.plan = plan; self.batchSize = batchSize; self.validationFraction = validationFraction; self.seed = seed
        self.dropout = dropout
    }

    /// The units a step drops for `rows` (local rows of `shard`): seeded by (seed, epoch, step)
    /// and keyed by each row's shard and place in it, so that no split of the rows changes them.
    package func dropout(epoch: Int, step: Int, shard: Int, rows: [Int]) -> Dropout? {
        guard dropout.contains(where: { $0 > 0 }) else { return nil }
        var generator = SeededGenerator(seed: seed ^ 0xD409_0D40, stream: UInt64(epoch) << 32 | UInt64(step))
        return Dropout(rates: dropout, seed: generator.next(), rowKeys: rows.map { UInt64(shard) << 32 | UInt64($0) })
    }

    package func validationRows(_ shard: Int) -> Int { Int((Double(plan.ranges[shard].count) * validationFraction).rounded(.down)) }
    package func trainingRows(_ shard: Int) -> Int { plan.ranges[shard].count - validationRows(shard) }
    package func batchRows(_ shard: Int) -> Int { batchSize / plan.count + (shard < batchSize % plan.count ? 1 : 0) }

    /// Steps in every epoch: enough for the shard that needs most.
    package var stepsPerEpoch: Int {
        (0..<plan.count).map { shard in
            let b = batchRows(shard)
            return b == 0 ? 0 : (trainingRows(shard) + b - 1) / b
        }.max() ?? 0
    }

    /// Training rows in the whole dataset.
    package var totalTrainingRows: Int { (0..<plan.count).reduce(0) { $0 + trainingRows($1) } }
    /// Validation rows in the whole dataset.
    package var totalValidationRows: Int { (0..<plan.count).reduce(0) { $0 + validationRows($1) } }

    /// The shard's training rows (local indices) in this epoch's order.
    package func order(shard: Int, epoch: Int) -> [Int] {
        var generator = SeededGenerator(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15, stream: UInt64(shard) &+ 1)
        return generator.permutation(of: trainingRows(shard))
    }

    /// Local rows of `shard` in step `step` of an epoch whose order is `order`.
    package func rows(step: Int, shard: Int, order: [Int]) -> ArraySlice<Int> {
        let b = batchRows(shard)
        let start = min(step * b, order.count), end = min(start + b, order.count)
        return order[start..<end]
    }
}

/// Which rows an evaluation covers.
public enum RowPart: UInt8, Sendable {
    case training = 0, validation = 1, all = 2
}

/// A task of a training job.
public enum NeuralTask: Sendable {
    /// One minibatch step: gradient sums at `parameters`.
    case step(NeuralModelState, layout: BatchLayout, epoch: Int, step: Int)
    /// Loss and accuracy sums over a part of every shard.
    case evaluate(NeuralModelState, layout: BatchLayout, part: RowPart)
    /// Per-row outputs of every row.
    case predict(NeuralModelState)

    package var state: NeuralModelState {
        switch self {
        case let .step(state, _, _, _), let .evaluate(state, _, _), let .predict(state): state
        }
    }
}

extension NeuralTask {
    /// What to say when the task's sums come out NaN or infinite: the weights have diverged,
    /// and every worker would compute the same.
    package var divergence: String {
        let remedy = "lower --lr (single precision overflows sooner: --precision float64 goes further)"
        return switch self {
        case let .step(_, _, epoch, step): "training diverged: the loss or gradient of step \(step + 1) of epoch \(epoch + 1) is NaN or infinite; \(remedy)"
        case .evaluate: "training diverged: the evaluation loss is NaN or infinite; \(remedy)"
        case .predict: "the network's outputs are NaN or infinite"
        }
    }
}

/// The network and inputs a task is evaluated with.
public struct NeuralModelState: Sendable {
    package var architecture: NetworkArchitecture
    /// The weights; empty in a single-precision task decoded from the wire, which carries only
    /// ``narrowParameters`` (predictions, computed from these, always travel in double precision).
    package let parameters: [Double]
    package var standardisation: Standardisation
    /// A fitted mixture whose posteriors feed the network (GMM→network pipelines).
    package var mixture: MixtureFeatures?
    /// The precision of steps and evaluations (predictions are always computed in `Double`).
    package let precision: NetworkPrecision
    /// `parameters` rounded to `Float` once per task (single precision only; else empty).
    package let narrowParameters: [Float]

    /// - Parameter narrowParameters: `parameters` already rounded to `Float` (as a task carries
    ///   them); computed here when not given.
    package init(architecture: NetworkArchitecture, parameters: [Double], standardisation: Standardisation,
                 mixture: MixtureFeatures? = nil, precision: NetworkPrecision = .float64, narrowParameters: [Float]? = nil) {
        self.architecture = architecture; self.parameters = parameters; self.standardisation = standardisation
        self.mixture = mixture; self.precision = precision
        self.narrowParameters = precision == .float32 ? narrowParameters ?? parameters.map { Float($0) } : []
    }
}

/// How a fitted mixture takes part in training: its K posteriors appended to the standardised
/// inputs, and/or its most probable component as each row's target.
public struct MixtureFeatures: Sendable {
    /// The mixture, prepared for evaluation.
    public var model: PreparedMixture
    /// Append the posteriors to the inputs (the network then has D + K inputs).
    public var appendPosteriors: Bool
    /// Train on the mixture's component of each row instead of labels.
    public var componentTargets: Bool

    /// Creates the description.
    public init(model: PreparedMixture, appendPosteriors: Bool, componentTargets: Bool) {
        self.model = model; self.appendPosteriors = appendPosteriors; self.componentTargets = componentTargets
    }

    /// Posterior probabilities (rows × K) of raw rows.
    func posteriors(_ rows: FeatureMatrix) -> [Double] {
        let view = ShardView(data: rows, range: 0..<rows.rows, firstGlobalRow: 0)
        guard case let .scores(_, _, _, perRow) = ShardEvaluator.evaluate(.score(model: model, output: .probabilities), on: view, scratch: ShardScratch())
        else { return [] }
        return perRow
    }
}

/// Sums of a training or evaluation task over some rows: they add up over shards.
public struct TrainingSums: Sendable, Equatable {
    package var batch: BatchSums
    /// Σ target and Σ target² (regression, for R²), each times the row's weight.
    package var targetSum = 0.0
    package var targetSquares = 0.0

    package init(batch: BatchSums) { self.batch = batch }

    /// The coefficient of determination of these sums' predictions, 1 − SS_res/SS_tot (nil when
    /// the targets do not vary); with sample weights, of the weighted sums.
    public var r2: Double? {
        let n = batch.weight > 0 ? batch.weight : 1
        let total = targetSquares - targetSum * targetSum / n
        return total > 0 ? 1 - batch.squaredErrorSum / total : nil
    }

    package static func + (a: TrainingSums, b: TrainingSums) -> TrainingSums {
        var sum = a
        sum += b
        return sum
    }

    package static func += (a: inout TrainingSums, b: TrainingSums) {
        a.batch.add(b.batch)
        a.targetSum += b.targetSum
        a.targetSquares += b.targetSquares
    }
}

/// One shard's data for a training job, as a worker (or the local runner) holds it.
package struct NeuralShard {
    /// The matrix holding the shard's rows at positions `offset..<offset + rows`.
    package var features: FeatureMatrix
    /// The targets of the shard's rows (local indices).
    package var targets: TargetRows
    /// The shard's index in the plan.
    package var index: Int
    /// The position of the shard's first row in `features`.
    package var offset: Int
    /// Rows in the shard.
    package var rows: Int
    /// The sample weights of the shard's rows (local indices), or nil.
    package var weights: [Double]?

    package init(features: FeatureMatrix, targets: TargetRows, index: Int, weights: [Double]? = nil) {
        self.features = features; self.targets = targets; self.index = index; offset = 0; rows = features.rows
        self.weights = weights
    }

    package init(_ shard: ShardData, targets: TargetRows) {
        features = shard.features; self.targets = targets; index = shard.index; offset = shard.positions.lowerBound; rows = shard.rows
        weights = shard.weights
    }
}

/// Per-shard state kept between steps: the epoch's row order and a workspace.
public final class NeuralScratch: @unchecked Sendable {
    // @unchecked: used by the one thread that currently computes the shard.
    var epoch = -1
    var order: [Int] = []
    var workspace: NetworkWorkspace<Double>?
    var narrowWorkspace: NetworkWorkspace<Float>?
    /// Class 0 for every row, for tasks whose targets do not come from labels.
    var placeholderTargets: TargetRows?
    package init() {}
}

/// The arithmetic of training tasks on one shard (the same code in-process and on workers).
package enum NeuralShardEvaluator {
    static let chunk = 1024

    package static func sums(_ task: NeuralTask, shard: NeuralShard, scratch: NeuralScratch) -> TrainingSums {
        let state = task.state
        switch task {
        case let .step(_, layout, epoch, step):
            if scratch.epoch != epoch {
                scratch.order = layout.order(shard: shard.index, epoch: epoch)
                scratch.epoch = epoch
            }
            let rows = Array(layout.rows(step: step, shard: shard.index, order: scratch.order))
            return evaluate(rows, shard: shard, state: state, gradient: true, scratch: scratch,
                            dropout: layout.dropout(epoch: epoch, step: step, shard: shard.index, rows: rows))
        case let .evaluate(_, layout, part):
            let training = layout.trainingRows(shard.index), count = shard.rows
            let range: Range<Int> = switch part {
            case .training: 0..<training
            case .validation: training..<count
            case .all: 0..<count
            }
            var total = TrainingSums(batch: BatchSums(rows: 0, lossSum: 0, correct: 0, squaredErrorSum: 0, absoluteErrorSum: 0, gradient: []))
            var start = range.lowerBound
            while start < range.upperBound {
                let end = min(start + chunk, range.upperBound)
                total = total + evaluate(Array(start..<end), shard: shard, state: state, gradient: false, scratch: scratch)
                start = end
            }
            return total
        case .predict:
            preconditionFailure("predict returns outputs, not sums")
        }
    }

    /// Per-row outputs of every row of the shard.
    package static func outputs(_ state: NeuralModelState, shard: NeuralShard) -> [Double] {
        var outputs = [Double]()
        outputs.reserveCapacity(shard.rows * state.architecture.outputs)
        var start = 0
        while start < shard.rows {
            let end = min(start + chunk, shard.rows)
            let inputs: [Double] = networkInputs(Array(start..<end), shard: shard, state: state).inputs
            outputs += Network.predict(architecture: state.architecture, parameters: state.parameters, inputs: inputs, rows: end - start)
            start = end
        }
        return outputs
    }

    /// The network's inputs for some rows (local indices): standardised features, then the
    /// mixture's posteriors when the state appends them; also returns the posteriors (empty
    /// without a mixture).
    static func networkInputs<Scalar: NetworkScalar>(
        _ localRows: [Int], shard: NeuralShard, state: NeuralModelState
    ) -> (inputs: [Scalar], posteriors: [Double]) {
        var features = shard.features
        var offset = shard.offset, rows = localRows
        if features.fileBackedRows != nil {
            // Rows read from their file: gathered into memory first, in the order asked (the same
            // values as rows held in memory, so the same bits).
            let d = features.columns
            let gathered = [Double](unsafeUninitializedCapacity: rows.count * d) { buffer, count in
                if !rows.isEmpty {
                    features.copyRows(at: rows.map { $0 + offset }, subtracting: [Double](repeating: 0, count: d), into: buffer.baseAddress!)
                }
                count = rows.count * d
            }
            features = features.scalarType == .float32
                ? FeatureMatrix(rows: rows.count, columns: d, float32: gathered.map { Float($0) })
                : FeatureMatrix(rows: rows.count, columns: d, values: gathered)
            offset = 0
            rows = Array(0..<rows.count)
        }
        let d = features.columns, width = state.architecture.inputs, k = width - d
        let posteriors = state.mixture.map { mixture in
            mixture.posteriors(FeatureMatrix(rows: rows.count, columns: d,
                                             values: rows.flatMap { row in (0..<d).map { features[row: row + offset, column: $0] } }))
        } ?? []
        let inputs = [Scalar](unsafeUninitializedCapacity: rows.count * width) { buffer, count in
            state.standardisation.mean.withUnsafeBufferPointer { mean in
                state.standardisation.scale.withUnsafeBufferPointer { scale in
                    rows.withUnsafeBufferPointer { rows in
                        guard rows.count > 0, d > 0 else { return }
                        switch features.storage {
                        case let .float64(values):
                            values.withUnsafeBufferPointer { all in
                                Scalar.standardiseRows(all.baseAddress! + offset * d, rows: rows.baseAddress!, count: rows.count, columns: d,
                                                       mean: mean.baseAddress!, scale: scale.baseAddress!, into: buffer.baseAddress!, width: width)
                            }
                        case let .float32(values):
                            values.withUnsafeBufferPointer { all in
                                Scalar.standardiseRows(all.baseAddress! + offset * d, rows: rows.baseAddress!, count: rows.count, columns: d,
                                                       mean: mean.baseAddress!, scale: scale.baseAddress!, into: buffer.baseAddress!, width: width)
                            }
                        case .file: preconditionFailure("gathered into memory above")
                        }
                    }
                }
            }
            for i in 0..<rows.count {
                for c in 0..<k { buffer[i * width + d + c] = Scalar(posteriors[i * k + c]) }
            }
            count = rows.count * width
        }
        return (inputs, posteriors)
    }

    static func evaluate(
        _ rows: [Int], shard: NeuralShard, state: NeuralModelState, gradient: Bool, scratch: NeuralScratch, dropout: Dropout? = nil
    ) -> TrainingSums {
        switch state.precision {
        case .float64: evaluate(Double.self, rows, shard: shard, state: state, gradient: gradient, scratch: scratch, dropout: dropout)
        case .float32: evaluate(Float.self, rows, shard: shard, state: state, gradient: gradient, scratch: scratch, dropout: dropout)
        }
    }

    private static func evaluate<Scalar: NetworkScalar>(
        _: Scalar.Type, _ rows: [Int], shard: NeuralShard, state: NeuralModelState, gradient: Bool, scratch: NeuralScratch,
        dropout: Dropout?
    ) -> TrainingSums {
        let architecture = state.architecture
        let (inputs, posteriors): ([Scalar], [Double]) = networkInputs(rows, shard: shard, state: state)
        let targets: Targets
        let weights = shard.weights.map { all in rows.map { all[$0] } }
        var targetSum = 0.0, targetSquares = 0.0
        if let mixture = state.mixture, mixture.componentTargets {
            let k = mixture.model.parameters.components
            targets = .classes(VectorMath.argmaxOfRows(posteriors, width: max(1, k)))
        } else {
            switch shard.targets {
            case let .classes(all):
                targets = .classes(rows.map { all[$0] })
            case let .values(all):
                let picked = rows.map { all[$0] }
                if let weights {
                    for (value, w) in zip(picked, weights) { targetSum += w * value; targetSquares += w * value * value }
                } else {
                    for value in picked { targetSum += value; targetSquares += value * value }
                }
                targets = .values(picked)
            }
        }
        var sums: TrainingSums
        // Scalar is Float or Double: the checked type makes each bit cast exact.
        if Scalar.self == Float.self {
            let narrowInputs = unsafeBitCast(inputs, to: [Float].self)
            if scratch.narrowWorkspace == nil || scratch.narrowWorkspace!.architecture != architecture {
                scratch.narrowWorkspace = NetworkWorkspace<Float>(architecture: architecture, capacity: max(rows.count, 1))
            }
            sums = TrainingSums(batch: Network.batchSums(
                architecture: architecture, parameters: state.narrowParameters, inputs: narrowInputs, rows: rows.count,
                targets: targets, gradient: gradient, workspace: scratch.narrowWorkspace!, weights: weights, dropout: dropout))
        } else {
            if scratch.workspace == nil || scratch.workspace!.architecture != architecture {
                scratch.workspace = NetworkWorkspace<Double>(architecture: architecture, capacity: max(rows.count, 1))
            }
            sums = TrainingSums(batch: Network.batchSums(
                architecture: architecture, parameters: state.parameters, inputs: unsafeBitCast(inputs, to: [Double].self), rows: rows.count,
                targets: targets, gradient: gradient, workspace: scratch.workspace!, weights: weights, dropout: dropout))
        }

        sums.targetSum = targetSum
        sums.targetSquares = targetSquares
        return sums
    }
}

/// What a training task gives: gradient and loss sums, or per-row outputs.
public enum TrainingResult: Sendable {
    /// Sums of a step or an evaluation.
    case sums(TrainingSums)
    /// Outputs of every row, row-major, in row order.
    case outputs([Double])
}

/// Minibatch steps, evaluations and predictions of a network as one shard job.
public enum TrainingJob: ShardJob {
    public typealias Task = NeuralTask
    public typealias Result = TrainingResult
    public typealias Scratch = NeuralScratch

    /// The job's name on the wire.
    public static let identifier = "training"

    /// Fresh per-shard state (the epoch's row order and workspaces).
    public static func makeScratch() -> NeuralScratch { NeuralScratch() }

    /// Evaluates a training task on one shard.
    public static func evaluate(_ task: NeuralTask, on shard: ShardData, scratch: NeuralScratch) throws -> TrainingResult {
        let targets: TargetRows
        if let given = shard.targets {
            targets = given
        } else {
            // Without labels (targets from a mixture, or predictions) placeholders keep the shapes.
            if scratch.placeholderTargets?.count != shard.rows { scratch.placeholderTargets = .classes(Array(repeating: 0, count: shard.rows)) }
            targets = scratch.placeholderTargets!
        }
        let data = NeuralShard(shard, targets: targets)
        if case let .predict(state) = task { return .outputs(NeuralShardEvaluator.outputs(state, shard: data)) }
        return .sums(NeuralShardEvaluator.sums(task, shard: data, scratch: scratch))
    }

    /// Adds the sums, or appends the outputs, of the next shards.
    public static func combine(_ left: inout TrainingResult, _ right: TrainingResult) {
        // `left` is taken apart before the addition, so that its buffers are uniquely referenced
        // and added to in place (a `switch (left, right)` keeps a second reference alive and
        // makes every addition copy the gradient first).
        let taken = left
        left = .outputs([])
        switch right {
        case let .sums(b):
            guard case var .sums(a) = consume taken else { preconditionFailure("results of different training tasks cannot be added") }
            a += b
            left = .sums(a)
        case let .outputs(b):
            guard case var .outputs(a) = consume taken else { preconditionFailure("results of different training tasks cannot be added") }
            a += b
            left = .outputs(a)
        }
    }

    /// Diverged weights give every worker the same NaN: a fault of the job, not of a worker.
    public static func check(_ result: TrainingResult, of task: NeuralTask) throws {
        switch result {
        case let .sums(sums): guard sums.batch.isFinite else { throw FatalJobError(task.divergence) }
        case let .outputs(values): guard VectorMath.allFinite(values) else { throw FatalJobError(task.divergence) }
        }
    }

    /// Steps are short and on the critical path.
    public static func runsInline(_ task: NeuralTask) -> Bool {
        if case .step = task { return true }
        return false
    }

    /// The task's bytes.
    public static func encode(task: NeuralTask) -> [UInt8] { NeuralTaskCodec.encode(task) }

    /// Decodes a task for data of `context`'s shape.
    public static func decodeTask(_ bytes: [UInt8], context: ShardContext) throws -> NeuralTask {
        try NeuralTaskCodec.decodeTask(bytes, dimension: context.dimension, plan: context.plan)
    }

    /// The result's bytes.
    public static func encode(result: TrainingResult) -> [UInt8] {
        switch result {
        case let .sums(sums): NeuralTaskCodec.encode(sums)
        case let .outputs(values): NeuralTaskCodec.encode(outputs: values)
        }
    }

    /// Decodes the result of `task` over `shards`, checking sizes and that nothing is NaN.
    public static func decodeResult(_ bytes: [UInt8], of task: NeuralTask, shards: Range<Int>, context: ShardContext) throws -> TrainingResult {
        let rows = context.rows(in: shards)
        if case let .predict(state) = task {
            return .outputs(try NeuralTaskCodec.decodeOutputs(bytes, expected: rows * state.architecture.outputs))
        }
        return .sums(try NeuralTaskCodec.decodeSums(bytes, task: task, maxRows: rows))
    }

    /// The most bytes a result of `task` over `rows` rows can take.
    public static func largestResultBytes(of task: NeuralTask, rows: Int, context: ShardContext) -> Int {
        switch task {
        case let .step(state, _, _, _):
            (state.precision == .float32 ? 4 : 8) * state.architecture.parameterCount + 128
        case .evaluate:
            128
        case let .predict(state):
            8 * rows * state.architecture.outputs + 64
        }
    }

    /// The message limit a coordinator of training jobs needs for `architecture`: one gradient in
    /// `precision`, or one shard's outputs, with a floor of 8 MiB.
    public static func messageLimit(architecture: NetworkArchitecture, precision: NetworkPrecision, largestShard rows: Int) -> Int {
        let gradient = (precision == .float32 ? 4 : 8) * architecture.parameterCount
        return max(8 << 20, gradient + 4096, 8 * rows * architecture.outputs + 4096)
    }
}

extension ShardRunner {
    /// The tree sum of a step or evaluation over every shard.
    package func trainingSums(_ task: NeuralTask) throws -> TrainingSums {
        guard case let .sums(sums) = try run(TrainingJob.self, task) else { preconditionFailure("a step or evaluation gives sums") }
        return sums
    }

    /// Per-row outputs of every row, in row order.
    package func outputs(_ state: NeuralModelState) throws -> [Double] {
        guard case let .outputs(values) = try run(TrainingJob.self, .predict(state)) else { preconditionFailure("a prediction gives outputs") }
        return values
    }
}

/// The binary form of training tasks and outcomes.
package enum NeuralTaskCodec {
    package static func encode(_ task: NeuralTask) -> [UInt8] {
        var w = WireWriter(capacity: 8 * task.state.parameters.count + 256)
        switch task {
        case let .step(state, layout, epoch, step):
            w.u8(100); encode(state, &w); encode(layout, &w); w.int(epoch); w.int(step)
        case let .evaluate(state, layout, part):
            w.u8(101); encode(state, &w); encode(layout, &w); w.u8(part.rawValue)
        case let .predict(state):
            // Predictions are always computed in double precision, from the unrounded weights.
            w.u8(102); encode(state, &w, precision: .float64)
        }
        return w.bytes
    }

    package static func decodeTask(_ bytes: [UInt8], dimension d: Int, plan: ShardPlan) throws -> NeuralTask {
        var r = WireReader(bytes, context: "training task")
        let tag = try r.u8("task kind")
        let task: NeuralTask
        switch tag {
        case 100:
            let state = try decodeState(&r, d)
            let layout = try decodeLayout(&r, plan)
            task = .step(state, layout: layout, epoch: try r.int("epoch", in: 0...Int(Int32.max)), step: try r.int("step", in: 0...Int(Int32.max)))
        case 101:
            let state = try decodeState(&r, d)
            let layout = try decodeLayout(&r, plan)
            guard let part = RowPart(rawValue: try r.u8("part")) else { throw WireError("training task: unknown row part") }
            task = .evaluate(state, layout: layout, part: part)
        case 102:
            task = .predict(try decodeState(&r, d))
        default:
            throw WireError("training task: unknown kind \(tag)")
        }
        try r.finish()
        return task
    }

    package static func encode(_ sums: TrainingSums) -> [UInt8] {
        var w = WireWriter(capacity: 8 * sums.batch.gradient.count + 4 * sums.batch.narrowGradient.count + 80)
        w.u8(1)
        w.int(sums.batch.rows); w.double(sums.batch.lossSum); w.int(sums.batch.correct)
        w.double(sums.batch.squaredErrorSum); w.double(sums.batch.absoluteErrorSum)
        w.double(sums.targetSum); w.double(sums.targetSquares)
        w.double(sums.batch.weight); w.double(sums.batch.correctWeight)
        w.doubles(sums.batch.gradient)
        w.floats(sums.batch.narrowGradient)
        return w.bytes
    }

    package static func encode(outputs: [Double]) -> [UInt8] {
        var w = WireWriter(capacity: 8 * outputs.count + 8)
        w.u8(2); w.doubles(outputs)
        return w.bytes
    }

    /// Decodes the sums of a step or evaluation over `maxRows` rows at most, checking the
    /// gradient's size and that nothing is NaN.
    package static func decodeSums(_ bytes: [UInt8], task: NeuralTask, maxRows: Int) throws -> TrainingSums {
        var r = WireReader(bytes, context: "training result")
        guard try r.u8("result kind") == 1 else { throw WireError("training result: not sums") }
        let rows = try r.int("rows", in: 0...maxRows)
        let loss = try r.double("loss"), correct = try r.int("correct", in: 0...rows)
        let squared = try r.double("squared error"), absolute = try r.double("absolute error")
        let targetSum = try r.double("target sum"), targetSquares = try r.double("target squares")
        let weight = try r.double("weight"), correctWeight = try r.double("correct weight")
        guard weight >= 0, correctWeight >= 0, correctWeight <= weight * (1 + 1e-12) else {
            throw WireError("training result: weights \(weight), \(correctWeight)")
        }
        // A step's gradient comes in the task's precision; evaluations carry none.
        var wide = 0, narrow = 0
        if case .step = task {
            if task.state.precision == .float32 { narrow = task.state.architecture.parameterCount } else { wide = task.state.architecture.parameterCount }
        }
        let gradient = try r.doubles("gradient", expected: wide)
        let narrowGradient = try r.floats("single-precision gradient", expected: narrow)
        try r.finish()
        guard VectorMath.allFinite([loss, squared, absolute, targetSum, targetSquares, weight, correctWeight]), VectorMath.allFinite(gradient),
              VectorMath.allFinite(narrowGradient)
        else {
            throw WireError("training result holds NaN or infinite numbers")
        }
        var sums = TrainingSums(batch: BatchSums(
            rows: rows, lossSum: loss, correct: correct, squaredErrorSum: squared, absoluteErrorSum: absolute, gradient: gradient,
            narrowGradient: narrowGradient, weight: weight, correctWeight: correctWeight))
        sums.targetSum = targetSum
        sums.targetSquares = targetSquares
        return sums
    }

    package static func decodeOutputs(_ bytes: [UInt8], expected: Int) throws -> [Double] {
        var r = WireReader(bytes, context: "prediction result")
        guard try r.u8("result kind") == 2 else { throw WireError("prediction result: not outputs") }
        let values = try r.doubles("outputs", expected: expected)
        try r.finish()
        guard VectorMath.allFinite(values) else { throw WireError("prediction result holds NaN or infinite numbers") }
        return values
    }

    private static func encode(_ state: NeuralModelState, _ w: inout WireWriter, precision: NetworkPrecision? = nil) {
        let a = state.architecture
        w.int(a.inputs); w.ints(a.hidden); w.int(a.outputs); w.string(a.activation.rawValue); w.string(a.loss.rawValue)
        // Single-precision tasks carry the weights already rounded: half the bytes, same bits.
        switch precision ?? state.precision {
        case .float64: w.u8(0); w.doubles(state.parameters)
        case .float32: w.u8(1); w.floats(state.narrowParameters)
        }
        w.doubles(state.standardisation.mean); w.doubles(state.standardisation.scale)
        if let mixture = state.mixture {
            w.u8(1); w.bool(mixture.appendPosteriors); w.bool(mixture.componentTargets)
            MixtureTaskCodec.parameters(mixture.model.parameters, &w)
            w.doubles(mixture.model.anchor)
        } else {
            w.u8(0)
        }
    }

    private static func decodeState(_ r: inout WireReader, _ d: Int) throws -> NeuralModelState {
        let inputs = try r.int("inputs", in: d...(d + (1 << 16)))
        let hidden = try r.ints("hidden", in: 1...(1 << 16), maxCount: 64)
        let outputs = try r.int("outputs", in: 1...(1 << 16))
        guard let activation = Activation(rawValue: try r.string("activation", maxBytes: 32)),
              let loss = LossFunction(rawValue: try r.string("loss", maxBytes: 32))
        else { throw WireError("training task: unknown activation or loss") }
        let architecture = NetworkArchitecture(inputs: inputs, hidden: hidden, outputs: outputs, activation: activation, loss: loss)
        let precision: NetworkPrecision
        let parameters: [Double]
        var narrow: [Float]?
        switch try r.u8("precision") {
        case 0:
            precision = .float64
            parameters = try r.doubles("parameters", expected: architecture.parameterCount)
            guard VectorMath.allFinite(parameters) else { throw WireError("training task: the weights hold NaN or infinite numbers") }
        case 1:
            precision = .float32
            narrow = try r.floats("parameters", expected: architecture.parameterCount)
            guard VectorMath.allFinite(narrow!) else { throw WireError("training task: the weights hold NaN or infinite numbers") }
            // Single-precision passes use only the rounded weights: not widened again per task.
            parameters = []
        case let other:
            throw WireError("training task: unknown precision \(other)")
        }
        let standardisation = Standardisation(mean: try r.doubles("mean", expected: d), scale: try r.doubles("scale", expected: d))
        var mixture: MixtureFeatures?
        if try r.bool("mixture") {
            let append = try r.bool("append posteriors"), targets = try r.bool("component targets")
            let parameters = try MixtureTaskCodec.parameters(&r, d)
            let model = try MixtureTaskCodec.prepare(parameters, anchor: try r.doubles("anchor", expected: d))
            guard inputs == d + (append ? parameters.components : 0) else {
                throw WireError("training task: \(inputs) inputs for \(d) features and \(append ? parameters.components : 0) posteriors")
            }
            mixture = MixtureFeatures(model: model, appendPosteriors: append, componentTargets: targets)
        } else {
            guard inputs == d else { throw WireError("training task: \(inputs) inputs for \(d) features") }
        }
        return NeuralModelState(architecture: architecture, parameters: parameters, standardisation: standardisation,
                                mixture: mixture, precision: precision, narrowParameters: narrow)
    }

    private static func encode(_ layout: BatchLayout, _ w: inout WireWriter) {
        w.int(layout.batchSize); w.double(layout.validationFraction); w.u64(layout.seed); w.doubles(layout.dropout)
    }

    private static func decodeLayout(_ r: inout WireReader, _ plan: ShardPlan) throws -> BatchLayout {
        let batch = try r.int("batch size", in: 1...(1 << 24))
        let fraction = try r.double("validation fraction")
        guard fraction >= 0, fraction < 1 else { throw WireError("training task: validation fraction \(fraction)") }
        let seed = try r.u64("seed")
        let dropout = try r.doubles("dropout")
        guard dropout.count <= 1 << 16, dropout.allSatisfy({ (0..<1).contains($0) }) else { throw WireError("training task: dropout rates \(dropout) outside [0, 1)") }
        return BatchLayout(plan: plan, batchSize: batch, validationFraction: fraction, seed: seed, dropout: dropout)
    }
}
