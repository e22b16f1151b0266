import Datasets
import DeepMixture
import Engine
import Foundation
import Neural
import Numerics
import Testing
import Training

/// The gradient of a DAGMM step's loss, through the batch mixture's parameters and their
/// Cholesky factors, against central finite differences of the loss itself.
@Suite("DAGMM gradients")
struct DAGMMGradientTests {
    /// 60 rows × 5 features from two clusters, in 3 shards.
    static let data: FeatureMatrix = {
        var generator = SeededGenerator(seed: 11)
        var values: [Double] = []
        for row in 0..<60 {
            let centre = row % 3 == 0 ? 2.0 : -1.0
            for column in 0..<5 { values.append(centre * Double(column % 2 == 0 ? 1 : -1) + 0.5 * generator.nextNormal()) }
        }
        return FeatureMatrix(rows: 60, columns: 5, values: values)
    }()

    static func options(dropout: Double) -> DAGMMOptions {
        var options = DAGMMOptions(components: 2)
        options.encoder = [4, 2]
        options.estimator = [3]
        options.batchSize = 60
        options.settings.estimatorDropout = dropout
        options.settings.covarianceRidge = 1e-3
        // Larger weights than the defaults so that every term shows in the gradient.
        options.settings.energyWeight = 0.5
        options.settings.covariancePenalty = 0.05
        return options
    }

    @Test("the step gradient equals central differences of the step loss, with and without dropout", arguments: [0.0, 0.5])
    func finiteDifferences(dropout: Double) throws {
        let runner = LocalShards(data: Self.data, plan: ShardPlan(rows: 60, shards: 3), threads: 1)
        let trainer = DAGMMTrainer(runner: runner, options: Self.options(dropout: dropout))
        let architecture = DAGMMArchitecture(inputs: 5, encoder: [4, 2], estimator: [3], components: 2)
        let parameters = architecture.initialParameters(seed: 3).map { $0 * 1.5 }
        let standardisation = Standardisation(mean: Array(repeating: 0, count: 5), scale: Array(repeating: 0.5, count: 5))
        let layout = trainer.layout
        func loss(_ p: [Double]) throws -> Double {
            try trainer.step(DAGMMState(architecture: architecture, parameters: p, standardisation: standardisation),
                             layout: layout, epoch: 0, step: 0, gradient: false)!.loss
        }
        let outcome = try trainer.step(DAGMMState(architecture: architecture, parameters: parameters, standardisation: standardisation),
                                       layout: layout, epoch: 0, step: 0)!
        #expect(outcome.gradient.count == architecture.parameterCount)
        #expect(outcome.energy != 0 && outcome.covariancePenalty > 0)
        var worst = 0.0
        for i in parameters.indices {
            let h = 1e-5
            var plus = parameters, minus = parameters
            plus[i] += h
            minus[i] -= h
            let numeric = (try loss(plus) - loss(minus)) / (2 * h)
            let error = abs(numeric - outcome.gradient[i]) / max(1e-3, abs(numeric) + abs(outcome.gradient[i]))
            worst = max(worst, error)
            #expect(error < 1e-5, "parameter \(i): analytic \(outcome.gradient[i]), numeric \(numeric)")
        }
        #expect(worst < 1e-5)
    }

    @Test("each part of the loss reaches the weights: the estimator's only through the energy and the penalty")
    func termsReachTheirWeights() throws {
        let runner = LocalShards(data: Self.data, plan: ShardPlan(rows: 60, shards: 3), threads: 1)
        var options = Self.options(dropout: 0)
        options.settings.energyWeight = 0
        options.settings.covariancePenalty = 0
        let trainer = DAGMMTrainer(runner: runner, options: options)
        let architecture = DAGMMArchitecture(inputs: 5, encoder: [4, 2], estimator: [3], components: 2)
        let state = DAGMMState(architecture: architecture, parameters: architecture.initialParameters(seed: 1),
                               standardisation: Standardisation(mean: Array(repeating: 0, count: 5), scale: Array(repeating: 1, count: 5)))
        let outcome = try trainer.step(state, layout: trainer.layout, epoch: 0, step: 0)!
        // Reconstruction alone: nothing flows into the estimation network.
        #expect(outcome.gradient[architecture.estimatorOffset...].allSatisfy { $0 == 0 })
        #expect(outcome.gradient[..<architecture.estimatorOffset].contains { $0 != 0 })
    }
}

/// The layer stack's backward pass against finite differences of a squared loss.
@Suite("Layer stacks")
struct LayerStackTests {
    @Test("gradients of every layer and the inputs match central differences, with per-layer activations and dropout")
    func finiteDifferences() {
        let stack = LayerStack(layers: [
            DenseLayer(inputs: 3, outputs: 4, activation: .tanh), DenseLayer(inputs: 4, outputs: 3, activation: .sigmoid),
            DenseLayer(inputs: 3, outputs: 2, activation: .linear),
        ])
        let rows = 5
        var generator = SeededGenerator(seed: 5)
        let inputs = (0..<(rows * 3)).map { _ in generator.nextNormal() }
        let targets = (0..<(rows * 2)).map { _ in generator.nextNormal() }
        let parameters = [0.0, 0, 0] + stack.initialParameters(seed: 2, stream: 0)
        let dropout = Dropout(rates: [0.3, 0.3], seed: 9, rowKeys: (0..<UInt64(rows)).map { $0 })
        func loss(_ p: [Double], _ x: [Double]) -> Double {
            let out = stack.forward(parameters: p, offset: 3, inputs: x, rows: rows, dropout: dropout).last
            return zip(out, targets).reduce(0) { $0 + 0.5 * ($1.0 - $1.1) * ($1.0 - $1.1) }
        }
        let pass = stack.forward(parameters: parameters, offset: 3, inputs: inputs, rows: rows, dropout: dropout)
        var gradient = [Double](repeating: 0, count: parameters.count)
        let inputErrors = stack.backward(parameters: parameters, offset: 3, inputs: inputs, pass: pass,
                                         outputErrors: zip(pass.last, targets).map { $0 - $1 }, gradient: &gradient)
        #expect(gradient[..<3].allSatisfy { $0 == 0 })
        let h = 1e-6
        for i in 3..<parameters.count {
            var plus = parameters, minus = parameters
            plus[i] += h; minus[i] -= h
            let numeric = (loss(plus, inputs) - loss(minus, inputs)) / (2 * h)
            #expect(abs(numeric - gradient[i]) < 1e-7 * max(1, abs(numeric)), "parameter \(i)")
        }
        for i in inputs.indices {
            var plus = inputs, minus = inputs
            plus[i] += h; minus[i] -= h
            let numeric = (loss(parameters, plus) - loss(parameters, minus)) / (2 * h)
            #expect(abs(numeric - inputErrors[i]) < 1e-7 * max(1, abs(numeric)), "input \(i)")
        }
    }
}

extension DAGMMGradientTests {
    @Test("weight decay and L1 add decay·w + l1·sign(w) to every layer's weights and nothing to the biases")
    func weightPenalties() throws {
        let runner = LocalShards(data: Self.data, plan: ShardPlan(rows: 60, shards: 3), threads: 1)
        let architecture = DAGMMArchitecture(inputs: 5, encoder: [4, 2], estimator: [3], components: 2)
        let state = DAGMMState(architecture: architecture, parameters: architecture.initialParameters(seed: 3),
                               standardisation: Standardisation(mean: Array(repeating: 0, count: 5), scale: Array(repeating: 0.5, count: 5)))
        let plain = DAGMMTrainer(runner: runner, options: Self.options(dropout: 0))
        var penalised = Self.options(dropout: 0)
        penalised.weightDecay = 0.01
        penalised.l1 = 0.002
        let penalisedTrainer = DAGMMTrainer(runner: runner, options: penalised)
        let base = try plain.step(state, layout: plain.layout, epoch: 0, step: 0)!.gradient
        let with = try penalisedTrainer.step(state, layout: penalisedTrainer.layout, epoch: 0, step: 0)!.gradient
        let weights = Set(architecture.weightRanges.flatMap { Array($0) })
        // Encoder 5·4 + 4·2, decoder 2·4 + 4·5, estimator 4·3 + 3·2 weights.
        #expect(weights.count == 20 + 8 + 8 + 20 + 12 + 6)
        for i in base.indices {
            let w = state.parameters[i]
            let expected = weights.contains(i) ? 0.01 * w + 0.002 * (w > 0 ? 1 : w < 0 ? -1 : 0) : 0
            #expect(abs(with[i] - base[i] - expected) <= 1e-14 * max(1, abs(base[i])), "parameter \(i)")
        }
    }
}
