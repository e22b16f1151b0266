import Datasets
import Engine
import Foundation
import Numerics

/// A fitted Gaussian mixture: its parameters and how the fit went.
///
/// ```swift
/// var options = FitOptions(components: 3)
/// options.seed = 7
/// let model = try GaussianMixture.fit(data, options: options)
/// let labels = try model.predict(data)
/// ```
public struct GaussianMixture: Codable, Sendable, Equatable {
    /// Weights, means and covariances.
    public var parameters: MixtureParameters
    /// Whether the last start stopped because the change fell below the tolerance.
    public var converged: Bool
    /// EM iterations run by the kept start.
    public var iterations: Int
    /// Mean log-likelihood per iteration of the kept start, each under the parameters before that iteration's M-step (scikit-learn's `lower_bounds_`).
    public var logLikelihoodHistory: [Double]
    /// The kept start's final lower bound (the last entry of the history).
    public var lowerBound: Double
    /// The options that produced the model.
    public var options: FitOptions?
    /// Rows and shards the model was fitted on.
    public var training: TrainingFacts?
    /// The variational posterior and its priors when the model was fitted by variational
    /// Bayes (`parameters` are then its expected weights, means and `covariances_`); nil for EM.
    public var variational: VariationalFit?

    /// Rows, shards and the kept start of a fit.
    public struct TrainingFacts: Codable, Sendable, Equatable {
        /// Training rows.
        public var rows: Int
        /// Shards the rows were cut into.
        public var shards: Int
        /// Which of the `restarts` starts was kept (0-based).
        public var keptStart: Int
        /// The data's feature columns, in the model's feature order: header names, or 0-based
        /// positions for files without names; absent in files of earlier emfleet versions.
        public var featureColumns: [String]?
        /// With `--missing mean`: each feature's mean over the training rows, which filled the
        /// training data's gaps and fills those of the rows the model is applied to; absent otherwise.
        public var imputationMeans: [Double]?

        /// Facts about a fit's data.
        public init(rows: Int, shards: Int, keptStart: Int, featureColumns: [String]? = nil) {
            self.rows = rows
            self.shards = shards
            self.keptStart = keptStart
            self.featureColumns = featureColumns
        }

        enum CodingKeys: String, CodingKey {
            case rows, shards
            case keptStart = "kept_start"
            case featureColumns = "feature_columns"
            case imputationMeans = "imputation_means"
        }
    }

    /// Wraps parameters as a model (for example an imported or hand-made one).
    public init(parameters: MixtureParameters) {
        self.parameters = parameters
        converged = false
        iterations = 0
        logLikelihoodHistory = []
        lowerBound = -.infinity
        options = nil
        training = nil
        variational = nil
    }

    init(parameters: MixtureParameters, converged: Bool, iterations: Int, history: [Double], options: FitOptions, training: TrainingFacts) {
        self.parameters = parameters
        self.converged = converged
        self.iterations = iterations
        self.logLikelihoodHistory = history
        self.lowerBound = history.last ?? -.infinity
        self.options = options
        self.training = training
        variational = nil
    }

    // MARK: - Fitting

    /// Fits a mixture to in-memory data with `threads` threads.
    ///
    /// - Parameters:
    ///   - data: The rows to fit.
    ///   - options: Components, covariance shape, initialisation and stopping rules.
    ///   - shards: How many shards to cut the rows into (default: `ShardPlan.defaultShardCount`). The model depends on this, never on `threads`.
    ///   - threads: Threads to use (default: all cores).
    ///   - progress: Called after every EM iteration.
    /// - Throws: `MixtureError` for too few rows or a covariance that is not positive definite.
    public static func fit(
        _ data: FeatureMatrix, options: FitOptions, shards: Int? = nil, threads: Int? = nil,
        progress: (FitProgress) -> Void = { _ in }
    ) throws -> GaussianMixture {
        let plan = ShardPlan(rows: data.rows, shards: shards ?? ShardPlan.defaultShardCount(rows: data.rows))
        let runner = LocalShards(data: data, plan: plan, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        return try MixtureFitter(runner: runner, options: options).fit(progress: progress)
    }

    // MARK: - Applying the model

    /// The model prepared for evaluation: the mixture itself, or for a variational model the
    /// posterior's E-step mixture (as scikit-learn's `predict` and `score_samples` use).
    public func prepared() throws -> PreparedMixture { try preparedWithNormalizer().model }

    /// The prepared model and what to add to each row's log-likelihood under it (0 for EM;
    /// the log-normaliser of the variational log-weights).
    func preparedWithNormalizer() throws -> (model: PreparedMixture, logNormalizer: Double) {
        if let variational { return try variational.posterior.expectationMixture() }
        return (try PreparedMixture(parameters), 0)
    }

    func evaluate(_ data: FeatureMatrix, output: RowOutput, threads: Int?) throws -> (sum: Double, perRow: [Double], weight: Double) {
        guard data.rows > 0 else { throw MixtureError.invalidData("the data has no rows") }
        let runner = LocalShards(
            data: data, plan: ShardPlan(rows: data.rows, shards: ShardPlan.defaultShardCount(rows: data.rows)),
            threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
        return try evaluate(on: runner, output: output)
    }

    /// Scores every shard of `runner`: the total log-likelihood (Σ w log p with sample weights),
    /// the total weight (the row count without weights) and the per-row `output` (labels as
    /// whole numbers, K probabilities per row, or log-likelihoods, never weighted), in row order.
    ///
    /// - Throws: `MixtureError` when the data's feature count differs from the model's.
    public func evaluate(on runner: ShardRunner, output: RowOutput) throws -> (sum: Double, perRow: [Double], weight: Double) {
        guard runner.dimension == parameters.dimension else {
            throw MixtureError.invalidData(
                "the data has \(runner.dimension) features but the model was fitted on \(parameters.dimension)")
        }
        let (model, logNormalizer) = try preparedWithNormalizer()
        guard case let .scores(sum, _, weight, perRow) = try runner.run(.score(model: model, output: output)) else {
            throw MixtureError.invalidData("the shards returned no scores")
        }
        guard logNormalizer != 0 else { return (sum, perRow, weight) }
        // The variational log-normaliser is added to every row's log-likelihood (weighted by its row's weight).
        return (sum + weight * logNormalizer, output == .logLikelihoods ? perRow.map { $0 + logNormalizer } : perRow, weight)
    }

    /// The most probable component of each row.
    public func predict(_ data: FeatureMatrix, threads: Int? = nil) throws -> [Int] {
        try evaluate(data, output: .labels, threads: threads).perRow.map { Int($0) }
    }

    /// Posterior probabilities, N×K row-major.
    public func predictProbabilities(_ data: FeatureMatrix, threads: Int? = nil) throws -> [Double] {
        try evaluate(data, output: .probabilities, threads: threads).perRow
    }

    /// The log-likelihood of each row (scikit-learn's `score_samples`).
    public func scoreSamples(_ data: FeatureMatrix, threads: Int? = nil) throws -> [Double] {
        try evaluate(data, output: .logLikelihoods, threads: threads).perRow
    }

    /// The mean log-likelihood per row (scikit-learn's `score`).
    public func score(_ data: FeatureMatrix, threads: Int? = nil) throws -> Double {
        try evaluate(data, output: .none, threads: threads).sum / Double(data.rows)
    }

    /// Bayesian information criterion on `data`: `−2·N·score + p·ln N`.
    public func bic(_ data: FeatureMatrix, threads: Int? = nil) throws -> Double {
        try criteria(data, threads: threads).bic
    }

    /// Akaike information criterion on `data`: `−2·N·score + 2p`.
    public func aic(_ data: FeatureMatrix, threads: Int? = nil) throws -> Double {
        try criteria(data, threads: threads).aic
    }

    /// BIC and AIC on `data`.
    public func criteria(_ data: FeatureMatrix, threads: Int? = nil) throws -> InformationCriteria {
        InformationCriteria(logLikelihoodSum: try evaluate(data, output: .none, threads: threads).sum, rows: data.rows, freeParameters: freeParameters)
    }

    /// Free parameters counted by BIC and AIC.
    public var freeParameters: Int {
        parameters.covarianceType.freeParameters(components: parameters.components, dimension: parameters.dimension)
    }

    /// Draws `count` rows from the mixture: component counts from a seeded multinomial, then
    /// `μ + L·z` per row with `L` the covariance's Cholesky factor. Rows come grouped by component.
    public func sample(count: Int, seed: UInt64) throws -> (features: FeatureMatrix, labels: [Int]) {
        let k = parameters.components, d = parameters.dimension
        var generator = SeededGenerator(seed: seed)
        var perComponent = [Int](repeating: 0, count: k)
        var cumulative = [Double](), running = 0.0
        for w in parameters.weights { running += w; cumulative.append(running) }
        for _ in 0..<count {
            let u = generator.nextUniform() * running
            perComponent[cumulative.firstIndex(where: { u < $0 }) ?? (k - 1)] += 1
        }
        var values = [Double](), labels = [Int]()
        values.reserveCapacity(count * d)
        for c in 0..<k where perComponent[c] > 0 {
            let factor = try covarianceFactor(component: c)
            var z = [Double](repeating: 0, count: d)
            for _ in 0..<perComponent[c] {
                for j in 0..<d { z[j] = generator.nextNormal() }
                for i in 0..<d {
                    var value = parameters.means[c * d + i]
                    for j in 0...i { value += factor[i * d + j] * z[j] }
                    values.append(value)
                }
                labels.append(c)
            }
        }
        return (FeatureMatrix(rows: count, columns: d, values: values), labels)
    }

    /// A lower-triangular factor `L` of component `c`'s covariance (`L·Lᵀ = Σ_c`).
    func covarianceFactor(component c: Int) throws -> [Double] {
        let d = parameters.dimension
        var covariance = [Double](repeating: 0, count: d * d)
        switch parameters.covarianceType {
        case .full: covariance = Array(parameters.covariances[(c * d * d)..<((c + 1) * d * d)])
        case .tied: covariance = parameters.covariances
        case .diag: for j in 0..<d { covariance[j * d + j] = parameters.covariances[c * d + j] }
        case .spherical: for j in 0..<d { covariance[j * d + j] = parameters.covariances[c] }
        }
        do {
            return try Cholesky.lowerFactor(of: covariance, order: d)
        } catch {
            throw MixtureError.notPositiveDefinite(
                component: parameters.covarianceType == .tied ? nil : c, covarianceType: parameters.covarianceType)
        }
    }
}

/// One EM iteration's progress.
public struct FitProgress: Sendable {
    /// Which start (0-based) of `restarts`.
    public var start: Int
    /// Iteration number, from 1.
    public var iteration: Int
    /// Mean log-likelihood per row under the parameters entering this iteration.
    public var logLikelihood: Double
    /// Change from the previous iteration (infinite at the first).
    public var change: Double
    /// Seconds this iteration took.
    public var seconds: Double
}
