import Datasets
import Engine
import Foundation
import Numerics

/// The settings of stepwise (online) EM that batch EM does not have.
public struct OnlineOptions: Codable, Sendable, Equatable {
    /// Rows per minibatch (about: a pass has ⌈N / batchSize⌉ steps, spread over the shards).
    public var batchSize = 10_000
    /// α in the step size η_k = (k + 2)^(−α); in (0.5, 1].
    public var stepDecay = 0.6
    /// Steps that only accumulate statistics before the first M-step; nil: enough steps to
    /// have seen 10·K·D rows.
    public var warmUpSteps: Int? = nil
    /// How many times the data may be read, at most.
    public var passes = 1

    /// Default settings.
    public init() {}

    /// The warm-up for `components` components in `dimension` dimensions.
    public func warmUp(components: Int, dimension: Int) -> Int {
        warmUpSteps ?? max(1, (10 * components * dimension + batchSize - 1) / batchSize)
    }
}

/// Stepwise EM (Cappé and Moulines 2009; Liang and Klein 2009) over a `ShardRunner`.
///
/// Each step computes one minibatch's expected sufficient statistics ŝ on the shards (see
/// ``Minibatch``), scaled to the whole data's weight, and moves the running statistics by
/// s ← (1 − η_k)·s + η_k·ŝ with η_k = (k + 2)^(−α); after the warm-up every step runs the M-step of
/// batch EM on s (the same `reg_covar`). Every statistic is about the data mean, fixed for the
/// fit, so the running averages stay consistent. A pass reads each row once; the fit stops after
/// `passes` passes, or earlier when a pass's mean minibatch log-likelihood (under the parameters
/// each minibatch met) changes by less than `tol` from the pass before. The model's reported
/// log-likelihood is then one scoring pass over all rows.
public struct OnlineMixtureFitter {
    /// Where shard tasks run.
    public let runner: ShardRunner
    /// What to fit (components, covariance type, initialisation, `tol`, `reg_covar`, seed).
    public let options: FitOptions
    /// The stepwise settings.
    public let online: OnlineOptions

    /// Creates a fitter.
    public init(runner: ShardRunner, options: FitOptions, online: OnlineOptions) {
        self.runner = runner
        self.options = options
        self.online = online
    }

    /// Checks the options against the data shape, before any work.
    public func validate() throws {
        try MixtureFitter(runner: runner, options: options).validate()
        guard online.batchSize >= 1 else { throw MixtureError.invalidData("--batch-size must be at least 1") }
        guard online.stepDecay > 0.5, online.stepDecay <= 1 else {
            throw MixtureError.invalidData("--step-decay must be in (0.5, 1] (the step sizes must sum to infinity and their squares not); got \(online.stepDecay)")
        }
        guard online.passes >= 1 else { throw MixtureError.invalidData("--passes must be at least 1") }
        if let warmUp = online.warmUpSteps, warmUp < 1 { throw MixtureError.invalidData("--warm-up must be at least 1 step") }
        guard options.restarts == 1 else { throw MixtureError.invalidData("--online fits one start: --n-init must be 1") }
    }

    /// Minibatches per pass.
    public var stepsPerPass: Int { max(1, (runner.plan.rows + online.batchSize - 1) / online.batchSize) }

    /// Fits the mixture; `progress` hears of every step (`iteration` counts steps from 1,
    /// `logLikelihood` is the minibatch's mean log-likelihood under the parameters it met).
    public func fit(progress: (FitProgress) -> Void = { _ in }) throws -> GaussianMixture {
        try validate()
        let summary = try DataSummary.compute(runner)
        let anchor = summary.mean
        var parameters = try options.initialParameters
            ?? Initialisation.parameters(runner, summary: summary, options: options, seed: options.seed)
        let steps = stepsPerPass
        let warmUp = online.warmUp(components: options.components, dimension: runner.dimension)
        var running: MixtureStatistics? = nil
        var step = 0
        var history = [Double]()
        var converged = false
        passes: for pass in 0..<online.passes {
            var passLogLikelihood = 0.0, passWeight = 0.0
            for position in 0..<steps {
                let clock = ContinuousClock.now
                let model = try PreparedMixture(parameters, anchor: anchor)
                let batch = try foldStatistics(runner.run(.minibatchExpectation(
                    model: model, batch: Minibatch(seed: options.seed, pass: pass, step: position, steps: steps))))
                guard batch.weightTotal > 0 else { continue }  // only zero-weight rows in this minibatch
                passLogLikelihood += batch.logLikelihoodSum
                passWeight += batch.weightTotal
                let scaled = Self.scaled(batch, by: summary.totalWeight / batch.weightTotal)
                let rate = pow(Double(step + 2), -online.stepDecay)
                running = running.map { Self.interpolated($0, scaled, rate: rate) } ?? scaled
                step += 1
                if step >= warmUp {
                    parameters = try MaximizationStep.parameters(from: running!, anchor: anchor, regularization: options.regularization)
                    _ = try PreparedMixture(parameters, anchor: anchor)  // fail here, naming the component
                }
                let elapsed = ContinuousClock.now - clock
                progress(FitProgress(
                    start: pass, iteration: step, logLikelihood: batch.logLikelihoodSum / batch.weightTotal, change: .nan,
                    seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18))
            }
            let mean = passLogLikelihood / max(passWeight, .leastNormalMagnitude)
            if let last = history.last, abs(mean - last) < options.tolerance { converged = true }
            history.append(mean)
            if converged { break passes }
        }
        if step < warmUp, let running {
            // Fewer steps than the warm-up: the M-step still comes once, on what was seen.
            parameters = try MaximizationStep.parameters(from: running, anchor: anchor, regularization: options.regularization)
        }
        var model = GaussianMixture(
            parameters: parameters, converged: converged, iterations: step, history: history, options: options,
            training: .init(rows: summary.rows, shards: runner.plan.count, keptStart: 0))
        guard case let .scores(sum, _, weight, _) = try runner.run(.score(model: try PreparedMixture(parameters, anchor: anchor), output: .none)) else {
            throw MixtureError.invalidData("the shards returned no scores")
        }
        model.lowerBound = sum / weight
        return model
    }

    /// `statistics` with every sum times `factor` (the row count kept).
    static func scaled(_ statistics: MixtureStatistics, by factor: Double) -> MixtureStatistics {
        var result = statistics
        result.weightTotal *= factor
        result.logLikelihoodSum *= factor
        for c in result.responsibilitySums.indices { result.responsibilitySums[c] *= factor }
        result.moments.withUnsafeMutableBufferPointer { moments in
            for i in moments.indices { moments[i] *= factor }
        }
        return result
    }

    /// (1 − rate)·old + rate·new, sum by sum.
    static func interpolated(_ old: MixtureStatistics, _ new: MixtureStatistics, rate: Double) -> MixtureStatistics {
        var result = old
        let keep = 1 - rate
        result.rows += new.rows
        result.weightTotal = keep * old.weightTotal + rate * new.weightTotal
        result.logLikelihoodSum = keep * old.logLikelihoodSum + rate * new.logLikelihoodSum
        for c in result.responsibilitySums.indices {
            result.responsibilitySums[c] = keep * old.responsibilitySums[c] + rate * new.responsibilitySums[c]
        }
        result.moments.withUnsafeMutableBufferPointer { moments in
            new.moments.withUnsafeBufferPointer { fresh in
                for i in moments.indices { moments[i] = keep * moments[i] + rate * fresh[i] }
            }
        }
        return result
    }
}
