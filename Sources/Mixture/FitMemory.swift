/// About how much memory a mixture fit needs per process besides its rows: the model and its
/// prepared form, the statistics of a few results on their way through the shard tree, and each
/// thread's chunk workspace. `emfleet data inspect --memory-limit` compares it with a limit.
///
/// An estimate from the shapes the fit allocates, not a measurement; it errs on the high side.
public enum FitMemory {
    /// Bytes beyond the rows for a fit of `components` components of `type` on `dimension`
    /// features, computed by `threads` threads.
    public static func bytes(dimension: Int, components: Int, type: CovarianceType, threads: Int = 1) -> Int {
        let layout = FeatureLayout(covarianceType: type, dimension: dimension).count
        // Statistics per component are the layout's sums plus a weight; a process holds the
        // model, its prepared coefficients and about four partial results of the tree at once.
        let statistics = components * (layout + 1) * 8
        let parameters = (type.covarianceCount(components: components, dimension: dimension) * 3 + components * (dimension + 1)) * 8
        return 4 * statistics + parameters + max(1, threads) * ChunkWorkspace.bytes(dimension: dimension, components: components, covarianceType: type)
    }

    /// The first covariance type, from the most expressive down, whose fit needs at most `budget`
    /// bytes beyond the rows; nil when none does.
    public static func richestType(fitting budget: Int, dimension: Int, components: Int, threads: Int = 1) -> CovarianceType? {
        CovarianceType.allCases.first { bytes(dimension: dimension, components: components, type: $0, threads: threads) <= budget }
    }
}
