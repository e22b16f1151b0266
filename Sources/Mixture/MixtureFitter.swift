import Datasets
import Engine
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
    ///
    /// - Parameters:
    ///   - resuming: a checkpoint of an earlier run of this fit to continue from; the result is
    ///     bit-identical to an uninterrupted run.
    ///   - checkpointEvery: when `checkpoint` is called: after M-steps as this schedule says
    ///     (counting a start's iterations), and always after the last M-step of each start.
    ///   - checkpoint: called with everything needed to continue; its time counts in the
    ///     iteration's seconds.
    ///   - progress: called after every EM iteration.
    public func fit(
        resuming: FitCheckpoint? = nil,
        checkpointEvery: CheckpointSchedule = .every(1),
        checkpoint: (FitCheckpoint) throws -> Void = { _ in },
        progress: (FitProgress) -> Void = { _ in }
    ) throws -> GaussianMixture {
        var timer = CheckpointTimer(checkpointEvery)
        try validate()
        if let resuming { try check(resuming) }
        let summary = try resuming?.summary ?? DataSummary.compute(runner)
        var best = resuming?.best
        let firstStart = resuming?.start ?? 0
        for start in firstStart..<options.restarts {
            var state: FitCheckpoint
            if let resuming, start == firstStart {
                state = resuming
            } else {
                let seed = options.seed &+ UInt64(start) &* 0x9E37_79B9
                let initial = try options.initialParameters
                    ?? Initialisation.parameters(runner, summary: summary, options: options, seed: seed)
                state = FitCheckpoint(
                    options: options, rows: summary.rows, shards: runner.plan.count, summary: summary,
                    start: start, parameters: initial, history: [], finished: false, converged: false, best: best)
            }
            let result = try runEM(state, timer: &timer, checkpoint: checkpoint, progress: progress)
            if best == nil || result.lowerBound > best!.lowerBound { best = result }
            if options.initialParameters != nil { break }
        }
        return best!
    }

    /// Refuses a checkpoint of another fit.
    func check(_ saved: FitCheckpoint) throws {
        var mine = options, theirs = saved.options
        mine.initialParameters = nil
        theirs.initialParameters = nil
        guard saved.format == FitCheckpoint.format else {
            throw MixtureError.invalidData("not an emfleet fit checkpoint (format \"\(saved.format)\")")
        }
        guard mine == theirs else {
            let which = OptionDifference.first(saved: theirs, current: mine).map { ": \($0)" } ?? ""
            throw MixtureError.invalidData("the checkpoint was written by a fit with other options\(which)")
        }
        try runner.checkCheckpointShape(rows: saved.rows, shards: saved.shards, features: saved.summary.mean.count)
    }

    func runEM(
        _ initial: FitCheckpoint, timer: inout CheckpointTimer, checkpoint: (FitCheckpoint) throws -> Void,
        progress: (FitProgress) -> Void
    ) throws -> GaussianMixture {
        var state = initial
        let summary = state.summary
        let rows = summary.totalWeight  // Σ w, or the row count: the lower bound is Σ w log p / Σ w
        var previous = state.history.last ?? -Double.infinity
        while !state.finished {
            let clock = ContinuousClock.now
            let model = try PreparedMixture(state.parameters, anchor: summary.mean)
            let statistics = try foldStatistics(runner.run(.expectation(model: model)))
            let lowerBound = statistics.logLikelihoodSum / rows
            let parameters = try MaximizationStep.parameters(
                from: statistics, anchor: summary.mean, regularization: options.regularization)
            // Fail here, naming the component, rather than at the next E-step.
            _ = try PreparedMixture(parameters, anchor: summary.mean)
            let change = lowerBound - previous
            previous = lowerBound
            state.parameters = parameters
            state.history.append(lowerBound)
            state.converged = abs(change) < options.tolerance
            state.finished = state.converged || state.history.count >= options.maxIterations
            try timer.writeIfDue(completed: state.history.count, last: state.finished) { try checkpoint(state) }
            let elapsed = ContinuousClock.now - clock
            progress(FitProgress(
                start: state.start, iteration: state.history.count, logLikelihood: lowerBound, change: change,
                seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18))
        }
        return GaussianMixture(
            parameters: state.parameters, converged: state.converged, iterations: state.history.count,
            history: state.history, options: options,
            training: .init(rows: summary.rows, shards: runner.plan.count, keptStart: state.start))
    }
}

/// Everything needed to continue a fit bit-identically after the M-step it was taken at.
///
/// Written after M-steps by the `gmm fit` command (atomically, in the binary form of
/// `FitCheckpointFile.swift`, every double as its bit pattern; see `--checkpoint-every`) and
/// read back by `--resume`.
public struct FitCheckpoint: Codable, Sendable, Equatable {
    /// The value of ``format``.
    public static let format = "emfleet.gaussian-mixture.checkpoint"
    /// Always ``format``.
    public var format: String = FitCheckpoint.format
    /// The fit's options.
    public var options: FitOptions
    /// Rows of the data.
    public var rows: Int
    /// Shards the rows are cut into.
    public var shards: Int
    /// The data summary (its mean is the anchor of every statistic).
    public var summary: DataSummary
    /// The start (restart) in progress, 0-based.
    public var start: Int
    /// The parameters after the last M-step (or the initial ones).
    public var parameters: MixtureParameters
    /// The mean log-likelihood of each E-step of this start so far.
    public var history: [Double]
    /// Whether this start has stopped (converged or reached the iteration limit).
    public var finished: Bool
    /// Whether this start converged.
    public var converged: Bool
    /// The best model of the starts completed before this one.
    public var best: GaussianMixture?
    /// Who wrote it and over which data, for the caller to check (not used by the fitter).
    public var dataFingerprint: String?
}

extension ShardRunner {
    /// Refuses a checkpoint taken on data of another shape (every fitter's resume checks this).
    func checkCheckpointShape(rows: Int, shards: Int, features: Int) throws {
        guard rows == plan.rows, shards == plan.count, features == dimension else {
            throw MixtureError.invalidData(
                "the checkpoint is for \(rows) rows in \(shards) shards with \(features) features; "
                    + "this fit has \(plan.rows) rows in \(plan.count) shards with \(dimension)")
        }
    }
}
