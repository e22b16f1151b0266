import Datasets
import Foundation

/// The M-step: new weights, means and covariances from folded statistics.
///
/// Follows scikit-learn's `_estimate_gaussian_parameters` term by term: `n_k = Σ r + 10·ε`,
/// means `Σ r·x / n_k`, covariances about the new means plus `regularization` on the
/// diagonal, weights `n_k / N` renormalised. Working about the anchor, the centred second
/// moment is `S2/n_k − (2 − R/n_k)·m·mᵀ` with `m` the shifted mean and `R = Σ r`, which is
/// exactly `Σ r (x − μ)(x − μ)ᵀ / n_k`. With sample weights every `r` is `w·r` and `N` is `Σ w`
/// (Spark's `weightCol`).
enum MaximizationStep {
    static let responsibilityFloor = 10 * Double.ulpOfOne

    static func parameters(
        from statistics: MixtureStatistics, anchor: [Double], regularization: Double
    ) throws -> MixtureParameters {
        let k = statistics.components
        let rows = statistics.weightTotal  // Σ w, or the row count exactly
        guard rows > 0 else { throw MixtureError.invalidData("no rows to fit") }
        let estimates = gaussianEstimates(from: statistics, anchor: anchor, regularization: regularization)
        var weights = estimates.counts.map { $0 / rows }
        let weightSum = weights.reduce(0, +)
        for c in 0..<k { weights[c] /= weightSum }
        return try MixtureParameters(
            covarianceType: statistics.covarianceType, components: k, dimension: statistics.dimension, weights: weights,
            means: estimates.means, covariances: estimates.covariances)
    }

    /// scikit-learn's `_estimate_gaussian_parameters`: the floored counts `n_k`, the means (in
    /// the data's frame and about the anchor) and the covariances with `regularization` added.
    /// EM's M-step and the variational update both start from these.
    static func gaussianEstimates(
        from statistics: MixtureStatistics, anchor: [Double], regularization: Double
    ) -> GaussianEstimates {
        let k = statistics.components, d = statistics.dimension
        let type = statistics.covarianceType
        let layout = FeatureLayout(covarianceType: type, dimension: d)
        var means = [Double](repeating: 0, count: k * d)
        var covariances = [Double](repeating: 0, count: type.covarianceCount(components: k, dimension: d))
        let moments = statistics.moments
        var shiftedMeans = [Double](repeating: 0, count: k * d)
        var counts = [Double](repeating: 0, count: k)

        for c in 0..<k {
            let responsibility = statistics.responsibilitySums[c]
            let count = responsibility + responsibilityFloor
            counts[c] = count
            let linearOffset = type == .tied ? c * d : c * layout.count + layout.quadraticCount
            for j in 0..<d {
                let shifted = moments[linearOffset + j] / count
                shiftedMeans[c * d + j] = shifted
                means[c * d + j] = anchor[j] + shifted
            }
            let correction = 2 - responsibility / count
            let quadraticOffset = c * layout.count
            switch type {
            case .full:
                var q = quadraticOffset
                for i in 0..<d {
                    for j in i..<d {
                        var value = moments[q] / count - correction * shiftedMeans[c * d + i] * shiftedMeans[c * d + j]
                        if i == j { value += regularization }
                        covariances[c * d * d + i * d + j] = value
                        covariances[c * d * d + j * d + i] = value
                        q += 1
                    }
                }
            case .diag, .spherical:
                var average = 0.0
                for j in 0..<d {
                    let m = shiftedMeans[c * d + j]
                    let variance = moments[quadraticOffset + j] / count - correction * m * m + regularization
                    if type == .diag { covariances[c * d + j] = variance }
                    average += variance
                }
                if type == .spherical { covariances[c] = average / Double(d) }
            case .tied:
                break
            }
        }
        if type == .tied {
            let total = counts.reduce(0, +)
            var q = k * d
            for i in 0..<d {
                for j in i..<d {
                    var between = 0.0
                    for c in 0..<k { between += counts[c] * shiftedMeans[c * d + i] * shiftedMeans[c * d + j] }
                    var value = (moments[q] - between) / total
                    if i == j { value += regularization }
                    covariances[i * d + j] = value
                    covariances[j * d + i] = value
                    q += 1
                }
            }
        }
        return GaussianEstimates(counts: counts, means: means, shiftedMeans: shiftedMeans, covariances: covariances)
    }
}

/// The Gaussian estimates of one set of statistics (see ``MaximizationStep/gaussianEstimates(from:anchor:regularization:)``).
struct GaussianEstimates {
    /// `n_k`: responsibility sums plus the `10·ε` floor, K values.
    var counts: [Double]
    /// Component means in the data's frame, K×D.
    var means: [Double]
    /// Component means less the anchor, K×D.
    var shiftedMeans: [Double]
    /// Covariances with the regularisation added, in the covariance type's layout.
    var covariances: [Double]
}
