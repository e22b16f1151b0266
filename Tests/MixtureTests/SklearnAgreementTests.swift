import Datasets
import Foundation
import Mixture
import Testing

/// EM from the same start as scikit-learn lands on the same numbers.
@Suite("Agreement with scikit-learn")
struct SklearnAgreementTests {
    static let tolerance = 1e-8

    @Test("fit, history, probabilities, scores, BIC and AIC match scikit-learn", arguments: ReferenceCase.names)
    func matchesReference(name: String) throws {
        let (reference, train, test) = try ReferenceCase.load(name)
        let type = try #require(CovarianceType(rawValue: reference.covariance_type))
        let k = reference.n_components, d = train.columns
        var options = FitOptions(components: k)
        options.covarianceType = type
        options.tolerance = 0
        options.maxIterations = reference.iterations
        options.regularization = reference.reg_covar
        options.initialParameters = try MixtureParameters(
            covarianceType: type, components: k, dimension: d,
            weights: reference.`init`.weights, means: reference.`init`.means.flatMap { $0 },
            covariances: reference.`init`.covariances.flat)
        let model = try GaussianMixture.fit(train, options: options, threads: 2)
        let expected = reference.expected

        #expect(model.iterations == expected.n_iter)
        #expect(relativeDifference(model.parameters.weights, expected.weights) < Self.tolerance)
        #expect(relativeDifference(model.parameters.means, expected.means.flatMap { $0 }) < Self.tolerance)
        #expect(relativeDifference(model.parameters.covariances, expected.covariances.flat) < Self.tolerance)
        #expect(relativeDifference(model.logLikelihoodHistory, expected.lower_bounds) < Self.tolerance)

        #expect(relativeDifference(try model.predictProbabilities(test), expected.test_predict_proba.flatMap { $0 }) < Self.tolerance)
        #expect(relativeDifference(try model.scoreSamples(test), expected.test_score_samples) < Self.tolerance)
        #expect(try model.predict(test) == expected.test_predict)
        #expect(relativeDifference([try model.score(test)], [expected.test_score]) < Self.tolerance)
        #expect(relativeDifference([try model.bic(test)], [expected.test_bic]) < Self.tolerance)
        #expect(relativeDifference([try model.aic(test)], [expected.test_aic]) < Self.tolerance)
    }

    @Test("the comparison can fail: a slightly different reg_covar is caught")
    func perturbedFitIsCaught() throws {
        let (reference, train, _) = try ReferenceCase.load("full")
        var options = FitOptions(components: reference.n_components)
        options.tolerance = 0
        options.maxIterations = reference.iterations
        options.regularization = reference.reg_covar * 1.01 + 1e-6
        options.initialParameters = try MixtureParameters(
            covarianceType: .full, components: reference.n_components, dimension: train.columns,
            weights: reference.`init`.weights, means: reference.`init`.means.flatMap { $0 },
            covariances: reference.`init`.covariances.flat)
        let model = try GaussianMixture.fit(train, options: options)
        #expect(relativeDifference(model.parameters.covariances, reference.expected.covariances.flat) > Self.tolerance)
    }
}
