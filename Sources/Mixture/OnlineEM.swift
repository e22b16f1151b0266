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
    ///
    /// - Parameters:
    ///   - resuming: a checkpoint of an earlier run of this fit; the result is bit-identical to an uninterrupted run.
    ///   - checkpointEvery: when `checkpoint` is called, counting steps (and always after the last).
    public func fit(
        resuming: OnlineCheckpoint? = nil,
        checkpointEvery: CheckpointSchedule = .auto,
        checkpoint: (OnlineCheckpoint) throws -> Void = { _ in },
        progress: (FitProgress) -> Void = { _ in }
    ) throws -> GaussianMixture {
        try validate()
        var timer = CheckpointTimer(checkpointEvery)
        var state: OnlineCheckpoint
        if let resuming {
            try check(resuming)
            state = resuming
        } else {
            let summary = try DataSummary.compute(runner)
            let initial = try options.initialParameters
                ?? Initialisation.parameters(runner, summary: summary, options: options, seed: options.seed)
            state = OnlineCheckpoint(options: options, online: online, rows: summary.rows, shards: runner.plan.count, summary: summary,
                                     parameters: initial)
        }
        let anchor = state.summary.mean
        let steps = stepsPerPass
        let warmUp = online.warmUp(components: options.components, dimension: runner.dimension)
        while !state.finished {
            let clock = ContinuousClock.now
            let model = try PreparedMixture(state.parameters, anchor: anchor)
            let batch = try foldStatistics(runner.run(.minibatchExpectation(
                model: model, batch: Minibatch(seed: options.seed, pass: state.pass, step: state.position, steps: steps))))
            // A minibatch of zero-weight rows only moves nothing.
            if batch.weightTotal > 0 {
                state.passLogLikelihood += batch.logLikelihoodSum
                state.passWeight += batch.weightTotal
                let scaled = Self.scaled(batch, by: state.summary.totalWeight / batch.weightTotal)
                let rate = pow(Double(state.step + 2), -online.stepDecay)
                state.running = state.running.map { Self.interpolated($0, scaled, rate: rate) } ?? scaled
                state.step += 1
                if state.step >= warmUp {
                    state.parameters = try MaximizationStep.parameters(from: state.running!, anchor: anchor, regularization: options.regularization)
                    _ = try PreparedMixture(state.parameters, anchor: anchor)  // fail here, naming the component
                }
            }
            state.position += 1
            if state.position == steps {
                let mean = state.passLogLikelihood / max(state.passWeight, .leastNormalMagnitude)
                if let last = state.history.last, abs(mean - last) < options.tolerance { state.converged = true }
                state.history.append(mean)
                state.pass += 1
                state.position = 0
                state.passLogLikelihood = 0
                state.passWeight = 0
                state.finished = state.converged || state.pass == online.passes
                if state.finished, state.step < warmUp, let running = state.running {
                    // Fewer steps than the warm-up: the M-step still comes once, on what was seen.
                    state.parameters = try MaximizationStep.parameters(from: running, anchor: anchor, regularization: options.regularization)
                }
            }
            let done = state.pass * steps + state.position
            try timer.writeIfDue(completed: done, last: state.finished) { try checkpoint(state) }
            let elapsed = ContinuousClock.now - clock
            progress(FitProgress(
                start: state.pass - (state.position == 0 ? 1 : 0), iteration: done,
                logLikelihood: batch.weightTotal > 0 ? batch.logLikelihoodSum / batch.weightTotal : .nan, change: .nan,
                seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18))
        }
        var model = GaussianMixture(
            parameters: state.parameters, converged: state.converged, iterations: state.step, history: state.history, options: options,
            training: .init(rows: state.summary.rows, shards: runner.plan.count, keptStart: 0))
        guard case let .scores(sum, _, weight, _) = try runner.run(.score(model: try PreparedMixture(state.parameters, anchor: anchor), output: .none)) else {
            throw MixtureError.invalidData("the shards returned no scores")
        }
        model.lowerBound = sum / weight
        return model
    }

    /// Refuses a checkpoint of another fit, naming what differs.
    func check(_ saved: OnlineCheckpoint) throws {
        var mine = options, theirs = saved.options
        mine.initialParameters = nil
        theirs.initialParameters = nil
        guard mine == theirs else { throw MixtureError.invalidData("the checkpoint was written by a fit with other options") }
        guard saved.online == online else {
            throw MixtureError.invalidData("the checkpoint was written by a stepwise fit with other --batch-size, --step-decay, --warm-up or --passes")
        }
        try runner.checkCheckpointShape(rows: saved.rows, shards: saved.shards, features: saved.summary.mean.count)
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

/// Everything needed to continue a stepwise fit bit-identically after the step it was taken at.
///
/// Written by `gmm fit --online` as `emfleet.online-mixture.checkpoint` and read back by `--resume`.
public struct OnlineCheckpoint: Sendable, Equatable {
    /// The checkpoint file's format name.
    public static let format = "emfleet.online-mixture.checkpoint"
    /// The version of the binary layout.
    public static let version: UInt32 = 1
    /// The fit's options.
    public var options: FitOptions
    /// The stepwise settings.
    public var online: OnlineOptions
    /// Rows of the data.
    public var rows: Int
    /// Shards the rows are cut into.
    public var shards: Int
    /// The data summary (its mean is the anchor of every statistic).
    public var summary: DataSummary
    /// The parameters after the last M-step (or the initial ones).
    public var parameters: MixtureParameters
    /// The running statistics (nil before the first minibatch).
    public var running: MixtureStatistics? = nil
    /// The pass in progress, and the next minibatch in it.
    public var pass = 0
    public var position = 0
    /// Minibatches that moved the running statistics so far (k in η_k).
    public var step = 0
    /// The pass in progress: Σ of its minibatches' log-likelihoods and weights so far.
    public var passLogLikelihood = 0.0
    public var passWeight = 0.0
    /// Each finished pass's mean minibatch log-likelihood.
    public var history: [Double] = []
    /// Whether the fit has stopped, and whether by `tol`.
    public var finished = false
    public var converged = false
    /// The data file's fingerprint, for the caller to check (not used by the fitter).
    public var dataFingerprint: String?

    /// Creates the state of a fit about to take its first step.
    public init(options: FitOptions, online: OnlineOptions, rows: Int, shards: Int, summary: DataSummary, parameters: MixtureParameters) {
        self.options = options
        self.online = online
        self.rows = rows
        self.shards = shards
        self.summary = summary
        self.parameters = parameters
    }

    /// The state as a checkpoint payload: the options as JSON, every number as its bit pattern.
    public func payload() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var w = WireWriter(capacity: 4096 + 16 * (parameters.means.count + parameters.covariances.count))
        w.blob(Array(try encoder.encode(options)))
        w.blob(Array(try encoder.encode(online)))
        w.int(rows)
        w.int(shards)
        w.int(summary.rows)
        w.doubles(summary.mean)
        w.doubles(summary.variance)
        w.bool(summary.weightTotal != nil)
        if let weightTotal = summary.weightTotal { w.double(weightTotal) }
        FitCheckpoint.write(parameters, to: &w)
        w.bool(running != nil)
        if let running { w.blob(running.encoded()) }
        w.int(pass)
        w.int(position)
        w.int(step)
        w.double(passLogLikelihood)
        w.double(passWeight)
        w.doubles(history)
        w.bool(finished)
        w.bool(converged)
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
            online = try decoder.decode(OnlineOptions.self, from: Data(try r.blob("stepwise settings")))
            rows = try r.int("rows", in: 0...Int.max)
            shards = try r.int("shards", in: 1...Int(Int32.max))
            let summaryRows = try r.int("summary rows", in: 0...Int.max)
            let mean = try r.doubles("column means")
            summary = DataSummary(rows: summaryRows, mean: mean, variance: try r.doubles("column variances", expected: mean.count))
            if try r.bool("weight total present") { summary.weightTotal = try r.double("weight total") }
            parameters = try FitCheckpoint.readParameters(&r, "parameters")
            do {
                running = try r.bool("running statistics present") ? try MixtureStatistics(encoded: try r.blob("running statistics")) : nil
            } catch let error as MixtureError {
                throw WireError("running statistics: \(error)")
            }
            if let running, running.components != parameters.components || running.dimension != parameters.dimension
                || running.covarianceType != parameters.covarianceType {
                throw WireError("the running statistics do not have the parameters' shape")
            }
            pass = try r.int("pass", in: 0...Int(Int32.max))
            position = try r.int("position", in: 0...Int(Int32.max))
            step = try r.int("step", in: 0...Int.max)
            passLogLikelihood = try r.double("pass log-likelihood")
            passWeight = try r.double("pass weight")
            history = try r.doubles("history")
            finished = try r.bool("finished")
            converged = try r.bool("converged")
            dataFingerprint = try r.bool("fingerprint present") ? try r.string("fingerprint") : nil
            try r.finish()
        } catch {
            throw CheckpointFile.damaged(file, error)
        }
    }

    /// Writes the checkpoint atomically.
    public func write(to path: String) throws {
        try CheckpointFile.write(format: Self.format, version: Self.version, payload: payload(), to: path)
    }

    /// Reads a checkpoint written by ``write(to:)``.
    ///
    /// - Throws: ``CheckpointFileError`` naming `path` when it is missing, of another format or version, truncated or damaged.
    public static func read(from path: String) throws -> OnlineCheckpoint {
        try OnlineCheckpoint(payload: CheckpointFile.read(from: path, format: format, version: version), file: path)
    }
}
