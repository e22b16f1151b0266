import Datasets
import Engine
import Foundation
import Numerics

/// A variational fit's priors and posterior, kept with the model it implies.
public struct VariationalFit: Codable, Sendable, Equatable {
    /// The priors, resolved against the training data.
    public var prior: VariationalPrior
    /// The fitted posterior.
    public var posterior: VariationalPosterior

    /// Creates the pair, checking that the prior's shapes fit the posterior's.
    ///
    /// - Throws: `MixtureError.invalidModel` when they do not.
    public init(prior: VariationalPrior, posterior: VariationalPosterior) throws {
        guard prior.weightPriorType == posterior.weightPriorType, prior.mean.count == posterior.dimension,
              prior.covariance.count == posterior.covarianceType.covarianceCount(components: 1, dimension: posterior.dimension)
        else { throw MixtureError.invalidModel("the priors do not have the shapes of the variational posterior") }
        self.prior = prior
        self.posterior = posterior
    }

    /// The expected weight a component needs to count as effective: 0.01 (one row in a hundred),
    /// or half an equal share, 1/(2K), when K is above 50.
    ///
    /// Components the data do not support keep a weight near their prior's share of nothing,
    /// far below it; the ones they support hold their share of the rows.
    public static func effectiveThreshold(components: Int) -> Double { min(0.01, 0.5 / Double(components)) }

    /// How many components' expected weights reach ``effectiveThreshold(components:)``.
    public var effectiveComponents: Int {
        let threshold = Self.effectiveThreshold(components: posterior.components)
        return posterior.weights.filter { $0 >= threshold }.count
    }
}

/// Variational Bayesian EM over a `ShardRunner`: scikit-learn's `BayesianGaussianMixture`.
///
/// The E-step is the mixture job's `expectation` task on the posterior's
/// ``VariationalPosterior/expectationMixture(anchor:)``; only the update and the convergence
/// measure (the evidence lower bound, on its change between iterations as scikit-learn does)
/// differ from ``MixtureFitter``. Initialisation, restarts, seeds and checkpoints follow it.
///
/// ```swift
/// var options = FitOptions(components: 10)
/// let fitter = VariationalMixtureFitter(runner: runner, options: options, variational: VariationalOptions())
/// let model = try fitter.fit()
/// print(model.variational!.effectiveComponents)
/// ```
public struct VariationalMixtureFitter {
    /// Where shard tasks run.
    public let runner: ShardRunner
    /// Components, covariance type, iterations, tolerance (on the total lower bound), `reg_covar`, initialisation, restarts, seed.
    public let options: FitOptions
    /// The priors.
    public let variational: VariationalOptions
    /// Starts from this posterior instead of initialising (one start).
    public var initialPosterior: VariationalPosterior?

    /// Creates a fitter.
    public init(runner: ShardRunner, options: FitOptions, variational: VariationalOptions, initialPosterior: VariationalPosterior? = nil) {
        self.runner = runner
        self.options = options
        self.variational = variational
        self.initialPosterior = initialPosterior
    }

    /// Checks the options and the priors against the data before any work.
    ///
    /// - Throws: `MixtureError.invalidData` naming the option.
    public func validate() throws {
        try MixtureFitter(runner: runner, options: options).validate()
        guard options.initialParameters == nil else {
            throw MixtureError.invalidData("a variational fit starts from its initialisation, not from --init-model")
        }
        let d = runner.dimension
        if let mean = variational.meanPrior, mean.count != d {
            throw MixtureError.invalidData("--mean-prior has \(mean.count) numbers; the data has \(d) features")
        }
        if let covariance = variational.covariancePrior {
            try VariationalPrior.checkCovariance(covariance, covarianceType: options.covarianceType, dimension: d)
        }
        if let nu = variational.degreesOfFreedomPrior, !(nu > Double(d - 1)) {
            throw MixtureError.invalidData("--degrees-of-freedom-prior must be greater than \(d - 1), the feature count less one (got \(nu))")
        }
        guard runner.plan.rows >= 2 || (variational.covariancePrior != nil) else {
            throw MixtureError.invalidData("the default covariance prior needs at least 2 rows")
        }
        if let initialPosterior {
            guard initialPosterior.components == options.components, initialPosterior.dimension == d,
                  initialPosterior.covarianceType == options.covarianceType,
                  initialPosterior.weightPriorType == variational.weightPriorType
            else { throw MixtureError.invalidData("the initial posterior does not have the fit's shape") }
        }
    }

    /// The posterior of an earlier variational fit to go on from (scikit-learn's `warm_start`):
    /// `model` must be a variational model of this fit's components, features, covariance type
    /// and weight prior.
    ///
    /// The fit then runs one start from it, with the priors resolved from this fit's data and
    /// options as always (scikit-learn recomputes them on every fit): on the data of the
    /// earlier fit with the same options, `n` iterations from a model fitted for `m` give the
    /// model of `m + n` iterations.
    ///
    /// - Parameter file: names the model in messages.
    /// - Throws: ``ModelFileError`` naming `file` when the model does not fit.
    public func startingPosterior(of model: GaussianMixture, file: String) throws -> VariationalPosterior {
        guard let fit = model.variational else {
            throw ModelFileError(file: file, message: "is a mixture fitted by EM; a variational fit goes on from a variational model (gmm fit --variational)")
        }
        let posterior = fit.posterior, d = runner.dimension
        guard posterior.components == options.components, posterior.dimension == d, posterior.covarianceType == options.covarianceType else {
            throw ModelFileError(
                file: file,
                message: "has \(posterior.components) components (\(posterior.covarianceType.rawValue)) over \(posterior.dimension) features, "
                    + "but this fit asks for \(options.components) (\(options.covarianceType.rawValue)) over \(d); give matching --components and --covariance")
        }
        guard posterior.weightPriorType == variational.weightPriorType else {
            throw ModelFileError(
                file: file,
                message: "was fitted with a \(posterior.weightPriorType.rawValue) weight prior; this fit asks for \(variational.weightPriorType.rawValue)")
        }
        return posterior
    }

    /// The priors with scikit-learn's defaults filled in from the data.
    public func resolvePrior(summary: DataSummary) throws -> VariationalPrior {
        let d = runner.dimension, k = options.components, type = options.covarianceType
        let covariance: [Double]
        if let given = variational.covariancePrior {
            covariance = given
        } else {
            // One component holding every row: N, Σ(x − x̄) and the centred second moments.
            let shape: CovarianceType = type == .full || type == .tied ? .full : .diag
            let statistics = try foldStatistics(runner.run(.hardAssignmentStatistics(
                centers: [Double](repeating: 0, count: d), clusters: 1, anchor: summary.mean, covarianceType: shape)))
            let n = statistics.weightTotal, layout = FeatureLayout(covarianceType: shape, dimension: d)
            let offset = (0..<d).map { statistics.moments[layout.quadraticCount + $0] / n }
            var matrix = [Double](repeating: 0, count: shape == .full ? d * d : d)
            if shape == .full {
                var q = 0
                for i in 0..<d {
                    for j in i..<d {
                        let value = (statistics.moments[q] - n * offset[i] * offset[j]) / (n - 1)
                        matrix[i * d + j] = value
                        matrix[j * d + i] = value
                        q += 1
                    }
                }
            } else {
                for j in 0..<d { matrix[j] = (statistics.moments[j] - n * offset[j] * offset[j]) / (n - 1) }
            }
            covariance = type == .spherical ? [matrix.reduce(0, +) / Double(d)] : matrix
        }
        return try VariationalPrior(
            weightPriorType: variational.weightPriorType, weightConcentration: variational.weightConcentrationPrior ?? 1 / Double(k),
            meanPrecision: variational.meanPrecisionPrior ?? 1, mean: variational.meanPrior ?? summary.mean,
            degreesOfFreedom: variational.degreesOfFreedomPrior ?? Double(d), covariance: covariance, covarianceType: type)
    }

    /// Fits the posterior, reporting each iteration to `progress` (its `logLikelihood` is the lower bound).
    ///
    /// - Parameters:
    ///   - resuming: a checkpoint of an earlier run of this fit; the result is bit-identical to an uninterrupted run.
    ///   - checkpointEvery: when `checkpoint` is called (after updates, and always after each start's last).
    ///   - checkpoint: called with everything needed to continue.
    ///   - progress: called after every iteration.
    /// - Returns: a model whose parameters are the expected weights, the posterior means and
    ///   `covariances_`, with the posterior and priors in `variational`.
    /// - Throws: `MixtureError` for bad options, too few rows or a covariance that is not positive definite.
    public func fit(
        resuming: VariationalCheckpoint? = nil,
        checkpointEvery: CheckpointSchedule = .every(1),
        checkpoint: (VariationalCheckpoint) throws -> Void = { _ in },
        progress: (FitProgress) -> Void = { _ in }
    ) throws -> GaussianMixture {
        var timer = CheckpointTimer(checkpointEvery)
        try validate()
        if let resuming { try check(resuming) }
        let summary = try resuming?.summary ?? DataSummary.compute(runner)
        let prior = try resuming?.prior ?? resolvePrior(summary: summary)
        var best = resuming?.best
        let firstStart = resuming?.start ?? 0
        let starts = initialPosterior == nil ? options.restarts : 1
        for start in firstStart..<starts {
            var state: VariationalCheckpoint
            if let resuming, start == firstStart {
                state = resuming
            } else {
                let seed = options.seed &+ UInt64(start) &* 0x9E37_79B9
                let initial = try initialPosterior ?? VariationalPosterior.update(
                    from: Initialisation.statistics(runner, summary: summary, options: options, seed: seed),
                    anchor: summary.mean, prior: prior, regularization: options.regularization)
                state = VariationalCheckpoint(
                    options: options, variational: variational, rows: summary.rows, shards: runner.plan.count, summary: summary,
                    prior: prior, start: start, posterior: initial, history: [], finished: false, converged: false, best: best)
            }
            let result = try run(state, timer: &timer, checkpoint: checkpoint, progress: progress)
            if best == nil || result.lowerBound > best!.lowerBound { best = result }
        }
        return best!
    }

    /// Refuses a checkpoint of another fit.
    func check(_ saved: VariationalCheckpoint) throws {
        guard saved.options == options, saved.variational == variational else {
            let which = (saved.options != options ? OptionDifference.first(saved: saved.options, current: options)
                : OptionDifference.first(saved: saved.variational, current: variational)).map { ": \($0)" } ?? ""
            throw MixtureError.invalidData("the checkpoint was written by a fit with other options\(which)")
        }
        try runner.checkCheckpointShape(rows: saved.rows, shards: saved.shards, features: saved.summary.mean.count)
    }

    func run(
        _ initial: VariationalCheckpoint, timer: inout CheckpointTimer, checkpoint: (VariationalCheckpoint) throws -> Void,
        progress: (FitProgress) -> Void
    ) throws -> GaussianMixture {
        var state = initial
        let anchor = state.summary.mean
        var previous = state.history.last ?? -Double.infinity
        var model = try state.posterior.expectationMixture(anchor: anchor).model
        while !state.finished {
            let clock = ContinuousClock.now
            let statistics = try foldStatistics(runner.run(.expectation(model: model)))
            let posterior = try VariationalPosterior.update(
                from: statistics, anchor: anchor, prior: state.prior, regularization: options.regularization)
            // Fails here, naming the component, rather than at the next E-step.
            let next = try posterior.expectationMixture(anchor: anchor).model
            let lowerBound = posterior.lowerBound(statistics: statistics, model: model, current: next)
            let change = lowerBound - previous
            previous = lowerBound
            model = next
            state.posterior = posterior
            state.history.append(lowerBound)
            state.converged = abs(change) < options.tolerance
            state.finished = state.converged || state.history.count >= options.maxIterations
            try timer.writeIfDue(completed: state.history.count, last: state.finished) { try checkpoint(state) }
            let elapsed = ContinuousClock.now - clock
            progress(FitProgress(
                start: state.start, iteration: state.history.count, logLikelihood: lowerBound, change: change,
                seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18))
        }
        var result = GaussianMixture(
            parameters: try state.posterior.mixtureParameters, converged: state.converged, iterations: state.history.count,
            history: state.history, options: options,
            training: .init(rows: state.summary.rows, shards: runner.plan.count, keptStart: state.start))
        result.variational = try VariationalFit(prior: state.prior, posterior: state.posterior)
        return result
    }
}

/// Everything needed to continue a variational fit bit-identically after the update it was taken at.
///
/// Written by `gmm fit --variational` as `emfleet.variational-mixture.checkpoint` (see
/// ``write(to:)``) and read back by `--resume`.
public struct VariationalCheckpoint: Sendable, Equatable {
    /// The checkpoint file's format name.
    public static let format = "emfleet.variational-mixture.checkpoint"
    /// The version of the binary layout.
    public static let version: UInt32 = 1
    /// The fit's options.
    public var options: FitOptions
    /// The priors as asked for.
    public var variational: VariationalOptions
    /// Rows of the data.
    public var rows: Int
    /// Shards the rows are cut into.
    public var shards: Int
    /// The data summary (its mean is the anchor of every statistic).
    public var summary: DataSummary
    /// The priors resolved against the data.
    public var prior: VariationalPrior
    /// The start in progress, 0-based.
    public var start: Int
    /// The posterior after the last update (or the initial one).
    public var posterior: VariationalPosterior
    /// The lower bound after each update of this start so far.
    public var history: [Double]
    /// Whether this start has stopped.
    public var finished: Bool
    /// Whether this start converged.
    public var converged: Bool
    /// The best model of the starts completed before this one.
    public var best: GaussianMixture?
    /// The data file's fingerprint, for the caller to check (not used by the fitter).
    public var dataFingerprint: String?

    /// The state as a checkpoint payload: options, priors and the best earlier model as JSON
    /// documents (whose numbers read back to the same bits), everything else as bit patterns.
    public func payload() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var w = WireWriter(capacity: 4096 + 16 * (posterior.means.count + posterior.covariances.count))
        w.blob(Array(try encoder.encode(options)))
        w.blob(Array(try encoder.encode(variational)))
        w.int(rows)
        w.int(shards)
        w.int(summary.rows)
        w.doubles(summary.mean)
        w.doubles(summary.variance)
        w.string(prior.weightPriorType.rawValue)
        w.double(prior.weightConcentration)
        w.double(prior.meanPrecision)
        w.doubles(prior.mean)
        w.double(prior.degreesOfFreedom)
        w.doubles(prior.covariance)
        w.int(start)
        w.string(posterior.covarianceType.rawValue)
        w.int(posterior.components)
        w.doubles(posterior.weightConcentration)
        w.doubles(posterior.meanPrecision)
        w.doubles(posterior.means)
        w.doubles(posterior.degreesOfFreedom)
        w.doubles(posterior.covariances)
        w.doubles(history)
        w.bool(finished)
        w.bool(converged)
        w.bool(best != nil)
        if let best { w.blob(Array(try MixtureModelFile.encode(best))) }
        w.bool(dataFingerprint != nil)
        if let dataFingerprint { w.string(dataFingerprint) }
        return w.bytes
    }

    /// Reads the state back from a payload; `file` names it in errors.
    public init(payload: [UInt8], file: String) throws {
        var r = WireReader(payload, context: file)
        do {
            let decoder = JSONDecoder()
            options = try decoder.decode(FitOptions.self, from: Data(try r.blob("options")))
            variational = try decoder.decode(VariationalOptions.self, from: Data(try r.blob("priors")))
            rows = try r.int("rows", in: 0...Int.max)
            shards = try r.int("shards", in: 1...Int(Int32.max))
            let summaryRows = try r.int("summary rows", in: 0...Int.max)
            let mean = try r.doubles("column means")
            summary = DataSummary(rows: summaryRows, mean: mean, variance: try r.doubles("column variances", expected: mean.count))
            let d = mean.count
            let priorName = try r.string("weight prior type", maxBytes: 64)
            guard let priorType = WeightPriorType(rawValue: priorName) else { throw WireError("unknown weight prior type \"\(priorName)\"") }
            prior = try VariationalPrior(
                weightPriorType: priorType, weightConcentration: try r.double("weight concentration prior"),
                meanPrecision: try r.double("mean precision prior"), mean: try r.doubles("mean prior", expected: d),
                degreesOfFreedom: try r.double("degrees of freedom prior"), covariance: try r.doubles("covariance prior"),
                covarianceType: options.covarianceType)
            start = try r.int("start", in: 0...Int(Int32.max))
            let typeName = try r.string("covariance type", maxBytes: 64)
            guard let type = CovarianceType(rawValue: typeName) else { throw WireError("unknown covariance type \"\(typeName)\"") }
            let k = try r.int("components", in: 1...(1 << 16))
            posterior = try VariationalPosterior(
                weightPriorType: priorType, covarianceType: type, components: k, dimension: d,
                weightConcentration: try r.doubles("weight concentration"), meanPrecision: try r.doubles("mean precision"),
                means: try r.doubles("means"), degreesOfFreedom: try r.doubles("degrees of freedom"),
                covariances: try r.doubles("covariances"))
            history = try r.doubles("history")
            finished = try r.bool("finished")
            converged = try r.bool("converged")
            best = try r.bool("best present") ? try MixtureModelFile.decode(Data(try r.blob("best model")), source: file) : nil
            dataFingerprint = try r.bool("fingerprint present") ? try r.string("fingerprint") : nil
            try r.finish()
        } catch {
            throw CheckpointFile.damaged(file, error)
        }
    }

    /// Creates a checkpoint state.
    public init(
        options: FitOptions, variational: VariationalOptions, rows: Int, shards: Int, summary: DataSummary, prior: VariationalPrior,
        start: Int, posterior: VariationalPosterior, history: [Double], finished: Bool, converged: Bool, best: GaussianMixture?,
        dataFingerprint: String? = nil
    ) {
        self.options = options
        self.variational = variational
        self.rows = rows
        self.shards = shards
        self.summary = summary
        self.prior = prior
        self.start = start
        self.posterior = posterior
        self.history = history
        self.finished = finished
        self.converged = converged
        self.best = best
        self.dataFingerprint = dataFingerprint
    }

    /// Writes the checkpoint atomically.
    ///
    /// - Throws: `DatasetError` naming `path` when it cannot be written.
    public func write(to path: String) throws {
        try CheckpointFile.write(format: Self.format, version: Self.version, payload: payload(), to: path)
    }

    /// Reads a checkpoint written by ``write(to:)``.
    ///
    /// - Throws: ``CheckpointFileError`` naming `path` when it is missing, of another format or version, truncated or damaged.
    public static func read(from path: String) throws -> VariationalCheckpoint {
        try VariationalCheckpoint(payload: CheckpointFile.read(from: path, format: format, version: version), file: path)
    }
}
