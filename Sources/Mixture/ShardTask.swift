import Datasets
import Engine
import Numerics

/// One step of a mixture job, evaluated on every shard; the driver folds the per-shard
/// outcomes in shard order.
///
/// Every task is a value that can be shipped to another process: it carries everything a
/// shard needs (the anchor, centres, parameters). k-means++ seeding caches each row's
/// distance to its closest centre in the shard's `ShardScratch`, but its tasks carry all
/// centres chosen so far, so a shard that moves to another worker (empty scratch) rebuilds
/// the cache and returns the same bits.
public enum ShardTask: Sendable {
    /// Count, Σ(x − shift) and Σ(x − shift)² per column (each row's terms times its weight,
    /// and the weights' sum, when rows carry weights).
    case columnMoments(shift: [Double])
    /// The rows with these global indices (each shard returns those it holds).
    case gatherRows(indices: [Int])
    /// k-means++: each row's squared distance to the closest of `centers` (the centres chosen
    /// so far); returns the shard's potential, the sum of those distances (each times the row's
    /// weight). With no centres, every row's potential is its weight (1 without weights).
    case seedingCommit(centers: [[Double]])
    /// k-means++: for each shard-local target potential in `targets[shard's first row]`, the
    /// first local row whose running sum of (weighted) closest distances (to `centers`) reaches
    /// it; with no centres, of weights.
    case seedingLocate(centers: [[Double]], targets: [Int: [Double]])
    /// k-means++: for each candidate centre, Σ over rows of min(closest distance to `centers`,
    /// distance to the candidate), each times the row's weight.
    case seedingCandidatePotentials(centers: [[Double]], candidates: [[Double]])
    /// One Lloyd step: per-cluster sums and counts of rows nearest each centre (centres K×D, about `anchor`).
    case lloyd(centers: [Double], clusters: Int, anchor: [Double])
    /// Mixture statistics with one-hot responsibilities from the nearest centre.
    case hardAssignmentStatistics(centers: [Double], clusters: Int, anchor: [Double], covarianceType: CovarianceType)
    /// Mixture statistics with responsibilities drawn uniformly and normalised per row (scikit-learn's `random` init).
    case randomStatistics(seed: UInt64, components: Int, anchor: [Double], covarianceType: CovarianceType)
    /// The E-step: statistics under the prepared mixture.
    case expectation(model: PreparedMixture)
    /// Scoring: the total log-likelihood and, if asked, a per-row output.
    case score(model: PreparedMixture, output: RowOutput)
    /// Stepwise (online) EM: the E-step's statistics over the shard's rows in one minibatch.
    case minibatchExpectation(model: PreparedMixture, batch: Minibatch)
}

/// Which rows of every shard make up one minibatch of stepwise EM.
///
/// Each pass over the data has `steps` minibatches. Every shard shuffles its rows once per pass
/// by a generator seeded from (seed, pass, the shard's first global row) and gives step t the
/// next ⌈n_s / steps⌉ of them, so a pass reads each row once and a minibatch holds about
/// N / steps rows, spread over the shards in proportion to their sizes; none of it depends on
/// which worker holds a shard.
public struct Minibatch: Sendable, Equatable {
    /// The fit's seed.
    public var seed: UInt64
    /// The pass over the data (0 first).
    public var pass: Int
    /// The step within the pass, in 0..<steps.
    public var step: Int
    /// Minibatches per pass.
    public var steps: Int

    /// Creates a minibatch position.
    public init(seed: UInt64, pass: Int, step: Int, steps: Int) {
        precondition(steps >= 1 && (0..<steps).contains(step) && pass >= 0, "a step within a pass")
        self.seed = seed
        self.pass = pass
        self.step = step
        self.steps = steps
    }

    /// How many of a shard's `rows` rows this minibatch takes.
    public func rows(ofShardWith rows: Int) -> Int {
        let each = (rows + steps - 1) / steps
        return max(0, min(each, rows - step * each))
    }

    /// The shard's local row positions (0-based) of this minibatch, ascending.
    package func positions(in order: [Int]) -> [Int] {
        let each = (order.count + steps - 1) / steps
        let start = min(step * each, order.count)
        let positions = Array(order[start..<min(start + each, order.count)])
        return positions.isSorted ? positions : positions.sorted()
    }

    /// The order of a shard's rows in this pass, each step's rows ascending (sorted once per
    /// pass here, so that ``positions(in:)`` finds them in order).
    package func order(rows: Int, firstGlobalRow: Int) -> [Int] {
        var generator = SeededGenerator(seed: seed &+ UInt64(pass) &* 0x9E37_79B9_7F4A_7C15, stream: UInt64(firstGlobalRow) &+ 0x5EED)
        var order = generator.permutation(of: rows)
        let each = (rows + steps - 1) / steps
        for start in stride(from: 0, to: rows, by: max(1, each)) { order[start..<min(start + each, rows)].sort() }
        return order
    }
}

/// What a scoring task returns per row.
public enum RowOutput: Sendable {
    /// Nothing per row: just the total.
    case none
    /// The most probable component.
    case labels
    /// K posterior probabilities.
    case probabilities
    /// The log-likelihood of the row.
    case logLikelihoods
}

/// The answer to a `ShardTask` of one shard, or of consecutive shards added by the shard tree.
///
/// Sums (moments, Lloyd sums, statistics, scores) add up; per-row and per-shard parts
/// (gathered rows, each shard's k-means++ potential, per-row scores) are concatenated in
/// shard order.
public enum ShardOutcome: Sendable {
    /// Row count, Σ w (nil when rows carry no weights), Σ w(x − shift) and Σ w(x − shift)² per column.
    case columnMoments(count: Int, weight: Double?, sums: [Double], squares: [Double])
    /// Gathered rows, by global index.
    case rows([(index: Int, values: [Double])])
    /// Each shard's k-means++ potential, one per shard in shard order.
    case shardPotentials([Double])
    /// Rows located by k-means++ targets, in shard order.
    case located([(index: Int, values: [Double])])
    /// Per candidate, the potential with it added.
    case potentials([Double])
    /// Lloyd sums, counts and inertia.
    case lloyd(sums: [Double], counts: [Double], inertia: Double)
    /// Mixture sufficient statistics.
    case statistics(MixtureStatistics)
    /// Total (weighted) log-likelihood, rows, Σ w (the row count without weights), and the
    /// per-row output in row order.
    case scores(logLikelihoodSum: Double, rows: Int, weight: Double, perRow: [Double])

    /// Adds `right`, the outcome of the shards after this one's.
    mutating func add(_ right: ShardOutcome) {
        switch (self, right) {
        case let (.columnMoments(n, w, s, q), .columnMoments(n2, w2, s2, q2)):
            let weight: Double? = w.map { $0 + (w2 ?? 0) } ?? w2
            self = .columnMoments(count: n + n2, weight: weight, sums: zip(s, s2).map(+), squares: zip(q, q2).map(+))
        case let (.rows(a), .rows(b)):
            self = .rows(a + b)
        case let (.shardPotentials(a), .shardPotentials(b)):
            self = .shardPotentials(a + b)
        case let (.located(a), .located(b)):
            self = .located(a + b)
        case let (.potentials(a), .potentials(b)):
            self = .potentials(zip(a, b).map(+))
        case let (.lloyd(s, n, i), .lloyd(s2, n2, i2)):
            self = .lloyd(sums: zip(s, s2).map(+), counts: zip(n, n2).map(+), inertia: i + i2)
        case (.statistics(var a), let .statistics(b)):
            self = .columnMoments(count: 0, weight: nil, sums: [], squares: [])  // release `a`'s buffer for the in-place merge
            a.merge(b)
            self = .statistics(a)
        case let (.scores(sum, rows, weight, perRow), .scores(sum2, rows2, weight2, perRow2)):
            self = .scores(logLikelihoodSum: sum + sum2, rows: rows + rows2, weight: weight + weight2, perRow: perRow + perRow2)
        default:
            preconditionFailure("outcomes of different tasks cannot be added")
        }
    }
}

extension ShardRunner {
    /// Runs a mixture task on every shard; the outcomes come added by the shard tree.
    public func run(_ task: ShardTask) throws -> ShardOutcome {
        try run(MixtureJob.self, task)
    }
}

extension Array where Element == Int {
    /// Whether the values ascend.
    fileprivate var isSorted: Bool { zip(self, dropFirst()).allSatisfy { $0 <= $1 } }
}
