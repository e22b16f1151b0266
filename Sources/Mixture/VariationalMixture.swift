import Foundation
import Numerics

/// The prior on the mixing weights of a variational mixture (scikit-learn's `weight_concentration_prior_type`).
public enum WeightPriorType: String, Codable, CaseIterable, Sendable {
    /// A stick-breaking Dirichlet process: one Beta posterior per component, so later components
    /// lose their weight first when the data do not need them.
    case dirichletProcess = "dirichlet_process"
    /// A Dirichlet distribution on the K weights.
    case dirichletDistribution = "dirichlet_distribution"
}

/// The priors of a variational fit as asked for; `nil` is scikit-learn's default for that prior.
///
/// Defaults (scikit-learn's `BayesianGaussianMixture`): weight concentration 1/K, mean precision 1,
/// mean the data mean, degrees of freedom D, covariance the data covariance (`np.cov`, ddof 1)
/// in the shape of the covariance type (diag: the column variances; spherical: their mean).
public struct VariationalOptions: Codable, Sendable, Equatable {
    /// The weights' prior.
    public var weightPriorType: WeightPriorType
    /// `weight_concentration_prior` (γ₀ or α₀), positive.
    public var weightConcentrationPrior: Double?
    /// `mean_precision_prior` (β₀), positive.
    public var meanPrecisionPrior: Double?
    /// `mean_prior` (m₀), D numbers.
    public var meanPrior: [Double]?
    /// `degrees_of_freedom_prior` (ν₀), above D − 1.
    public var degreesOfFreedomPrior: Double?
    /// `covariance_prior` (Ψ₀) flattened in C order: full and tied D×D, diag D, spherical one number.
    public var covariancePrior: [Double]?

    enum CodingKeys: String, CodingKey {
        case weightPriorType = "weight_concentration_prior_type"
        case weightConcentrationPrior = "weight_concentration_prior"
        case meanPrecisionPrior = "mean_precision_prior"
        case meanPrior = "mean_prior"
        case degreesOfFreedomPrior = "degrees_of_freedom_prior"
        case covariancePrior = "covariance_prior"
    }

    /// scikit-learn's defaults for the weight prior `type`.
    public init(weightPriorType: WeightPriorType = .dirichletProcess) {
        self.weightPriorType = weightPriorType
    }
}

/// The priors of a variational fit, resolved against the data (scikit-learn's `*_prior_` attributes).
public struct VariationalPrior: Codable, Sendable, Equatable {
    /// The weights' prior.
    public var weightPriorType: WeightPriorType
    /// `weight_concentration_prior_`.
    public var weightConcentration: Double
    /// `mean_precision_prior_`.
    public var meanPrecision: Double
    /// `mean_prior_`, D numbers.
    public var mean: [Double]
    /// `degrees_of_freedom_prior_`.
    public var degreesOfFreedom: Double
    /// `covariance_prior_` flattened: full and tied D×D, diag D, spherical one number.
    public var covariance: [Double]

    enum CodingKeys: String, CodingKey {
        case weightPriorType = "weight_concentration_prior_type"
        case weightConcentration = "weight_concentration_prior"
        case meanPrecision = "mean_precision_prior"
        case mean = "mean_prior"
        case degreesOfFreedom = "degrees_of_freedom_prior"
        case covariance = "covariance_prior"
    }

    /// Creates a prior, checking it as scikit-learn's `_check_*_parameters` do.
    ///
    /// - Throws: `MixtureError.invalidData` naming the prior and the value it needs.
    public init(
        weightPriorType: WeightPriorType, weightConcentration: Double, meanPrecision: Double, mean: [Double],
        degreesOfFreedom: Double, covariance: [Double], covarianceType: CovarianceType
    ) throws {
        let d = mean.count
        guard weightConcentration > 0, weightConcentration.isFinite else {
            throw MixtureError.invalidData("--weight-concentration-prior must be positive (got \(weightConcentration))")
        }
        guard meanPrecision > 0, meanPrecision.isFinite else {
            throw MixtureError.invalidData("--mean-precision-prior must be positive (got \(meanPrecision))")
        }
        guard mean.allSatisfy(\.isFinite) else { throw MixtureError.invalidData("--mean-prior holds a NaN or infinite number") }
        guard degreesOfFreedom > Double(d - 1), degreesOfFreedom.isFinite else {
            throw MixtureError.invalidData("--degrees-of-freedom-prior must be greater than \(d - 1), the feature count less one (got \(degreesOfFreedom))")
        }
        try Self.checkCovariance(covariance, covarianceType: covarianceType, dimension: d)
        self.weightPriorType = weightPriorType
        self.weightConcentration = weightConcentration
        self.meanPrecision = meanPrecision
        self.mean = mean
        self.degreesOfFreedom = degreesOfFreedom
        self.covariance = covariance
    }
}

extension VariationalPrior {
    /// Checks a covariance prior as scikit-learn does: its size, and that it is symmetric positive
    /// definite (full, tied) or positive (diag, spherical).
    ///
    /// - Throws: `MixtureError.invalidData` naming `--covariance-prior`.
    public static func checkCovariance(_ covariance: [Double], covarianceType: CovarianceType, dimension d: Int) throws {
        let expected = covarianceType.covarianceCount(components: 1, dimension: d)
        guard covariance.count == expected else {
            throw MixtureError.invalidData(
                "--covariance-prior has \(covariance.count) numbers; a \(covarianceType.rawValue) covariance in \(d) dimensions needs \(expected)")
        }
        switch covarianceType {
        case .full, .tied:
            let symmetric = (0..<d).allSatisfy { i in (0..<d).allSatisfy { j in covariance[i * d + j] == covariance[j * d + i] } }
            guard symmetric, covariance.allSatisfy(\.isFinite), (try? Cholesky.lowerFactor(of: covariance, order: d)) != nil else {
                throw MixtureError.invalidData("--covariance-prior must be a symmetric positive-definite \(d)×\(d) matrix")
            }
        case .diag, .spherical:
            guard covariance.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw MixtureError.invalidData("--covariance-prior must be positive")
            }
        }
    }
}

/// The variational posterior of a Bayesian Gaussian mixture: scikit-learn's
/// `weight_concentration_`, `mean_precision_`, `means_`, `degrees_of_freedom_` and `covariances_`.
///
/// The covariances are the inverse Wishart scale divided by the degrees of freedom, as
/// scikit-learn normalises them, so `covariances` is `covariances_` exactly.
public struct VariationalPosterior: Codable, Sendable, Equatable {
    /// The weights' prior.
    public var weightPriorType: WeightPriorType
    /// The covariance shape.
    public var covarianceType: CovarianceType
    /// Components K.
    public var components: Int
    /// Features D.
    public var dimension: Int
    /// Dirichlet process: the K first then the K second Beta parameters; Dirichlet distribution: K concentrations.
    public var weightConcentration: [Double]
    /// β_k, K numbers.
    public var meanPrecision: [Double]
    /// m_k, K×D.
    public var means: [Double]
    /// ν_k, K numbers (tied: one).
    public var degreesOfFreedom: [Double]
    /// `covariances_` in the covariance type's layout (see ``MixtureParameters``).
    public var covariances: [Double]

    /// Creates a posterior, checking every size and that the numbers are finite and in range.
    ///
    /// - Throws: `MixtureError.invalidModel` naming what is wrong.
    public init(
        weightPriorType: WeightPriorType, covarianceType: CovarianceType, components k: Int, dimension d: Int,
        weightConcentration: [Double], meanPrecision: [Double], means: [Double], degreesOfFreedom: [Double], covariances: [Double]
    ) throws {
        guard k >= 1, d >= 1 else { throw MixtureError.invalidModel("a mixture needs at least one component and one feature") }
        let concentrations = weightPriorType == .dirichletProcess ? 2 * k : k
        let freedoms = covarianceType == .tied ? 1 : k
        guard weightConcentration.count == concentrations, meanPrecision.count == k, means.count == k * d,
              degreesOfFreedom.count == freedoms, covariances.count == covarianceType.covarianceCount(components: k, dimension: d)
        else {
            throw MixtureError.invalidModel(
                "the variational parameters do not have the shapes of \(k) \(covarianceType.rawValue) components in \(d) dimensions")
        }
        guard (weightConcentration + meanPrecision + means + degreesOfFreedom + covariances).allSatisfy(\.isFinite) else {
            throw MixtureError.invalidModel("the variational parameters hold a NaN or infinite number")
        }
        guard weightConcentration.allSatisfy({ $0 > 0 }), meanPrecision.allSatisfy({ $0 > 0 }),
              degreesOfFreedom.allSatisfy({ $0 > Double(d - 1) })
        else {
            throw MixtureError.invalidModel("weight concentrations and mean precisions must be positive, degrees of freedom above D − 1")
        }
        self.weightPriorType = weightPriorType
        self.covarianceType = covarianceType
        components = k
        dimension = d
        self.weightConcentration = weightConcentration
        self.meanPrecision = meanPrecision
        self.means = means
        self.degreesOfFreedom = degreesOfFreedom
        self.covariances = covariances
    }

    // MARK: - The update

    /// The variational update from an E-step's statistics (scikit-learn's `_m_step`, or its
    /// `_initialize` from starting responsibilities): the Gaussian estimates `n_k`, `x̄_k`, `S_k`
    /// (with `regularization` on `S_k`'s diagonal), then `_estimate_weights`, `_estimate_means` and
    /// `_estimate_wishart_*` term by term.
    ///
    /// - Parameters:
    ///   - statistics: sums over the rows' responsibilities, taken about `anchor`.
    ///   - anchor: the point the statistics' moments are taken about (the data mean in a fit).
    ///   - prior: the resolved priors.
    ///   - regularization: `reg_covar`.
    /// - Throws: `MixtureError.invalidModel` when the result is not finite.
    public static func update(
        from statistics: MixtureStatistics, anchor: [Double], prior: VariationalPrior, regularization: Double
    ) throws -> VariationalPosterior {
        let k = statistics.components, d = statistics.dimension, type = statistics.covarianceType
        let estimates = MaximizationStep.gaussianEstimates(from: statistics, anchor: anchor, regularization: regularization)
        let n = estimates.counts
        let weightConcentration: [Double]
        switch prior.weightPriorType {
        case .dirichletProcess:
            // b_k = γ₀ + Σ_{j>k} n_j, the tail sums taken from the last component back.
            var tails = [Double](repeating: 0, count: k)
            var running = 0.0
            for c in stride(from: k - 1, to: 0, by: -1) {
                running += n[c]
                tails[c - 1] = running
            }
            weightConcentration = n.map { 1 + $0 } + tails.map { prior.weightConcentration + $0 }
        case .dirichletDistribution:
            weightConcentration = n.map { prior.weightConcentration + $0 }
        }
        let beta0 = prior.meanPrecision
        let meanPrecision = n.map { beta0 + $0 }
        // x̄_k − m₀, formed about the anchor so that no large offset is subtracted from itself.
        var difference = [Double](repeating: 0, count: k * d)
        var means = [Double](repeating: 0, count: k * d)
        for c in 0..<k {
            for j in 0..<d {
                difference[c * d + j] = estimates.shiftedMeans[c * d + j] + (anchor[j] - prior.mean[j])
                means[c * d + j] = (beta0 * prior.mean[j] + n[c] * estimates.means[c * d + j]) / meanPrecision[c]
            }
        }
        let nu0 = prior.degreesOfFreedom
        let s = estimates.covariances
        var covariances = [Double](repeating: 0, count: s.count)
        let degreesOfFreedom: [Double]
        switch type {
        case .full:
            degreesOfFreedom = n.map { nu0 + $0 }
            for c in 0..<k {
                let shrink = n[c] * beta0 / meanPrecision[c]
                for i in 0..<d {
                    for j in 0..<d {
                        let outer = difference[c * d + i] * difference[c * d + j]
                        let value = prior.covariance[i * d + j] + n[c] * s[c * d * d + i * d + j] + shrink * outer
                        covariances[c * d * d + i * d + j] = value / degreesOfFreedom[c]
                    }
                }
            }
        case .tied:
            let average = n.reduce(0, +) / Double(k)
            degreesOfFreedom = [nu0 + average]
            for i in 0..<d {
                for j in 0..<d {
                    var between = 0.0
                    for c in 0..<k { between += n[c] / meanPrecision[c] * difference[c * d + i] * difference[c * d + j] }
                    let value = prior.covariance[i * d + j] + s[i * d + j] * average + beta0 / Double(k) * between
                    covariances[i * d + j] = value / degreesOfFreedom[0]
                }
            }
        case .diag:
            degreesOfFreedom = n.map { nu0 + $0 }
            for c in 0..<k {
                for j in 0..<d {
                    let squared = difference[c * d + j] * difference[c * d + j]
                    let value = prior.covariance[j] + n[c] * (s[c * d + j] + beta0 / meanPrecision[c] * squared)
                    covariances[c * d + j] = value / degreesOfFreedom[c]
                }
            }
        case .spherical:
            degreesOfFreedom = n.map { nu0 + $0 }
            for c in 0..<k {
                var squared = 0.0
                for j in 0..<d { squared += difference[c * d + j] * difference[c * d + j] }
                let value = prior.covariance[0] + n[c] * (s[c] + beta0 / meanPrecision[c] * (squared / Double(d)))
                covariances[c] = value / degreesOfFreedom[c]
            }
        }
        return try VariationalPosterior(
            weightPriorType: prior.weightPriorType, covarianceType: type, components: k, dimension: d,
            weightConcentration: weightConcentration, meanPrecision: meanPrecision, means: means,
            degreesOfFreedom: degreesOfFreedom, covariances: covariances)
    }

    // MARK: - What the posterior implies

    /// The expected mixing weights (scikit-learn's `weights_`), summing to one.
    public var weights: [Double] {
        let k = components
        var weights = [Double](repeating: 0, count: k)
        switch weightPriorType {
        case .dirichletProcess:
            var remaining = 1.0
            for c in 0..<k {
                let a = weightConcentration[c], b = weightConcentration[k + c]
                weights[c] = a / (a + b) * remaining
                remaining *= b / (a + b)
            }
        case .dirichletDistribution:
            weights = weightConcentration
        }
        let sum = weights.reduce(0, +)
        return weights.map { $0 / sum }
    }

    /// The expected log-weights E[log π_k] (scikit-learn's `_estimate_log_weights`).
    public var expectedLogWeights: [Double] {
        let k = components
        switch weightPriorType {
        case .dirichletProcess:
            var result = [Double](repeating: 0, count: k)
            var before = 0.0
            for c in 0..<k {
                let a = weightConcentration[c], b = weightConcentration[k + c]
                let digammaSum = SpecialFunctions.digamma(a + b)
                result[c] = SpecialFunctions.digamma(a) - digammaSum + before
                before += SpecialFunctions.digamma(b) - digammaSum
            }
            return result
        case .dirichletDistribution:
            let total = SpecialFunctions.digamma(weightConcentration.reduce(0, +))
            return weightConcentration.map { SpecialFunctions.digamma($0) - total }
        }
    }

    /// ν of component `c` (the shared one when tied).
    func degreesOfFreedom(of c: Int) -> Double { degreesOfFreedom[covarianceType == .tied ? 0 : c] }

    /// The expected weights, the posterior means and `covariances_`: what `sample` draws from.
    public var mixtureParameters: MixtureParameters {
        get throws {
            try MixtureParameters(
                covarianceType: covarianceType, components: components, dimension: dimension, weights: weights, means: means,
                covariances: covariances)
        }
    }

    /// The variational E-step as an ordinary mixture: components with the posterior means and
    /// `covariances_` (whose precision is E[Λ] = ν·W) and log-weights
    /// `E[log π_k] − ½D log ν_k + ½(D log 2 + Σ_i ψ((ν_k − i)/2)) − ½D/β_k`, which is
    /// scikit-learn's `_estimate_log_prob + _estimate_log_weights` term by term.
    ///
    /// The log-weights do not sum to one in probability, so they are normalised to weights and
    /// their log-normaliser is returned: every row's log-probability is the mixture's plus it.
    /// The mixture travels in an ordinary `expectation` or `score` task of the mixture job.
    public func expectationMixture(anchor: [Double]? = nil) throws -> (model: PreparedMixture, logNormalizer: Double) {
        let d = Double(dimension)
        let logWeights = expectedLogWeights
        var offsets = [Double](repeating: 0, count: components)
        for c in 0..<components {
            let nu = degreesOfFreedom(of: c)
            var logLambda = d * log(2.0)
            for i in 0..<dimension { logLambda += SpecialFunctions.digamma(0.5 * (nu - Double(i))) }
            offsets[c] = logWeights[c] - 0.5 * d * log(nu) + 0.5 * (logLambda - d / meanPrecision[c])
        }
        let logNormalizer = LogSpace.logSumExp(offsets)
        let parameters = try MixtureParameters(
            covarianceType: covarianceType, components: components, dimension: dimension,
            weights: offsets.map { exp($0 - logNormalizer) }, means: means, covariances: covariances)
        return (try PreparedMixture(parameters, anchor: anchor), logNormalizer)
    }

    /// scikit-learn's `_compute_lower_bound` for this posterior (after the update) and the
    /// statistics of the E-step before it, taken under `model` (that E-step's ``expectationMixture(anchor:)``).
    ///
    /// The entropy term −Σ r log r comes from the statistics alone: the E-step's log-probabilities
    /// are linear in the quadratic features, so Σ_nk r_nk·s_nk = Σ_k (c_k·R_k + coefficients_k · moments_k),
    /// and Σ r log r is that less Σ_n log Σ_k exp(s_nk), the statistics' log-likelihood sum.
    func lowerBound(statistics: MixtureStatistics, model: PreparedMixture, current: PreparedMixture) -> Double {
        let k = components, dim = dimension, d = Double(dimension)
        let layout = model.layout, m = layout.count
        let moments = statistics.moments
        var weighted = 0.0
        for c in 0..<k where statistics.responsibilitySums[c] > 0 {
            var sum = model.constants[c] * statistics.responsibilitySums[c]
            if covarianceType == .tied {
                for j in 0..<dim { sum += model.coefficients[(layout.quadraticCount + j) * k + c] * moments[c * dim + j] }
            } else {
                for f in 0..<m { sum += model.coefficients[f * k + c] * moments[c * m + f] }
            }
            weighted += sum
        }
        if covarianceType == .tied {
            // The quadratic coefficients are the same for every component and Σ_k r = 1 per row.
            for q in 0..<layout.quadraticCount { weighted += model.coefficients[q * k] * moments[k * dim + q] }
        }
        let negativeEntropy = weighted - statistics.logLikelihoodSum

        // log det of the precision Cholesky factors of the updated posterior.
        let factors = current.precisionCholesky
        func logDeterminant(_ c: Int) -> Double {
            switch covarianceType {
            case .full: return (0..<dim).reduce(0.0) { $0 + log(factors[c * dim * dim + $1 * dim + $1]) }
            case .tied: return (0..<dim).reduce(0.0) { $0 + log(factors[$1 * dim + $1]) }
            case .diag: return (0..<dim).reduce(0.0) { $0 + log(factors[c * dim + $1]) }
            case .spherical: return d * log(factors[c])
            }
        }
        func logWishartNorm(_ c: Int) -> Double {
            let nu = degreesOfFreedom(of: c)
            let logDet = logDeterminant(c) - 0.5 * d * log(nu)
            var gammas = 0.0
            for i in 0..<dim { gammas += SpecialFunctions.logGamma(0.5 * (nu - Double(i))) }
            return -(nu * logDet + nu * d * 0.5 * log(2.0) + gammas)
        }
        let logWishart = covarianceType == .tied
            ? Double(k) * logWishartNorm(0) : (0..<k).reduce(0.0) { $0 + logWishartNorm($1) }
        let logNormWeight: Double
        switch weightPriorType {
        case .dirichletProcess:
            logNormWeight = -(0..<k).reduce(0.0) { $0 + SpecialFunctions.logBeta(weightConcentration[$1], weightConcentration[k + $1]) }
        case .dirichletDistribution:
            logNormWeight = SpecialFunctions.logGamma(weightConcentration.reduce(0, +))
                - weightConcentration.reduce(0.0) { $0 + SpecialFunctions.logGamma($1) }
        }
        let logMeanPrecision = meanPrecision.reduce(0.0) { $0 + log($1) }
        return -negativeEntropy - logWishart - logNormWeight - 0.5 * d * logMeanPrecision
    }
}
