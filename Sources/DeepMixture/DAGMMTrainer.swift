import Datasets
import Engine
import Foundation
import Mixture
import Neural
import Numerics
import Training

/// How a DAGMM is shaped and trained.
public struct DAGMMOptions: Codable, Equatable, Sendable {
    /// Mixture components.
    public var components: Int
    /// The encoder's widths; the last is the code's size (the decoder mirrors them).
    public var encoder = [60, 30, 10, 1]
    /// The estimation network's hidden widths.
    public var estimator = [10]
    /// The activation of the hidden layers.
    public var activation = Activation.tanh
    /// The loss's weights and the stabilisers.
    public var settings = DAGMMSettings()
    /// Passes over the rows (nil: enough for about ``defaultSteps`` steps, at least one).
    public var epochs: Int?
    /// The steps a training takes when the epochs are not given: measured on the ODDS data
    /// sets, fewer leave small data sets undertrained (docs/BENCHMARKS.md).
    public static let defaultSteps = 10_000
    /// Rows per step (nil: min(1024, rows)).
    public var batchSize: Int?
    /// Adam's learning rate.
    public var learningRate = 1e-4
    /// Adam's settings.
    public var optimizer = OptimizerSettings(kind: .adam)
    /// L2 weight decay: `weightDecay/2 · Σw²` over every layer's weights (not the biases) joins the
    /// loss's gradient.
    public var weightDecay = 0.0
    /// L1 penalty: `l1 · Σ|w|` over every layer's weights (not the biases) joins the loss's gradient.
    public var l1 = 0.0
    /// Seed of the weights, the data order and the dropout.
    public var seed: UInt64 = 0
    /// How the inputs are scaled before the compression network sees them.
    public var scaling = InputScaling.minMax

    /// The paper's compression and estimation networks, λ1 = 0.1, λ2 = 0.005, Adam at 1e-4.
    public init(components: Int) { self.components = components }

    /// The batch size for `rows` rows.
    public func batchSize(rows: Int) -> Int { batchSize ?? max(1, min(1024, rows)) }

    /// The epochs of a training whose epochs have `stepsPerEpoch` steps.
    public func epochs(stepsPerEpoch: Int) -> Int {
        epochs ?? max(1, (Self.defaultSteps + stepsPerEpoch - 1) / max(1, stepsPerEpoch))
    }

    /// Throws a message naming the option when a value is out of range.
    public func validate() throws {
        func fail(_ message: String) -> MixtureError { MixtureError.invalidData(message) }
        guard components >= 1 else { throw fail("--components must be at least 1") }
        guard !encoder.isEmpty, encoder.allSatisfy({ $0 >= 1 }), encoder.last! <= 256 else {
            throw fail("--encoder needs at least one width, each at least 1, and a code of at most 256")
        }
        guard estimator.allSatisfy({ $0 >= 1 }) else { throw fail("--estimator widths must be at least 1") }
        if let epochs, epochs < 1 { throw fail("--epochs must be at least 1") }
        if let batchSize, batchSize < 1 { throw fail("--batch-size must be at least 1") }
        guard learningRate > 0, learningRate.isFinite else { throw fail("--lr must be positive") }
        guard settings.energyWeight >= 0, settings.covariancePenalty >= 0 else { throw fail("--energy-weight and --covariance-penalty must not be negative") }
        guard settings.covarianceRidge >= 0, settings.covarianceRidge.isFinite else { throw fail("--covariance-ridge must not be negative") }
        guard (0..<1).contains(settings.estimatorDropout) else { throw fail("--dropout must be in [0, 1)") }
        guard weightDecay >= 0, weightDecay.isFinite, l1 >= 0, l1.isFinite else { throw fail("--weight-decay and --l1 must not be negative") }
    }
}

/// How a DAGMM scales its input columns, from the training rows.
public enum InputScaling: String, Codable, CaseIterable, Sendable {
    /// Each column's range onto [0, 1]: measured best on the ODDS data sets (docs/BENCHMARKS.md).
    case minMax = "minmax"
    /// Each column to mean 0 and standard deviation 1.
    case standard
    /// The raw values.
    case none
}

/// The loss of one epoch: means over its steps, weighted by their rows.
public struct DAGMMEpoch: Codable, Equatable, Sendable {
    /// 1-based.
    public var epoch: Int
    /// The whole loss.
    public var loss: Double
    /// Mean ‖x − x′‖².
    public var reconstruction: Double
    /// Mean energy (before its weight λ1).
    public var energy: Double
    /// Σ_k Σ_j 1/Σ̂_k,jj (before its weight λ2).
    public var covariancePenalty: Double
    /// Seconds the epoch took (not written to model files, so that a model's bytes do not depend
    /// on the machine or the worker count).
    public var seconds = 0.0

    enum CodingKeys: String, CodingKey {
        case epoch, loss, reconstruction, energy
        case covariancePenalty = "covariance_penalty"
    }
}

/// A trained DAGMM: the networks, the inputs' standardisation and the mixture fitted to every
/// training row's latent features.
public struct DAGMMModel: Codable, Equatable, Sendable {
    /// The networks' shape.
    public var architecture: DAGMMArchitecture
    /// The options it was trained with.
    public var options: DAGMMOptions
    /// Every weight and bias.
    public var parameters: [Double]
    /// The inputs' standardisation.
    public var standardisation: Standardisation
    /// The mixture of the training rows' latent features (memberships without dropout).
    public var mixture: LatentMixture
    /// The loss of every epoch.
    public var history: [DAGMMEpoch]
    /// Rows trained on.
    public var trainingRows: Int
    /// The training rows' energies at the quantiles 0, 0.001, …, 1 (for thresholds).
    public var trainingEnergyQuantiles: [Double]
    /// The names (or positions) of the training file's feature columns, for picking them from a
    /// file to score; nil when unknown.
    public var featureColumns: [String]?
    /// The training columns' means that filled missing values under `--missing mean`, for filling
    /// the gaps of rows to score; nil otherwise.
    public var imputationMeans: [Double]?

    /// The model as a task state.
    public var state: DAGMMState { DAGMMState(architecture: architecture, parameters: parameters, standardisation: standardisation) }

    /// The energy above which a fraction `1 − q` of the training rows lie (linear interpolation
    /// between the stored quantiles).
    public func threshold(quantile q: Double) -> Double {
        let position = min(max(q, 0), 1) * Double(trainingEnergyQuantiles.count - 1)
        let below = Int(position.rounded(.down)), above = min(below + 1, trainingEnergyQuantiles.count - 1)
        let fraction = position - Double(below)
        return trainingEnergyQuantiles[below] + fraction * (trainingEnergyQuantiles[above] - trainingEnergyQuantiles[below])
    }
}

/// One training step's outcome.
public struct DAGMMStep: Sendable {
    /// Rows in the batch.
    public var rows: Int
    /// Mean ‖x − x′‖².
    public var reconstruction: Double
    /// Mean energy.
    public var energy: Double
    /// Σ_k Σ_j 1/Σ̂_k,jj of the batch mixture.
    public var covariancePenalty: Double
    /// The whole loss.
    public var loss = 0.0
    /// The batch mixture.
    public var mixture: LatentMixture
    /// ∂loss/∂parameters (empty when not asked for).
    public var gradient: [Double]

    init(rows: Int, reconstruction: Double, energy: Double, covariancePenalty: Double, mixture: LatentMixture, gradient: [Double]) {
        self.rows = rows; self.reconstruction = reconstruction; self.energy = energy; self.covariancePenalty = covariancePenalty
        self.mixture = mixture; self.gradient = gradient
    }
}

/// Trains a DAGMM by minibatch steps over a ``ShardRunner``'s shards.
///
/// Each step is three rounds over the same batch (the rows and dropout of (seed, epoch, step)):
/// the batch's membership statistics, which give the batch mixture φ̂, μ̂, Σ̂; the energies'
/// moments at that mixture, which give the loss's derivatives with respect to the statistics
/// (``BatchMixture``); and the gradient, which each shard back-propagates through its rows.
/// Every sum is added by the shard tree, so the weights are the same bits for any number of
/// workers or threads. Adam then moves the weights.
public struct DAGMMTrainer {
    /// Where the shards are computed.
    public let runner: any ShardRunner
    /// How to train.
    public let options: DAGMMOptions

    /// Creates a trainer.
    public init(runner: any ShardRunner, options: DAGMMOptions) {
        self.runner = runner; self.options = options
    }

    /// The layout of the steps.
    public var layout: BatchLayout {
        let dropout = Array(repeating: options.settings.estimatorDropout, count: options.estimator.count)
        return BatchLayout(plan: runner.plan, batchSize: options.batchSize(rows: runner.plan.rows), validationFraction: 0, seed: options.seed,
                           dropout: dropout)
    }

    /// Steps in each epoch.
    public var stepsPerEpoch: Int { layout.stepsPerEpoch }

    /// Epochs the training takes.
    public var epochs: Int { options.epochs(stepsPerEpoch: stepsPerEpoch) }

    /// The networks for the runner's columns.
    public var architecture: DAGMMArchitecture {
        DAGMMArchitecture(inputs: runner.dimension, encoder: options.encoder, estimator: options.estimator, components: options.components,
                          activation: options.activation)
    }

    /// Throws a message naming the option when the options do not fit the data.
    public func validate() throws {
        try options.validate()
        let rows = runner.plan.rows
        guard rows >= 2 else { throw MixtureError.invalidData("a DAGMM needs at least 2 rows; the data has \(rows)") }
        guard options.components <= rows else {
            throw MixtureError.invalidData("--components \(options.components) is more than the \(rows) rows of the data")
        }
    }

    /// Trains and fits the final mixture; `progress` is called after every epoch.
    public func fit(progress: (DAGMMEpoch) throws -> Void = { _ in }) throws -> DAGMMModel {
        try validate()
        let d = runner.dimension, architecture = architecture
        let standardisation: Standardisation
        switch options.scaling {
        case .minMax:
            standardisation = try runner.run(ColumnRangeJob.self, ()).minMaxScaling
        case .standard:
            let summary = try DataSummary.compute(runner)
            standardisation = Standardisation(mean: summary.mean, scale: summary.variance.map { $0 > 0 ? 1 / $0.squareRoot() : 1 })
        case .none:
            standardisation = Standardisation(mean: Array(repeating: 0, count: d), scale: Array(repeating: 1, count: d))
        }
        var parameters = architecture.initialParameters(seed: options.seed)
        var optimizer = OptimizerState(parameterCount: parameters.count, settings: options.optimizer)
        let layout = layout, settings = options.settings
        var history: [DAGMMEpoch] = []
        for epoch in 0..<epochs {
            let clock = ContinuousClock.now
            var rows = 0, reconstruction = 0.0, energy = 0.0, penalty = 0.0
            for step in 0..<layout.stepsPerEpoch {
                let state = DAGMMState(architecture: architecture, parameters: parameters, standardisation: standardisation)
                guard let outcome = try self.step(state, layout: layout, epoch: epoch, step: step) else { continue }
                optimizer.update(parameters: &parameters, gradient: outcome.gradient, learningRate: options.learningRate, settings: options.optimizer)
                let n = Double(outcome.rows)
                rows += outcome.rows
                reconstruction += n * outcome.reconstruction
                energy += n * outcome.energy
                penalty += n * outcome.covariancePenalty
            }
            let total = Double(max(rows, 1))
            let record = DAGMMEpoch(
                epoch: epoch + 1,
                loss: (reconstruction + settings.energyWeight * energy + settings.covariancePenalty * penalty) / total,
                reconstruction: reconstruction / total, energy: energy / total, covariancePenalty: penalty / total,
                seconds: (ContinuousClock.now - clock).seconds)
            guard record.loss.isFinite else { throw MixtureError.invalidData("DAGMM training diverged in epoch \(epoch + 1): lower --lr") }
            history.append(record)
            try progress(record)
        }
        let state = DAGMMState(architecture: architecture, parameters: parameters, standardisation: standardisation)
        let mixture = try Self.mixture(of: state, runner: runner, ridge: settings.covarianceRidge)
        let energies = try Self.score(state, mixture: mixture, runner: runner).energies
        return DAGMMModel(
            architecture: architecture, options: options, parameters: parameters, standardisation: standardisation, mixture: mixture,
            history: history, trainingRows: runner.plan.rows, trainingEnergyQuantiles: Self.quantiles(energies, count: 1001))
    }

    /// One step's loss terms (means over its batch), its batch mixture and (when `gradient`) the
    /// gradient of its loss; nil when the step's batch is empty.
    public func step(_ state: DAGMMState, layout: BatchLayout, epoch: Int, step: Int, gradient: Bool = true) throws -> DAGMMStep? {
        let settings = options.settings, m = state.architecture.latentSize
        let statistics = try runner.latentMoments(.statistics(state, layout: layout, epoch: epoch, step: step))
        guard statistics.rows > 0 else { return nil }
        let mixture = BatchMixture.estimate(statistics, dimension: m, ridge: settings.covarianceRidge)
        guard PreparedLatentMixture(mixture) != nil else {
            throw MixtureError.invalidData("step \(step + 1) of epoch \(epoch + 1): a covariance of the batch mixture is not positive definite; "
                + "raise --covariance-ridge or --covariance-penalty")
        }
        let energies = try runner.latentMoments(.energies(state, layout: layout, epoch: epoch, step: step, mixture: mixture))
        let n = Double(statistics.rows)
        var outcome = DAGMMStep(
            rows: statistics.rows, reconstruction: statistics.reconstruction / n, energy: energies.energy / n,
            covariancePenalty: BatchMixture.inverseDiagonalSum(mixture), mixture: mixture, gradient: [])
        outcome.loss = outcome.reconstruction + settings.energyWeight * outcome.energy + settings.covariancePenalty * outcome.covariancePenalty
        guard gradient else { return outcome }
        let chain = BatchMixture.chain(statistics: statistics, energies: energies, mixture: mixture, settings: settings)
        guard case let .gradient(_, sum) = try runner.run(
            DAGMMJob.self, .gradient(state, layout: layout, epoch: epoch, step: step, mixture: mixture, chain: chain))
        else { preconditionFailure("a gradient task gives a gradient") }
        outcome.gradient = sum
        if options.weightDecay > 0 || options.l1 > 0 {
            let parameters = state.parameters, decay = options.weightDecay, l1 = options.l1
            for range in state.architecture.weightRanges {
                for i in range {
                    let w = parameters[i]
                    outcome.gradient[i] += decay * w + (w > 0 ? l1 : w < 0 ? -l1 : 0)
                }
            }
        }
        return outcome
    }

    /// The mixture of every row's latent features, from memberships without dropout.
    public static func mixture(of state: DAGMMState, runner: any ShardRunner, ridge: Double) throws -> LatentMixture {
        let statistics = try runner.latentMoments(.summarise(state))
        let mixture = BatchMixture.estimate(statistics, dimension: state.architecture.latentSize, ridge: ridge)
        guard PreparedLatentMixture(mixture) != nil else {
            throw MixtureError.invalidData("a covariance of the model's mixture is not positive definite; raise --covariance-ridge")
        }
        return mixture
    }

    /// Every row's energy and latent features (`latentSize` per row), in row order.
    public static func score(_ state: DAGMMState, mixture: LatentMixture, runner: any ShardRunner) throws -> (energies: [Double], latent: [Double]) {
        guard case let .rows(energies, latent) = try runner.run(DAGMMJob.self, .score(state, mixture: mixture)) else {
            preconditionFailure("a score task gives rows")
        }
        return (energies, latent)
    }

    /// `count` evenly spaced quantiles of `values` (linear interpolation, as numpy's default).
    static func quantiles(_ values: [Double], count: Int) -> [Double] {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return [] }
        return (0..<count).map { i in
            let position = Double(i) / Double(count - 1) * Double(sorted.count - 1)
            let below = Int(position.rounded(.down)), above = min(below + 1, sorted.count - 1)
            return sorted[below] + (position - Double(below)) * (sorted[above] - sorted[below])
        }
    }
}
