import Datasets
import Engine
import Foundation
import Neural
import Numerics
import Training

/// The network a DAGMM task is evaluated with, and how raw rows become its inputs.
public struct DAGMMState: Sendable, Equatable {
    /// The model's shape.
    public var architecture: DAGMMArchitecture
    /// Every weight and bias, as ``DAGMMArchitecture`` lays them out.
    public var parameters: [Double]
    /// The inputs' standardisation (the identity when the model reads raw rows).
    public var standardisation: Standardisation

    /// Creates a state.
    public init(architecture: DAGMMArchitecture, parameters: [Double], standardisation: Standardisation) {
        self.architecture = architecture; self.parameters = parameters; self.standardisation = standardisation
    }
}

/// A task of the DAGMM job. A training step is three tasks over the same batch (the same rows,
/// the same dropout): its membership statistics; the energy moments at the mixture those give;
/// the gradient, given the loss's derivatives with respect to the statistics.
public enum DAGMMTask: Sendable {
    /// The membership statistics and reconstruction error of a step's batch.
    case statistics(DAGMMState, layout: BatchLayout, epoch: Int, step: Int)
    /// The energies' sum and posterior moments of a step's batch at the batch's mixture.
    case energies(DAGMMState, layout: BatchLayout, epoch: Int, step: Int, mixture: LatentMixture)
    /// The gradient sum of a step's batch.
    case gradient(DAGMMState, layout: BatchLayout, epoch: Int, step: Int, mixture: LatentMixture, chain: MixtureChain)
    /// The membership statistics of every row without dropout: the model's mixture.
    case summarise(DAGMMState)
    /// Every row's energy and latent features under a mixture.
    case score(DAGMMState, mixture: LatentMixture)

    var state: DAGMMState {
        switch self {
        case let .statistics(state, _, _, _), let .energies(state, _, _, _, _), let .gradient(state, _, _, _, _, _), let .summarise(state),
             let .score(state, _): state
        }
    }
}

/// What a DAGMM task gives.
public enum DAGMMResult: Sendable {
    /// Statistics or energy moments.
    case moments(LatentMoments)
    /// Σ over the rows of ∂loss/∂parameters.
    case gradient(rows: Int, sum: [Double])
    /// Per row in row order: the energy, and the latent features (`latentSize` values).
    case rows(energies: [Double], latent: [Double])
}

/// Per-shard state of the DAGMM job: the epoch's row order and the last step's forward pass
/// (the three tasks of a step share it; a shard that moved to another worker recomputes it).
public final class DAGMMScratch: @unchecked Sendable {
    // @unchecked: used by the one thread that currently computes the shard.
    var epoch = -1
    var order: [Int] = []
    var cachedStep: (epoch: Int, step: Int, parameters: [Double])?
    var cachedPass: DAGMMForward?
    init() {}
}

/// Training steps, summaries and scores of a deep autoencoding Gaussian mixture as one shard job.
public enum DAGMMJob: ShardJob {
    public typealias Task = DAGMMTask
    public typealias Result = DAGMMResult
    public typealias Scratch = DAGMMScratch

    /// The job's name on the wire.
    public static let identifier = "dagmm"

    /// Rows per forward pass of the whole-shard tasks.
    static let chunk = 1024

    /// Fresh per-shard state.
    public static func makeScratch() -> DAGMMScratch { DAGMMScratch() }

    /// Evaluates a task on one shard.
    public static func evaluate(_ task: DAGMMTask, on shard: ShardData, scratch: DAGMMScratch) throws -> DAGMMResult {
        let state = task.state, architecture = state.architecture
        switch task {
        case let .statistics(_, layout, epoch, step):
            return .moments(DAGMMPasses.statistics(stepPass(state, layout, epoch, step, shard, scratch), architecture: architecture))
        case let .energies(_, layout, epoch, step, mixture):
            let pass = stepPass(state, layout, epoch, step, shard, scratch)
            return .moments(DAGMMPasses.energyMoments(pass, architecture: architecture, mixture: try prepared(mixture)))
        case let .gradient(_, layout, epoch, step, mixture, chain):
            let pass = stepPass(state, layout, epoch, step, shard, scratch)
            return .gradient(rows: pass.rows, sum: DAGMMPasses.gradient(
                pass, architecture: architecture, parameters: state.parameters, mixture: try prepared(mixture), chain: chain))
        case .summarise:
            var total = LatentMoments(components: architecture.components, dimension: architecture.latentSize)
            for start in stride(from: 0, to: shard.rows, by: chunk) {
                let rows = Array(start..<min(start + chunk, shard.rows))
                total.add(DAGMMPasses.statistics(pass(state, rows: rows, shard: shard, dropout: nil), architecture: architecture))
            }
            return .moments(total)
        case let .score(_, mixture):
            let model = try prepared(mixture)
            var energies: [Double] = [], latent: [Double] = []
            for start in stride(from: 0, to: shard.rows, by: chunk) {
                let forward = pass(state, rows: Array(start..<min(start + chunk, shard.rows)), shard: shard, dropout: nil)
                energies += DAGMMPasses.energies(forward, architecture: architecture, mixture: model)
                latent += forward.latent
            }
            return .rows(energies: energies, latent: latent)
        }
    }

    private static func prepared(_ mixture: LatentMixture) throws -> PreparedLatentMixture {
        guard let model = PreparedLatentMixture(mixture) else {
            throw FatalJobError("a covariance of the latent mixture is not positive definite: raise --covariance-ridge")
        }
        return model
    }

    /// The forward pass of a step's rows of the shard, kept for the step's other tasks.
    private static func stepPass(
        _ state: DAGMMState, _ layout: BatchLayout, _ epoch: Int, _ step: Int, _ shard: ShardData, _ scratch: DAGMMScratch
    ) -> DAGMMForward {
        if let cached = scratch.cachedStep, cached.epoch == epoch, cached.step == step, cached.parameters == state.parameters,
           let pass = scratch.cachedPass {
            return pass
        }
        if scratch.epoch != epoch {
            scratch.order = layout.order(shard: shard.index, epoch: epoch)
            scratch.epoch = epoch
        }
        let rows = Array(layout.rows(step: step, shard: shard.index, order: scratch.order))
        let forward = pass(state, rows: rows, shard: shard, dropout: layout.dropout(epoch: epoch, step: step, shard: shard.index, rows: rows))
        scratch.cachedStep = (epoch, step, state.parameters)
        scratch.cachedPass = forward
        return forward
    }

    /// The forward pass of some rows (local indices) of the shard.
    static func pass(_ state: DAGMMState, rows: [Int], shard: ShardData, dropout: Dropout?) -> DAGMMForward {
        let d = state.architecture.inputs
        var inputs = [Double](repeating: 0, count: rows.count * d)
        if !rows.isEmpty {
            inputs.withUnsafeMutableBufferPointer { buffer in
                shard.features.copyRows(at: rows.map { $0 + shard.positions.lowerBound }, subtracting: state.standardisation.mean,
                                        into: buffer.baseAddress!)
            }
            let scale = state.standardisation.scale
            for r in 0..<rows.count {
                for j in 0..<d { inputs[r * d + j] *= scale[j] }
            }
        }
        return DAGMMPasses.forward(state.architecture, parameters: state.parameters, inputs: inputs, rows: rows.count, dropout: dropout)
    }

    /// Adds the sums, or appends the rows, of the next shards.
    public static func combine(_ left: inout DAGMMResult, _ right: DAGMMResult) {
        let taken = left
        left = .rows(energies: [], latent: [])
        switch (consume taken, right) {
        case (.moments(var a), let .moments(b)):
            a.add(b)
            left = .moments(a)
        case (.gradient(let rows, var a), let .gradient(more, b)):
            for i in a.indices { a[i] += b[i] }
            left = .gradient(rows: rows + more, sum: a)
        case (.rows(var energies, var latent), let .rows(moreEnergies, moreLatent)):
            energies += moreEnergies
            latent += moreLatent
            left = .rows(energies: energies, latent: latent)
        default:
            preconditionFailure("results of different DAGMM tasks cannot be added")
        }
    }

    /// Diverged weights give every worker the same NaN: a fault of the job, not of a worker.
    public static func check(_ result: DAGMMResult, of task: DAGMMTask) throws {
        let finite = switch result {
        case let .moments(sums): sums.isFinite
        case let .gradient(_, sum): VectorMath.allFinite(sum)
        case let .rows(energies, latent): VectorMath.allFinite(energies) && VectorMath.allFinite(latent)
        }
        guard finite else { throw FatalJobError("DAGMM training diverged: a loss, statistic or gradient is NaN or infinite; lower --lr") }
    }

    /// A step's tasks are short and on the critical path.
    public static func runsInline(_ task: DAGMMTask) -> Bool {
        switch task {
        case .statistics, .energies, .gradient: true
        case .summarise, .score: false
        }
    }

    /// The task's bytes.
    public static func encode(task: DAGMMTask) -> [UInt8] { DAGMMCodec.encode(task) }

    /// Decodes a task for data of `context`'s shape.
    public static func decodeTask(_ bytes: [UInt8], context: ShardContext) throws -> DAGMMTask {
        try DAGMMCodec.decodeTask(bytes, dimension: context.dimension, plan: context.plan)
    }

    /// The result's bytes.
    public static func encode(result: DAGMMResult) -> [UInt8] { DAGMMCodec.encode(result) }

    /// Decodes the result of `task` over `shards`, checking its shape and that nothing is NaN.
    public static func decodeResult(_ bytes: [UInt8], of task: DAGMMTask, shards: Range<Int>, context: ShardContext) throws -> DAGMMResult {
        try DAGMMCodec.decodeResult(bytes, of: task, rows: context.rows(in: shards))
    }

    /// The most bytes a result of `task` over `rows` rows can take.
    public static func largestResultBytes(of task: DAGMMTask, rows: Int, context: ShardContext) -> Int {
        let a = task.state.architecture, m = a.latentSize, k = a.components
        return switch task {
        case .statistics, .energies, .summarise: 8 * (k + k * m + k * m * m) + 128
        case .gradient: 8 * a.parameterCount + 64
        case .score: 8 * rows * (1 + m) + 64
        }
    }

    /// The message limit a coordinator of DAGMM jobs needs: a gradient, or one shard's scores,
    /// with a floor of 8 MiB.
    public static func messageLimit(architecture: DAGMMArchitecture, largestShard rows: Int) -> Int {
        max(8 << 20, 8 * architecture.parameterCount + 4096, 8 * rows * (1 + architecture.latentSize) + 4096)
    }
}

extension ShardRunner {
    /// The tree sum of a statistics, energies or summary task.
    func latentMoments(_ task: DAGMMTask) throws -> LatentMoments {
        guard case let .moments(sums) = try run(DAGMMJob.self, task) else { preconditionFailure("the task gives moments") }
        return sums
    }
}

/// The binary form of DAGMM tasks and results.
enum DAGMMCodec {
    static func encode(_ task: DAGMMTask) -> [UInt8] {
        var w = WireWriter(capacity: 8 * task.state.parameters.count + 512)
        switch task {
        case let .statistics(state, layout, epoch, step):
            w.u8(1); encode(state, &w); encode(layout, &w); w.int(epoch); w.int(step)
        case let .energies(state, layout, epoch, step, mixture):
            w.u8(2); encode(state, &w); encode(layout, &w); w.int(epoch); w.int(step); encode(mixture, &w)
        case let .gradient(state, layout, epoch, step, mixture, chain):
            w.u8(3); encode(state, &w); encode(layout, &w); w.int(epoch); w.int(step); encode(mixture, &w)
            w.doubles(chain.counts); w.doubles(chain.first); w.doubles(chain.second)
            w.double(chain.energyScale); w.double(chain.reconstructionScale)
        case let .summarise(state):
            w.u8(4); encode(state, &w)
        case let .score(state, mixture):
            w.u8(5); encode(state, &w); encode(mixture, &w)
        }
        return w.bytes
    }

    static func decodeTask(_ bytes: [UInt8], dimension d: Int, plan: ShardPlan) throws -> DAGMMTask {
        var r = WireReader(bytes, context: "DAGMM task")
        let tag = try r.u8("task kind")
        guard (1...5).contains(tag) else { throw WireError("DAGMM task: unknown kind \(tag)") }
        let state = try decodeState(&r, d)
        let a = state.architecture
        let task: DAGMMTask
        switch tag {
        case 1:
            let layout = try decodeLayout(&r, plan)
            task = .statistics(state, layout: layout, epoch: try r.int("epoch", in: 0...Int(Int32.max)), step: try r.int("step", in: 0...Int(Int32.max)))
        case 2, 3:
            let layout = try decodeLayout(&r, plan)
            let epoch = try r.int("epoch", in: 0...Int(Int32.max)), step = try r.int("step", in: 0...Int(Int32.max))
            let mixture = try decodeMixture(&r, a)
            if tag == 2 {
                task = .energies(state, layout: layout, epoch: epoch, step: step, mixture: mixture)
            } else {
                let k = a.components, m = a.latentSize
                let chain = MixtureChain(
                    counts: try r.doubles("chain counts", expected: k), first: try r.doubles("chain first moments", expected: k * m),
                    second: try r.doubles("chain second moments", expected: k * m * m), energyScale: try r.double("energy scale"),
                    reconstructionScale: try r.double("reconstruction scale"))
                guard VectorMath.allFinite(chain.counts + chain.first + chain.second + [chain.energyScale, chain.reconstructionScale]) else {
                    throw WireError("DAGMM task: the loss's derivatives hold NaN or infinite numbers")
                }
                task = .gradient(state, layout: layout, epoch: epoch, step: step, mixture: mixture, chain: chain)
            }
        case 4:
            task = .summarise(state)
        default:
            task = .score(state, mixture: try decodeMixture(&r, a))
        }
        try r.finish()
        return task
    }

    static func encode(_ result: DAGMMResult) -> [UInt8] {
        var w = WireWriter(capacity: 256)
        switch result {
        case let .moments(sums):
            w.u8(1); w.int(sums.rows); w.double(sums.reconstruction); w.double(sums.energy)
            w.doubles(sums.counts); w.doubles(sums.first); w.doubles(sums.second)
        case let .gradient(rows, sum):
            w.u8(2); w.int(rows); w.doubles(sum)
        case let .rows(energies, latent):
            w.u8(3); w.doubles(energies); w.doubles(latent)
        }
        return w.bytes
    }

    static func decodeResult(_ bytes: [UInt8], of task: DAGMMTask, rows: Int) throws -> DAGMMResult {
        var r = WireReader(bytes, context: "DAGMM result")
        let a = task.state.architecture, k = a.components, m = a.latentSize
        let kind = try r.u8("result kind")
        let result: DAGMMResult
        switch (kind, task) {
        case (1, .statistics), (1, .energies), (1, .summarise):
            var sums = LatentMoments(components: k, dimension: m)
            sums.rows = try r.int("rows", in: 0...rows)
            sums.reconstruction = try r.double("reconstruction")
            sums.energy = try r.double("energy")
            sums.counts = try r.doubles("counts", expected: k)
            sums.first = try r.doubles("first moments", expected: k * m)
            sums.second = try r.doubles("second moments", expected: k * m * m)
            guard sums.isFinite else { throw WireError("DAGMM result holds NaN or infinite numbers") }
            result = .moments(sums)
        case (2, .gradient):
            let count = try r.int("rows", in: 0...rows)
            let sum = try r.doubles("gradient", expected: a.parameterCount)
            guard VectorMath.allFinite(sum) else { throw WireError("DAGMM result holds NaN or infinite numbers") }
            result = .gradient(rows: count, sum: sum)
        case (3, .score):
            let energies = try r.doubles("energies", expected: rows)
            let latent = try r.doubles("latent features", expected: rows * m)
            guard VectorMath.allFinite(energies), VectorMath.allFinite(latent) else { throw WireError("DAGMM result holds NaN or infinite numbers") }
            result = .rows(energies: energies, latent: latent)
        default:
            throw WireError("DAGMM result: kind \(kind) does not answer its task")
        }
        try r.finish()
        return result
    }

    private static func encode(_ state: DAGMMState, _ w: inout WireWriter) {
        let a = state.architecture
        w.int(a.inputs); w.ints(a.encoder); w.ints(a.estimator); w.int(a.components); w.string(a.activation.rawValue)
        w.doubles(state.parameters)
        w.doubles(state.standardisation.mean); w.doubles(state.standardisation.scale)
    }

    private static func decodeState(_ r: inout WireReader, _ d: Int) throws -> DAGMMState {
        let inputs = try r.int("inputs", in: 1...(1 << 20))
        guard inputs == d else { throw WireError("DAGMM task: \(inputs) inputs for \(d) features") }
        let encoder = try r.ints("encoder", in: 1...(1 << 16), maxCount: 64)
        let estimator = try r.ints("estimator", in: 1...(1 << 16), maxCount: 64)
        let components = try r.int("components", in: 1...4096)
        guard !encoder.isEmpty, encoder.last! <= 256 else { throw WireError("DAGMM task: the code needs 1 to 256 units") }
        guard let activation = Activation(rawValue: try r.string("activation", maxBytes: 32)) else { throw WireError("DAGMM task: unknown activation") }
        let architecture = DAGMMArchitecture(inputs: inputs, encoder: encoder, estimator: estimator, components: components, activation: activation)
        let parameters = try r.doubles("parameters", expected: architecture.parameterCount)
        guard VectorMath.allFinite(parameters) else { throw WireError("DAGMM task: the weights hold NaN or infinite numbers") }
        let standardisation = Standardisation(mean: try r.doubles("mean", expected: d), scale: try r.doubles("scale", expected: d))
        guard VectorMath.allFinite(standardisation.mean), VectorMath.allFinite(standardisation.scale) else {
            throw WireError("DAGMM task: the standardisation holds NaN or infinite numbers")
        }
        return DAGMMState(architecture: architecture, parameters: parameters, standardisation: standardisation)
    }

    private static func encode(_ layout: BatchLayout, _ w: inout WireWriter) {
        w.int(layout.batchSize); w.u64(layout.seed); w.doubles(layout.dropout)
    }

    private static func decodeLayout(_ r: inout WireReader, _ plan: ShardPlan) throws -> BatchLayout {
        let batch = try r.int("batch size", in: 1...(1 << 24))
        let seed = try r.u64("seed")
        let dropout = try r.doubles("dropout")
        guard dropout.count <= 64, dropout.allSatisfy({ (0..<1).contains($0) }) else { throw WireError("DAGMM task: dropout rates \(dropout) outside [0, 1)") }
        return BatchLayout(plan: plan, batchSize: batch, validationFraction: 0, seed: seed, dropout: dropout)
    }

    private static func encode(_ mixture: LatentMixture, _ w: inout WireWriter) {
        w.doubles(mixture.weights); w.doubles(mixture.means.flatMap { $0 }); w.doubles(mixture.covariances.flatMap { $0 })
    }

    private static func decodeMixture(_ r: inout WireReader, _ a: DAGMMArchitecture) throws -> LatentMixture {
        let k = a.components, m = a.latentSize
        let weights = try r.doubles("mixture weights", expected: k)
        let means = try r.doubles("mixture means", expected: k * m)
        let covariances = try r.doubles("mixture covariances", expected: k * m * m)
        guard VectorMath.allFinite(weights + means + covariances), weights.allSatisfy({ $0 > 0 }) else {
            throw WireError("DAGMM task: the mixture holds NaN, infinite or non-positive weights")
        }
        let mixture = LatentMixture(
            weights: weights, means: (0..<k).map { Array(means[($0 * m)..<(($0 + 1) * m)]) },
            covariances: (0..<k).map { Array(covariances[($0 * m * m)..<(($0 + 1) * m * m)]) })
        guard PreparedLatentMixture(mixture) != nil else { throw WireError("DAGMM task: a covariance of the mixture is not positive definite") }
        return mixture
    }
}
