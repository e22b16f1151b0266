/// The parameters of a Gaussian mixture: weights, means and covariances.
///
/// Arrays are row-major. `covariances` holds, per `covarianceType`:
/// `full`: K·D·D (one D×D matrix per component); `tied`: D·D; `diag`: K·D; `spherical`: K.
/// This is exactly scikit-learn's `covariances_` flattened in C order.
public struct MixtureParameters: Codable, Sendable, Equatable {
    /// The covariance shape.
    public var covarianceType: CovarianceType
    /// Number of components K.
    public var components: Int
    /// Number of features D.
    public var dimension: Int
    /// Mixing weights, K of them, summing to one.
    public var weights: [Double]
    /// Component means, K×D.
    public var means: [Double]
    /// Covariances in the layout described above.
    public var covariances: [Double]

    /// Creates parameters, checking that every array has the size its shape requires.
    public init(
        covarianceType: CovarianceType, components: Int, dimension: Int,
        weights: [Double], means: [Double], covariances: [Double]
    ) throws {
        guard components >= 1, dimension >= 1 else {
            throw MixtureError.invalidModel("a mixture needs at least one component and one feature")
        }
        guard weights.count == components else {
            throw MixtureError.invalidModel("expected \(components) weights, found \(weights.count)")
        }
        guard means.count == components * dimension else {
            throw MixtureError.invalidModel("expected \(components)×\(dimension) means, found \(means.count) numbers")
        }
        let expected = covarianceType.covarianceCount(components: components, dimension: dimension)
        guard covariances.count == expected else {
            throw MixtureError.invalidModel(
                "expected \(expected) covariance numbers for \(covarianceType.rawValue) covariance, found \(covariances.count)")
        }
        guard (weights + means + covariances).allSatisfy(\.isFinite) else {
            throw MixtureError.invalidModel("the model holds a NaN or infinite number")
        }
        // scikit-learn's own check on user-supplied weights.
        guard weights.allSatisfy({ $0 >= 0 }), abs(weights.reduce(0, +) - 1) <= 1e-6 else {
            throw MixtureError.invalidModel("weights must be non-negative and sum to 1 (they sum to \(weights.reduce(0, +)))")
        }
        self.covarianceType = covarianceType
        self.components = components
        self.dimension = dimension
        self.weights = weights
        self.means = means
        self.covariances = covariances
    }

    /// The weighted mean of the component means, `Σ w_k μ_k`: the mixture's overall mean.
    public var overallMean: [Double] {
        var center = [Double](repeating: 0, count: dimension)
        for k in 0..<components {
            for j in 0..<dimension { center[j] += weights[k] * means[k * dimension + j] }
        }
        return center
    }
}

/// Errors from fitting or applying a mixture.
public enum MixtureError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A covariance matrix is not positive definite.
    case notPositiveDefinite(component: Int?, covarianceType: CovarianceType)
    /// A model's arrays are inconsistent or hold non-finite numbers.
    case invalidModel(String)
    /// The data does not fit the request (too few rows, wrong feature count, …).
    case invalidData(String)

    public var description: String {
        switch self {
        case let .notPositiveDefinite(component, type):
            let which = component.map { "component \($0)" } ?? "the shared (tied) covariance"
            return "the \(type.rawValue) covariance of \(which) is not positive definite "
                + "(a collapsed or singleton component); use a larger --reg-covar, fewer components, or scale the data"
        case let .invalidModel(message): return "invalid model: \(message)"
        case let .invalidData(message): return message
        }
    }
}
