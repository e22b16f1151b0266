/// The shape of each component's covariance, as scikit-learn names them.
public enum CovarianceType: String, Codable, CaseIterable, Sendable {
    /// Each component has its own general covariance matrix.
    case full
    /// All components share one general covariance matrix.
    case tied
    /// Each component has its own diagonal covariance.
    case diag
    /// Each component has a single variance.
    case spherical

    /// How many numbers describe all covariances of `components` components in `dimension` dimensions.
    public func covarianceCount(components: Int, dimension: Int) -> Int {
        switch self {
        case .full: components * dimension * dimension
        case .tied: dimension * dimension
        case .diag: components * dimension
        case .spherical: components
        }
    }

    /// Free parameters of a mixture, as scikit-learn counts them for BIC and AIC.
    public func freeParameters(components k: Int, dimension d: Int) -> Int {
        let covariance: Int
        switch self {
        case .full: covariance = k * d * (d + 1) / 2
        case .tied: covariance = d * (d + 1) / 2
        case .diag: covariance = k * d
        case .spherical: covariance = k
        }
        return covariance + k * d + k - 1
    }
}
