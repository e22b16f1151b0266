import Datasets
import Foundation
import Numerics

/// Runs EM over a `ShardRunner`: initialisation, E-steps on the shards, M-steps on the folds.
///
/// The fitter is where the algorithm lives; the runner decides only where shards are computed.
public struct MixtureFitter {
    /// Where shard tasks run.
    public let runner: ShardRunner
    /// What to fit.
    public let options: FitOptions

    /// Creates a fitter.
    public init(runner: ShardRunner, options: FitOptions) {
        self.runner = runner
        self.options = options
    }

    /// Checks the options against the data shape.
    func validate() throws {
        let rows = runner.plan.rows
        guard options.components >= 1 else { throw MixtureError.invalidData("--components must be at least 1") }
        guard rows >= options.components else {
            throw MixtureError.invalidData(
                "the data has \(rows) rows, fewer than the \(options.components) components asked for")
        }
        guard options.restarts >= 1 else { throw MixtureError.invalidData("--n-init must be at least 1") }
        guard options.maxIterations >= 1 else { throw MixtureError.invalidData("--max-iter must be at least 1") }
        guard options.tolerance >= 0 else { throw MixtureError.invalidData("--tol must not be negative") }
        guard options.regularization >= 0 else { throw MixtureError.invalidData("--reg-covar must not be negative") }
        if let initial = options.initialParameters {
            guard initial.components == options.components, initial.dimension == runner.dimension,
                  initial.covarianceType == options.covarianceType
            else {
                throw MixtureError.invalidData(
                    "the initial model has \(initial.components) \(initial.covarianceType.rawValue) components in \(initial.dimension) dimensions; "
                        + "the fit asks for \(options.components) \(options.covarianceType.rawValue) components in \(runner.dimension)")
            }
        }
    }

    /// Fits the mixture, reporting each iteration to `progress`.
    public func fit(progress: (FitProgress) -> Void = { _ in }) throws -> GaussianMixture {
        try validate()
        let summary = try DataSummary.compute(runner)
        var best: GaussianMixture?
        for start in 0..<options.restarts {
            let seed = options.seed &+ UInt64(start) &* 0x9E37_79B9
            let initial = try options.initialParameters
                ?? Initialisation.parameters(runner, summary: summary, options: options, seed: seed)
            let result = try runEM(from: initial, summary: summary, start: start, progress: progress)
            if best == nil || result.lowerBound > best!.lowerBound { best = result }
            if options.initialParameters != nil { break }
        }
        return best!
    }

    func runEM(
        from initial: MixtureParameters, summary: DataSummary, start: Int, progress: (FitProgress) -> Void
    ) throws -> GaussianMixture {
        var parameters = initial
        var history = [Double]()
        var previous = -Double.infinity
        var converged = false
        let rows = Double(summary.rows)
        for iteration in 1...options.maxIterations {
            let clock = ContinuousClock.now
            let model = try PreparedMixture(parameters, anchor: summary.mean)
            let statistics = try foldStatistics(runner.run(.expectation(model: model)))
            let lowerBound = statistics.logLikelihoodSum / rows
            parameters = try MaximizationStep.parameters(
                from: statistics, anchor: summary.mean, regularization: options.regularization)
            // Fail here, naming the component, rather than at the next E-step.
            _ = try PreparedMixture(parameters, anchor: summary.mean)
            history.append(lowerBound)
            let change = lowerBound - previous
            previous = lowerBound
            let elapsed = ContinuousClock.now - clock
            progress(FitProgress(
                start: start, iteration: iteration, logLikelihood: lowerBound, change: change,
                seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18))
            if abs(change) < options.tolerance {
                converged = true
                break
            }
        }
        return GaussianMixture(
            parameters: parameters, converged: converged, iterations: history.count, history: history,
            options: options,
            training: .init(rows: summary.rows, shards: runner.plan.count, keptStart: start))
    }
}
