/// How the starting model of an EM run is chosen (scikit-learn's `init_params`).
public enum InitialisationMethod: String, Codable, CaseIterable, Sendable {
    /// k-means++ seeding, then Lloyd iterations to convergence; responsibilities are the one-hot k-means labels.
    case kmeans
    /// k-means++ seeding only; each component starts from one seed point.
    case kmeansPlusPlus = "k-means++"
    /// Responsibilities drawn uniformly at random and normalised per row.
    case random
    /// Each component starts from one point drawn uniformly without replacement.
    case randomFromData = "random-from-data"
}

/// Everything that decides a fit's result. Thread and worker counts are deliberately absent:
/// they never change the model.
public struct FitOptions: Codable, Sendable, Equatable {
    /// Number of components K.
    public var components: Int
    /// Covariance shape.
    public var covarianceType: CovarianceType = .full
    /// Most EM iterations per start.
    public var maxIterations: Int = 100
    /// Stop when the mean log-likelihood changes by less than this between iterations.
    public var tolerance: Double = 1e-3
    /// Added to covariance diagonals.
    public var regularization: Double = 1e-6
    /// Initialisation method, ignored when `initialParameters` is set.
    public var initialisation: InitialisationMethod = .kmeans
    /// Starts from these parameters, skipping initialisation.
    public var initialParameters: MixtureParameters?
    /// Number of seeded starts; the one with the best final lower bound is kept.
    public var restarts: Int = 1
    /// Random seed.
    public var seed: UInt64 = 0
    /// Most Lloyd iterations in k-means initialisation.
    public var kmeansMaxIterations: Int = 300
    /// k-means stops when the centres move less than this times the mean column variance.
    public var kmeansTolerance: Double = 1e-4

    // The initial model is not recorded in a model file: it would repeat a whole model.
    enum CodingKeys: String, CodingKey {
        case components, seed, restarts, initialisation, tolerance, regularization
        case covarianceType = "covariance_type"
        case maxIterations = "max_iterations"
        case kmeansMaxIterations = "kmeans_max_iterations"
        case kmeansTolerance = "kmeans_tolerance"
    }

    /// Options with scikit-learn's defaults for `components` components.
    public init(components: Int) {
        self.components = components
    }
}
