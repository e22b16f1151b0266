import Foundation

/// The mixture a DAGMM step fits to its batch's memberships, and the loss's derivatives with
/// respect to that batch's statistics: the coordinator's part of a step.
///
/// With `n_k = Σγ_k + 10ε`: `φ_k = n_k/N`, `μ_k = Σγ_k z / n_k`,
/// `Σ_k = Σγ_k zzᵀ / n_k − μ_k μ_kᵀ + ridge·I`. The loss depends on the statistics through
/// φ, μ, Σ (the mean energy and the covariance penalty); ``chain(statistics:energies:mixture:settings:)``
/// writes those derivatives out so that every shard can add its rows' part of the gradient.
public enum BatchMixture {
    /// Added to each component's membership sum, as scikit-learn's M-step does.
    static let countFloor = 10 * Double.ulpOfOne

    /// The mixture of a batch's membership statistics.
    public static func estimate(_ statistics: LatentMoments, dimension m: Int, ridge: Double) -> LatentMixture {
        let k = statistics.counts.count, total = Double(statistics.rows)
        var weights: [Double] = [], means: [[Double]] = [], covariances: [[Double]] = []
        for c in 0..<k {
            let count = statistics.counts[c] + countFloor
            let mean = (0..<m).map { statistics.first[c * m + $0] / count }
            var covariance = [Double](repeating: 0, count: m * m)
            for i in 0..<m {
                for j in 0..<m { covariance[i * m + j] = statistics.second[(c * m + i) * m + j] / count - mean[i] * mean[j] }
                covariance[i * m + i] += ridge
            }
            weights.append(count / total)
            means.append(mean)
            covariances.append(covariance)
        }
        return LatentMixture(weights: weights, means: means, covariances: covariances)
    }

    /// The covariance penalty `Σ_k Σ_j 1/Σ_k,jj` (before its weight λ2).
    public static func inverseDiagonalSum(_ mixture: LatentMixture) -> Double {
        let m = mixture.dimension
        var sum = 0.0
        for covariance in mixture.covariances {
            for j in 0..<m { sum += 1 / covariance[j * m + j] }
        }
        return sum
    }

    /// The derivatives of the step's loss `λ1·ΣE/N + λ2·Σ_k Σ_j 1/Σ_k,jj` (plus the
    /// reconstruction term, whose derivative is per row) with respect to the membership
    /// statistics of the batch.
    ///
    /// - Parameters:
    ///   - statistics: the batch's membership statistics, which gave `mixture`.
    ///   - energies: the moments of the energy's posteriors about each mean, at `mixture`.
    public static func chain(
        statistics: LatentMoments, energies: LatentMoments, mixture: LatentMixture, settings: DAGMMSettings
    ) -> MixtureChain {
        let k = mixture.components, m = mixture.dimension, total = Double(statistics.rows)
        let energyScale = settings.energyWeight / total
        var g0 = [Double](repeating: 0, count: k), g1 = [Double](repeating: 0, count: k * m), g2 = [Double](repeating: 0, count: k * m * m)
        for c in 0..<k {
            let count = statistics.counts[c] + countFloor
            let factor = SmallMatrix.cholesky(mixture.covariances[c], order: m)!
            let precision = SmallMatrix.inverse(fromFactor: factor, order: m)
            // ∂loss/∂φ, ∂loss/∂μ, ∂loss/∂Σ of the mean energy (E = −log Σ φ N, w its posteriors).
            let gradientWeight = -energyScale * energies.counts[c] / mixture.weights[c]
            var gradientMean = [Double](repeating: 0, count: m)
            for i in 0..<m {
                var sum = 0.0
                for j in 0..<m { sum += precision[i * m + j] * energies.first[c * m + j] }
                gradientMean[i] = -energyScale * sum
            }
            let second = Array(energies.second[(c * m * m)..<((c + 1) * m * m)])
            let sandwich = SmallMatrix.multiply(SmallMatrix.multiply(precision, second, order: m), precision, order: m)
            var gradientCovariance = [Double](repeating: 0, count: m * m)
            for i in 0..<(m * m) { gradientCovariance[i] = -energyScale * 0.5 * (sandwich[i] - energies.counts[c] * precision[i]) }
            for j in 0..<m {
                let variance = mixture.covariances[c][j * m + j]
                gradientCovariance[j * m + j] -= settings.covariancePenalty / (variance * variance)
            }
            // Through Σ = S2/n − μμᵀ + ridge·I, μ = S1/n, φ = n/N.
            var inner = 0.0
            for i in 0..<(m * m) {
                g2[c * m * m + i] = gradientCovariance[i] / count
                inner += g2[c * m * m + i] * statistics.second[c * m * m + i] / count
            }
            var meanDotFirst = 0.0
            for i in 0..<m {
                var covarianceTimesMean = 0.0
                for j in 0..<m { covarianceTimesMean += gradientCovariance[i * m + j] * mixture.means[c][j] }
                g1[c * m + i] = (gradientMean[i] - 2 * covarianceTimesMean) / count
                meanDotFirst += mixture.means[c][i] * g1[c * m + i]
            }
            g0[c] = gradientWeight / total - meanDotFirst - inner
        }
        return MixtureChain(counts: g0, first: g1, second: g2, energyScale: energyScale, reconstructionScale: 1 / total)
    }
}
