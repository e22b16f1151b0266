import Datasets
import Engine
import Foundation
import Numerics

/// Facts about the whole dataset, from one pass: the anchor every statistic is taken about,
/// and per-column variances (k-means' tolerance is relative to their mean).
public struct DataSummary: Codable, Sendable, Equatable {
    /// Rows in the dataset.
    public var rows: Int
    /// The column means.
    public var mean: [Double]
    /// The column variances (population).
    public var variance: [Double]
    /// Σ of the sample weights, or nil when rows carry no weights (mean and variance are then
    /// the weighted ones).
    public var weightTotal: Double? = nil

    /// What each row counts for in all: Σ w, or the row count.
    public var totalWeight: Double { weightTotal ?? Double(rows) }

    /// Computes the summary in one pass over `runner`'s shards, shifting by the first row so
    /// that large offsets cost no precision.
    public static func compute(_ runner: ShardRunner) throws -> DataSummary {
        let first = try gatherRows([0], from: runner)[0]
        guard case let .columnMoments(count, weight, sums, squares) = try runner.run(.columnMoments(shift: first)) else {
            throw MixtureError.invalidData("the shards returned no column moments")
        }
        let d = runner.dimension
        let n = weight ?? Double(count)
        guard n > 0 else { throw MixtureError.invalidData("every sample weight is zero") }
        var mean = [Double](repeating: 0, count: d), variance = mean
        for j in 0..<d {
            let shiftedMean = sums[j] / n
            mean[j] = first[j] + shiftedMean
            variance[j] = max(0, squares[j] / n - shiftedMean * shiftedMean)
        }
        return DataSummary(rows: count, mean: mean, variance: variance, weightTotal: weight)
    }
}

/// Fetches rows by global index, in the order asked.
func gatherRows(_ indices: [Int], from runner: ShardRunner) throws -> [[Double]] {
    var found = [Int: [Double]]()
    if case let .rows(rows) = try runner.run(.gatherRows(indices: indices)) {
        for row in rows { found[row.index] = row.values }
    }
    return try indices.map { index in
        guard let row = found[index] else { throw MixtureError.invalidData("row \(index) is not in any shard") }
        return row
    }
}

/// scikit-learn's initialisations, written over shards so the same code runs in-process and on workers.
enum Initialisation {
    /// The starting parameters for one EM run: one M-step on ``statistics(_:summary:options:seed:)``.
    static func parameters(
        _ runner: ShardRunner, summary: DataSummary, options: FitOptions, seed: UInt64
    ) throws -> MixtureParameters {
        try MaximizationStep.parameters(
            from: statistics(runner, summary: summary, options: options, seed: seed), anchor: summary.mean,
            regularization: options.regularization)
    }

    /// The starting responsibilities' statistics (scikit-learn's initial `resp`), about the data mean.
    ///
    /// `kmeans`: one-hot k-means labels; `random`: uniform draws normalised per row; `k-means++`
    /// and `random-from-data`: each component holds exactly its one seed point (statistics over
    /// those K rows only, so an M-step's weights are taken over K, then renormalised, as scikit-learn's are).
    static func statistics(
        _ runner: ShardRunner, summary: DataSummary, options: FitOptions, seed: UInt64
    ) throws -> MixtureStatistics {
        let k = options.components
        let anchor = summary.mean
        switch options.initialisation {
        case .kmeans:
            let seeds = try kmeansPlusPlus(runner, clusters: k, seed: seed, weighted: summary.weightTotal != nil)
            let centers = try lloyd(runner, initial: seeds.rows, summary: summary, options: options)
            return try foldStatistics(runner.run(.hardAssignmentStatistics(
                centers: centers, clusters: k, anchor: anchor, covarianceType: options.covarianceType)))
        case .kmeansPlusPlus:
            let seeds = try kmeansPlusPlus(runner, clusters: k, seed: seed, weighted: summary.weightTotal != nil)
            return pointStatistics(seeds.rows, summary: summary, options: options)
        case .randomFromData:
            var generator = SeededGenerator(seed: seed, stream: 2)
            if summary.weightTotal != nil {
                return pointStatistics(try distinctRowsByWeight(k, runner, using: &generator), summary: summary, options: options)
            }
            let indices = sampleWithoutReplacement(count: k, from: summary.rows, using: &generator)
            return pointStatistics(try gatherRows(indices, from: runner), summary: summary, options: options)
        case .random:
            return try foldStatistics(runner.run(.randomStatistics(
                seed: seed, components: k, anchor: anchor, covarianceType: options.covarianceType)))
        }
    }

    /// Statistics of responsibilities that give each component exactly one point.
    static func pointStatistics(_ points: [[Double]], summary: DataSummary, options: FitOptions) -> MixtureStatistics {
        let k = points.count, d = summary.mean.count
        let matrix = FeatureMatrix(rows: k, columns: d, values: points.flatMap { $0 })
        let workspace = ChunkWorkspace(dimension: d, components: k, covarianceType: options.covarianceType)
        var statistics = MixtureStatistics(covarianceType: options.covarianceType, components: k, dimension: d)
        for chunk in workspace.chunks(of: 0..<k) {
            let labels = Array(chunk)
            workspace.load(matrix, rows: chunk, anchor: summary.mean)
            labels.withUnsafeBufferPointer { workspace.setOneHot($0.baseAddress!, rowCount: chunk.count) }
            workspace.accumulate(rowCount: chunk.count, into: &statistics)
        }
        workspace.finish(into: &statistics)
        return statistics
    }

    /// Floyd's algorithm: `count` distinct indices below `population`, in draw order.
    static func sampleWithoutReplacement(count: Int, from population: Int, using generator: inout SeededGenerator) -> [Int] {
        var chosen = Set<Int>(), order = [Int]()
        for j in (population - count)..<population {
            let t = generator.nextInt(below: j + 1)
            let pick = chosen.contains(t) ? j : t
            chosen.insert(pick)
            order.append(pick)
        }
        return order
    }

    /// Greedy k-means++ seeding as scikit-learn's `_kmeans_plusplus`: each new centre is the
    /// best of `2 + ⌊ln K⌋` candidates drawn with probability proportional to the squared
    /// distance to the closest centre so far. Returns the centres in the data's own frame.
    ///
    /// With `weighted` (rows carry sample weights), the first centre is drawn in proportion to
    /// weight, and the candidates in proportion to w·D² (the shards weigh their potentials):
    /// a row of zero weight is never chosen.
    static func kmeansPlusPlus(
        _ runner: ShardRunner, clusters k: Int, seed: UInt64, weighted: Bool = false
    ) throws -> (indices: [Int], rows: [[Double]]) {
        var generator = SeededGenerator(seed: seed, stream: 1)
        let rows = runner.plan.rows
        let trials = 2 + Int(log(Double(k)))
        var indices: [Int], centers: [[Double]]
        if weighted {
            let weights = potentialsOf(try runner.run(.seedingCommit(centers: [])))
            let first = try locate([generator.nextUniform() * weights.reduce(0, +)], potentials: weights, centers: [], runner)[0]
            indices = [first.index]
            centers = [first.values]
        } else {
            let first = generator.nextInt(below: rows)
            indices = [first]
            centers = try gatherRows([first], from: runner)
        }
        var potentials = potentialsOf(try runner.run(.seedingCommit(centers: centers)))
        for _ in 1..<max(1, k) {
            let total = potentials.reduce(0, +)
            let values = (0..<trials).map { _ in generator.nextUniform() * total }
            let candidates = try locate(values, potentials: potentials, centers: centers, runner)
            guard case let .potentials(candidatePotentials) = try runner.run(
                .seedingCandidatePotentials(centers: centers, candidates: candidates.map { $0.values }))
            else { throw MixtureError.invalidData("the shards returned no candidate potentials") }
            var best = 0
            for i in 1..<candidatePotentials.count where candidatePotentials[i] < candidatePotentials[best] { best = i }
            indices.append(candidates[best].index)
            centers.append(candidates[best].values)
            potentials = potentialsOf(try runner.run(.seedingCommit(centers: centers)))
        }
        return (indices, centers)
    }

    /// The rows at the running potentials `values` (each below the total of the shards'
    /// `potentials` under `centers`), in the order of `values`.
    static func locate(
        _ values: [Double], potentials: [Double], centers: [[Double]], _ runner: ShardRunner
    ) throws -> [(index: Int, values: [Double])] {
        let shardKeys = runner.plan.ranges.map(\.lowerBound)
        var targets = [Int: [Double]]()
        var shardOfTrial = [Int]()
        for value in values {
            var before = 0.0
            var shard = potentials.lastIndex(where: { $0 > 0 }) ?? 0
            for (s, potential) in potentials.enumerated() {
                if before + potential >= value && potential > 0 { shard = s; break }
                before += potential
            }
            let local = min(value - before, potentials[shard])
            targets[shardKeys[shard], default: []].append(local)
            shardOfTrial.append(shard)
        }
        guard case let .located(located) = try runner.run(.seedingLocate(centers: centers, targets: targets)) else {
            throw MixtureError.invalidData("the shards located no k-means++ candidates")
        }
        // Located rows come in shard order, each shard's in the order of its targets.
        var locatedPerShard = [[(index: Int, values: [Double])]](repeating: [], count: runner.plan.count)
        var shardOfRow = 0
        for row in located {
            while !runner.plan.ranges[shardOfRow].contains(row.index) { shardOfRow += 1 }
            locatedPerShard[shardOfRow].append(row)
        }
        var found = [(index: Int, values: [Double])]()
        for shard in shardOfTrial {
            guard !locatedPerShard[shard].isEmpty else { throw MixtureError.invalidData("a shard located no k-means++ candidate") }
            found.append(locatedPerShard[shard].removeFirst())
        }
        return found
    }

    /// `count` distinct rows drawn in proportion to their sample weights (`random_from_data`
    /// with weights: a row of zero weight is never drawn).
    static func distinctRowsByWeight(_ count: Int, _ runner: ShardRunner, using generator: inout SeededGenerator) throws -> [[Double]] {
        let weights = potentialsOf(try runner.run(.seedingCommit(centers: [])))
        let total = weights.reduce(0, +)
        var chosen = [(index: Int, values: [Double])]()
        for _ in 0..<(64 * count) where chosen.count < count {
            let values = (chosen.count..<count).map { _ in generator.nextUniform() * total }
            for row in try locate(values, potentials: weights, centers: [], runner)
            where chosen.count < count && !chosen.contains(where: { $0.index == row.index }) {
                chosen.append(row)
            }
        }
        guard chosen.count == count else {
            throw MixtureError.invalidData("fewer than \(count) rows have a positive sample weight; ask for fewer components")
        }
        return chosen.map(\.values)
    }

    static func potentialsOf(_ outcome: ShardOutcome) -> [Double] {
        if case let .shardPotentials(values) = outcome { return values }
        return []
    }

    /// Lloyd iterations from `initial` centres (data frame) until the total squared centre
    /// shift is at most `kmeansTolerance` × the mean column variance. Returns centres about the anchor.
    static func lloyd(_ runner: ShardRunner, initial: [[Double]], summary: DataSummary, options: FitOptions) throws -> [Double] {
        let k = initial.count, d = summary.mean.count
        var centers = initial.flatMap { row in (0..<d).map { row[$0] - summary.mean[$0] } }
        let tolerance = summary.variance.reduce(0, +) / Double(d) * options.kmeansTolerance
        for _ in 0..<options.kmeansMaxIterations {
            guard case let .lloyd(sums, counts, _) = try runner.run(.lloyd(centers: centers, clusters: k, anchor: summary.mean)) else {
                throw MixtureError.invalidData("the shards returned no Lloyd sums")
            }
            var shift = 0.0
            for c in 0..<k where counts[c] > 0 {
                // An empty cluster keeps its centre.
                for j in 0..<d {
                    let updated = sums[c * d + j] / counts[c]
                    shift += (updated - centers[c * d + j]) * (updated - centers[c * d + j])
                    centers[c * d + j] = updated
                }
            }
            if shift <= tolerance { break }
        }
        return centers
    }
}

/// The statistics of an outcome that must be statistics.
func foldStatistics(_ outcome: ShardOutcome) throws -> MixtureStatistics {
    guard case let .statistics(total) = outcome else { throw MixtureError.invalidData("the shards returned no statistics") }
    return total
}
