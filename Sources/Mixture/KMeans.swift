import Datasets
import Engine
import Foundation
import Numerics

/// How a k-means run's first centres are chosen (scikit-learn's `init`).
public enum KMeansInitialisation: String, Codable, CaseIterable, Sendable {
    /// Greedy k-means++ seeding (scikit-learn's default).
    case kmeansPlusPlus = "k-means++"
    /// K distinct rows drawn uniformly.
    case random
}

/// Everything that decides a k-means fit's result (never thread or worker counts), with
/// scikit-learn's defaults.
public struct KMeansOptions: Codable, Sendable, Equatable {
    /// Clusters (scikit-learn's `n_clusters`).
    public var clusters: Int
    /// How each run starts; ignored when `initialCenters` is given.
    public var initialisation: KMeansInitialisation = .kmeansPlusPlus
    /// Given first centres (K rows of D values, in the data's frame); one run starts from them.
    public var initialCenters: [[Double]]?
    /// Runs from different seeds, the one of least inertia kept (nil: scikit-learn's `"auto"`,
    /// 1 for k-means++ or given centres, 10 for random).
    public var runs: Int?
    /// Most Lloyd iterations per run.
    public var maxIterations = 300
    /// Convergence when the squared centre shift, summed over centres, is at most this times the
    /// mean column variance (or when no row changes cluster).
    public var tolerance = 1e-4
    /// Seed of the initialisations.
    public var seed: UInt64 = 0

    /// Options for `clusters` clusters with every other setting at its default.
    public init(clusters: Int) { self.clusters = clusters }

    /// The runs a fit makes.
    public var runCount: Int {
        if initialCenters != nil { return 1 }
        return runs ?? (initialisation == .random ? 10 : 1)
    }
}

/// A fitted k-means model: centres and how the fit went.
public struct KMeansModel: Sendable, Equatable {
    /// The centres, K rows of D values (scikit-learn's `cluster_centers_`).
    public var centers: [[Double]]
    /// Σ over rows of the squared distance to the nearest centre (`inertia_`).
    public var inertia: Double
    /// Lloyd iterations of the kept run (`n_iter_`).
    public var iterations: Int
    /// Whether the kept run converged before `maxIterations`.
    public var converged: Bool
    /// The inertia at the start of each iteration of the kept run.
    public var inertiaHistory: [Double]
    /// The options fitted with.
    public var options: KMeansOptions
    /// Rows and shards fitted on, and which run was kept.
    public var training: GaussianMixture.TrainingFacts?

    /// Creates a model from its parts.
    public init(centers: [[Double]], inertia: Double, iterations: Int, converged: Bool, inertiaHistory: [Double],
                options: KMeansOptions, training: GaussianMixture.TrainingFacts? = nil) {
        self.centers = centers
        self.inertia = inertia
        self.iterations = iterations
        self.converged = converged
        self.inertiaHistory = inertiaHistory
        self.options = options
        self.training = training
    }

    /// Clusters.
    public var clusters: Int { centers.count }
    /// Features.
    public var dimension: Int { centers.first?.count ?? 0 }

    /// The inertia of `runner`'s rows under these centres and, as asked, each row's label or its
    /// distances to every centre.
    public func assign(on runner: ShardRunner, output: KMeansRowOutput) throws -> (inertia: Double, perRow: [Double]) {
        guard runner.dimension == dimension else {
            throw MixtureError.invalidData("the model has \(dimension) features; the data has \(runner.dimension)")
        }
        // Centres about the first row, so that large offsets cost no precision.
        let anchor = try gatherRows([0], from: runner)[0]
        let centred = centers.flatMap { row in (0..<dimension).map { row[$0] - anchor[$0] } }
        guard case let .assignment(inertia, _, perRow) = try runner.run(
            KMeansJob.self, .assign(centers: centred, clusters: clusters, anchor: anchor, output: output))
        else { throw MixtureError.invalidData("the shards returned no k-means assignment") }
        return (inertia, perRow)
    }
}

/// One Lloyd iteration, as reported to a fit's progress.
public struct KMeansProgress: Sendable {
    /// Which run (0-based).
    public var run: Int
    /// Iteration number, from 1.
    public var iteration: Int
    /// The inertia under the centres entering this iteration.
    public var inertia: Double
    /// Rows that changed cluster (all rows at the first iteration).
    public var changedRows: Int
    /// The squared centre shift summed over centres.
    public var centerShift: Double
    /// Clusters that were empty and got a far row.
    public var relocated: Int
    /// Seconds the iteration took.
    public var seconds: Double
}

/// Everything needed to continue a k-means fit bit-identically after an iteration.
public struct KMeansCheckpoint: Sendable, Equatable {
    /// The file format's name.
    public static let format = "emfleet.kmeans.checkpoint"
    /// The options of the fit.
    public var options: KMeansOptions
    /// Rows and shards of the data it was taken on.
    public var rows: Int
    /// Shards of the data it was taken on.
    public var shards: Int
    /// The data's summary (the anchor and the variances the tolerance is scaled by).
    public var summary: DataSummary
    /// The run in progress.
    public var run: Int
    /// Its current centres, about the anchor.
    public var centers: [Double]
    /// The centres of the iteration before (nil before the first).
    public var previous: [Double]?
    /// The inertia at the start of each iteration so far.
    public var history: [Double]
    /// Whether the run has finished its iterations.
    public var finished: Bool
    /// Whether it converged.
    public var converged: Bool
    /// The best earlier run.
    public var best: KMeansModel?
    /// The data file's fingerprint, when the command line knows it.
    public var dataFingerprint: String?
}

/// Lloyd's algorithm over a `ShardRunner`, as scikit-learn's `KMeans(algorithm="lloyd")`:
/// the data centred on its mean, k-means++ or random starts, empty clusters given the rows
/// farthest from their centres, convergence on unchanged labels or on the centre shift.
public struct KMeansFitter {
    /// Where shard tasks run.
    public let runner: ShardRunner
    /// What to fit.
    public let options: KMeansOptions

    /// Creates a fitter.
    public init(runner: ShardRunner, options: KMeansOptions) {
        self.runner = runner
        self.options = options
    }

    /// Checks the options against the data shape.
    public func validate() throws {
        let k = options.clusters, rows = runner.plan.rows
        guard k >= 1 else { throw MixtureError.invalidData("--clusters must be at least 1") }
        guard rows >= k else { throw MixtureError.invalidData("the data has \(rows) rows, fewer than the \(k) clusters asked for") }
        guard options.maxIterations >= 1 else { throw MixtureError.invalidData("--max-iter must be at least 1") }
        guard options.tolerance >= 0 else { throw MixtureError.invalidData("--tol must not be negative") }
        if let runs = options.runs, runs < 1 { throw MixtureError.invalidData("--n-init must be at least 1") }
        if let given = options.initialCenters {
            guard given.count == k, given.allSatisfy({ $0.count == runner.dimension }) else {
                throw MixtureError.invalidData(
                    "the initial centres are \(given.count) × \(given.first?.count ?? 0); the fit asks for \(k) × \(runner.dimension)")
            }
            guard given.allSatisfy(VectorMath.allFinite) else { throw MixtureError.invalidData("the initial centres hold NaN or infinite numbers") }
        }
    }

    /// Fits, reporting each iteration to `progress`.
    ///
    /// - Parameters:
    ///   - resuming: a checkpoint of an earlier run of this fit; the result is bit-identical to
    ///     an uninterrupted fit.
    ///   - checkpointEvery: when `checkpoint` is called (after iterations, and always after a run's last).
    ///   - checkpoint: called with everything needed to continue.
    ///   - progress: called after every iteration.
    public func fit(
        resuming: KMeansCheckpoint? = nil,
        checkpointEvery: CheckpointSchedule = .every(1),
        checkpoint: (KMeansCheckpoint) throws -> Void = { _ in },
        progress: (KMeansProgress) -> Void = { _ in }
    ) throws -> KMeansModel {
        try validate()
        if let resuming { try check(resuming) }
        var timer = CheckpointTimer(checkpointEvery)
        let summary = try resuming?.summary ?? DataSummary.compute(runner)
        var best = resuming?.best
        let firstRun = resuming?.run ?? 0
        for run in firstRun..<options.runCount {
            let state: KMeansCheckpoint
            if let resuming, run == firstRun {
                state = resuming
            } else {
                let initial = try initialCenters(run: run, summary: summary)
                state = KMeansCheckpoint(
                    options: options, rows: summary.rows, shards: runner.plan.count, summary: summary, run: run,
                    centers: initial.flatMap { row in (0..<summary.mean.count).map { row[$0] - summary.mean[$0] } },
                    previous: nil, history: [], finished: false, converged: false, best: best)
            }
            let result = try lloyd(state, timer: &timer, checkpoint: checkpoint, progress: progress)
            if best == nil || result.inertia < best!.inertia { best = result }
        }
        return best!
    }

    /// Refuses a checkpoint of another fit or other data.
    func check(_ saved: KMeansCheckpoint) throws {
        guard saved.options == options else {
            let which = OptionDifference.first(saved: saved.options, current: options).map { ": \($0)" } ?? ""
            throw MixtureError.invalidData("the checkpoint was written by a k-means fit with other options\(which)")
        }
        try runner.checkCheckpointShape(rows: saved.rows, shards: saved.shards, features: saved.summary.mean.count)
    }

    /// The column variances with every row counted once: scikit-learn scales the tolerance by
    /// them whatever the sample weights.
    func unweightedVariance(_ summary: DataSummary) throws -> [Double] {
        guard summary.weightTotal != nil else { return summary.variance }
        guard case let .moments(rows, sums, squares) = try runner.run(KMeansJob.self, .moments(anchor: summary.mean)) else {
            throw MixtureError.invalidData("the shards returned no column moments")
        }
        let n = Double(rows)
        return zip(sums, squares).map { sum, square in max(0, square / n - (sum / n) * (sum / n)) }
    }

    /// The first centres of a run, in the data's frame.
    func initialCenters(run: Int, summary: DataSummary) throws -> [[Double]] {
        if let given = options.initialCenters { return given }
        let seed = options.seed &+ UInt64(run) &* 0x9E37_79B9
        switch options.initialisation {
        case .kmeansPlusPlus:
            return try Initialisation.kmeansPlusPlus(runner, clusters: options.clusters, seed: seed, weighted: summary.weightTotal != nil).rows
        case .random:
            var generator = SeededGenerator(seed: seed, stream: 2)
            // With weights, rows are drawn in proportion to them (scikit-learn's `p=sample_weight`).
            if summary.weightTotal != nil { return try Initialisation.distinctRowsByWeight(options.clusters, runner, using: &generator) }
            let indices = Initialisation.sampleWithoutReplacement(count: options.clusters, from: summary.rows, using: &generator)
            return try gatherRows(indices, from: runner)
        }
    }

    func lloyd(
        _ initial: KMeansCheckpoint, timer: inout CheckpointTimer, checkpoint: (KMeansCheckpoint) throws -> Void,
        progress: (KMeansProgress) -> Void
    ) throws -> KMeansModel {
        var state = initial
        let summary = state.summary, anchor = summary.mean
        let k = options.clusters, d = anchor.count
        let tolerance = try unweightedVariance(summary).reduce(0, +) / Double(d) * options.tolerance
        while !state.finished {
            let clock = ContinuousClock.now
            guard case .step(var sums, var weights, let inertia, _, let changed) = try runner.run(
                KMeansJob.self, .step(centers: state.centers, previous: state.previous, clusters: k, anchor: anchor))
            else { throw MixtureError.invalidData("the shards returned no k-means sums") }
            let empty = (0..<k).filter { weights[$0] == 0 }
            if !empty.isEmpty {
                // scikit-learn's `_relocate_empty_clusters`: each empty cluster takes one of the
                // rows farthest from their centres, which leaves its old cluster.
                guard case let .farthest(distant) = try runner.run(
                    KMeansJob.self, .farthest(centers: state.centers, clusters: k, anchor: anchor, count: empty.count)),
                    distant.count == empty.count
                else { throw MixtureError.invalidData("the shards returned no far rows for the empty clusters") }
                for (cluster, row) in zip(empty, distant) {
                    for j in 0..<d {
                        sums[row.label * d + j] -= row.values[j] * row.weight
                        sums[cluster * d + j] = row.values[j] * row.weight
                    }
                    weights[cluster] = row.weight
                    weights[row.label] -= row.weight
                }
            }
            var updated = sums, shift = 0.0
            for c in 0..<k {
                if weights[c] > 0 {
                    let scale = 1 / weights[c]
                    for j in 0..<d { updated[c * d + j] *= scale }
                }
                var squared = 0.0
                for j in 0..<d {
                    let difference = state.centers[c * d + j] - updated[c * d + j]
                    squared += difference * difference
                }
                // scikit-learn sums the squares of per-centre Euclidean shifts.
                let norm = squared.squareRoot()
                shift += norm * norm
            }
            let strict = state.previous != nil && changed == 0
            state.history.append(inertia)
            state.previous = state.centers
            state.centers = updated
            state.converged = strict || shift <= tolerance
            state.finished = state.converged || state.history.count >= options.maxIterations
            try timer.writeIfDue(completed: state.history.count, last: state.finished) { try checkpoint(state) }
            progress(KMeansProgress(
                run: state.run, iteration: state.history.count, inertia: inertia, changedRows: changed, centerShift: shift,
                relocated: empty.count, seconds: (ContinuousClock.now - clock).seconds))
        }
        guard case let .assignment(inertia, _, _) = try runner.run(
            KMeansJob.self, .assign(centers: state.centers, clusters: k, anchor: anchor, output: .none))
        else { throw MixtureError.invalidData("the shards returned no k-means assignment") }
        let centers = (0..<k).map { c in (0..<d).map { anchor[$0] + state.centers[c * d + $0] } }
        return KMeansModel(
            centers: centers, inertia: inertia, iterations: state.history.count, converged: state.converged,
            inertiaHistory: state.history, options: options,
            training: .init(rows: summary.rows, shards: runner.plan.count, keptStart: state.run))
    }
}
