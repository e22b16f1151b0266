import Foundation

extension MixtureModelFile {
    /// The `variational` object of a version-2 model file: the priors and the posterior in
    /// scikit-learn's names and shapes, so that each field is the `BayesianGaussianMixture`
    /// attribute of the same name with a trailing underscore.
    struct VariationalDocument: Codable {
        var weightConcentrationPriorType: WeightPriorType
        var weightConcentrationPrior: Double
        var meanPrecisionPrior: Double
        var meanPrior: [Double]
        var degreesOfFreedomPrior: Double
        var covariancePrior: CovarianceValues
        var weightConcentration: CovarianceValues
        var meanPrecision: [Double]
        var degreesOfFreedom: CovarianceValues
        var effectiveComponents: Int?
        var effectiveThreshold: Double?

        enum CodingKeys: String, CodingKey {
            case weightConcentrationPriorType = "weight_concentration_prior_type"
            case weightConcentrationPrior = "weight_concentration_prior"
            case meanPrecisionPrior = "mean_precision_prior"
            case meanPrior = "mean_prior"
            case degreesOfFreedomPrior = "degrees_of_freedom_prior"
            case covariancePrior = "covariance_prior"
            case weightConcentration = "weight_concentration"
            case meanPrecision = "mean_precision"
            case degreesOfFreedom = "degrees_of_freedom"
            case effectiveComponents = "effective_components"
            case effectiveThreshold = "effective_threshold"
        }

        init(_ fit: VariationalFit) {
            let prior = fit.prior, posterior = fit.posterior
            let k = posterior.components, d = posterior.dimension
            weightConcentrationPriorType = prior.weightPriorType
            weightConcentrationPrior = prior.weightConcentration
            meanPrecisionPrior = prior.meanPrecision
            meanPrior = prior.mean
            degreesOfFreedomPrior = prior.degreesOfFreedom
            switch posterior.covarianceType {
            case .full, .tied: covariancePrior = .matrix((0..<d).map { Array(prior.covariance[($0 * d)..<(($0 + 1) * d)]) })
            case .diag: covariancePrior = .vector(prior.covariance)
            case .spherical: covariancePrior = .number(prior.covariance[0])
            }
            weightConcentration = prior.weightPriorType == .dirichletProcess
                ? .matrix([Array(posterior.weightConcentration[0..<k]), Array(posterior.weightConcentration[k...])])
                : .vector(posterior.weightConcentration)
            meanPrecision = posterior.meanPrecision
            degreesOfFreedom = posterior.covarianceType == .tied ? .number(posterior.degreesOfFreedom[0]) : .vector(posterior.degreesOfFreedom)
            effectiveComponents = fit.effectiveComponents
            effectiveThreshold = VariationalFit.effectiveThreshold(components: k)
        }

        /// The priors and posterior of a model with the document's means and covariances, checked.
        func fit(covarianceType type: CovarianceType, components k: Int, dimension d: Int, means: [Double], covariances: [Double]) throws -> VariationalFit {
            guard meanPrior.count == d else { throw ModelFileError(file: "", message: "variational.mean_prior must be \(d) numbers") }
            let prior: [Double]
            switch (type, covariancePrior) {
            case let (.full, .matrix(m)) where m.count == d && m.allSatisfy({ $0.count == d }),
                 let (.tied, .matrix(m)) where m.count == d && m.allSatisfy({ $0.count == d }):
                prior = m.flatMap { $0 }
            case let (.diag, .vector(v)) where v.count == d: prior = v
            case let (.spherical, .number(v)): prior = [v]
            default:
                throw ModelFileError(file: "", message: "variational.covariance_prior does not have the shape of a \(type.rawValue) covariance in \(d) dimensions")
            }
            let concentration: [Double]
            switch (weightConcentrationPriorType, weightConcentration) {
            case let (.dirichletProcess, .matrix(m)) where m.count == 2 && m.allSatisfy({ $0.count == k }): concentration = m[0] + m[1]
            case let (.dirichletDistribution, .vector(v)) where v.count == k: concentration = v
            default:
                throw ModelFileError(
                    file: "",
                    message: "variational.weight_concentration must be " + (weightConcentrationPriorType == .dirichletProcess
                        ? "two rows of \(k) numbers for a dirichlet_process prior" : "\(k) numbers for a dirichlet_distribution prior"))
            }
            let freedoms: [Double]
            switch (type, degreesOfFreedom) {
            case let (.tied, .number(v)): freedoms = [v]
            case let (.full, .vector(v)) where v.count == k, let (.diag, .vector(v)) where v.count == k,
                 let (.spherical, .vector(v)) where v.count == k:
                freedoms = v
            default:
                throw ModelFileError(
                    file: "", message: "variational.degrees_of_freedom must be " + (type == .tied ? "one number for tied covariances" : "\(k) numbers"))
            }
            do {
                return try VariationalFit(
                    prior: VariationalPrior(
                        weightPriorType: weightConcentrationPriorType, weightConcentration: weightConcentrationPrior,
                        meanPrecision: meanPrecisionPrior, mean: meanPrior, degreesOfFreedom: degreesOfFreedomPrior, covariance: prior,
                        covarianceType: type),
                    posterior: VariationalPosterior(
                        weightPriorType: weightConcentrationPriorType, covarianceType: type, components: k, dimension: d,
                        weightConcentration: concentration, meanPrecision: meanPrecision, means: means, degreesOfFreedom: freedoms,
                        covariances: covariances))
            } catch let error as MixtureError {
                throw ModelFileError(file: "", message: "variational: \(error)")
            }
        }
    }
}
