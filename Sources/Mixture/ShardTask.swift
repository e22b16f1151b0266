import Datasets

/// One step of a mixture job, evaluated on every shard; the driver folds the per-shard
/// outcomes in shard order.
///
/// Every task is a value that can be shipped to another process: it carries everything a
/// shard needs (the anchor, centres, parameters). k-means++ seeding caches each row's
/// distance to its closest centre in the shard's `ShardScratch`, but its tasks carry all
/// centres chosen so far, so a shard that moves to another worker (empty scratch) rebuilds
/// the cache and returns the same bits.
public enum ShardTask: Sendable {
    /// Count, Σ(x − shift) and Σ(x − shift)² per column.
    case columnMoments(shift: [Double])
    /// The rows with these global indices (each shard returns those it holds).
    case gatherRows(indices: [Int])
    /// k-means++: each row's squared distance to the closest of `centers` (the centres chosen
    /// so far); returns the shard's potential, the sum of those distances.
    case seedingCommit(centers: [[Double]])
    /// k-means++: for each shard-local target potential in `targets[shard's first row]`, the
    /// first local row whose running sum of closest distances (to `centers`) reaches it.
    case seedingLocate(centers: [[Double]], targets: [Int: [Double]])
    /// k-means++: for each candidate centre, Σ over rows of min(closest distance to `centers`,
    /// distance to the candidate).
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

/// One shard's answer to a `ShardTask`.
public enum ShardOutcome: Sendable {
    case columnMoments(count: Int, sums: [Double], squares: [Double])
    case rows([(index: Int, values: [Double])])
    case potential(Double)
    case located([(index: Int, values: [Double])])
    case potentials([Double])
    case lloyd(sums: [Double], counts: [Double], inertia: Double)
    case statistics(MixtureStatistics)
    case scores(logLikelihoodSum: Double, rows: Int, perRow: [Double])
}

/// Something that runs a task on every shard of a dataset and returns the outcomes in shard order.
///
/// `LocalShards` runs them on threads in this process; the cluster runtime runs them on
/// worker processes. The mixture algorithms are written against this protocol only.
public protocol ShardRunner: AnyObject {
    /// The dataset's shard layout.
    var plan: ShardPlan { get }
    /// Number of features per row.
    var dimension: Int { get }
    /// Runs `task` on every shard; outcome `i` belongs to shard `i`.
    func run(_ task: ShardTask) throws -> [ShardOutcome]
}
