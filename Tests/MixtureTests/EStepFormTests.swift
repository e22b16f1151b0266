import Datasets
import Foundation
import Mixture
import Testing

/// The quadratic and whitened forms of the E-step give the same statistics up to rounding.
@Suite("E-step forms")
struct EStepFormTests {
    @Test("both forms give the same statistics, with and without weights", arguments: ["wide_full", "wide_tied", "full", "tied"])
    func formsAgree(name: String) throws {
        let (reference, train, _) = try ReferenceCase.load(name)
        let type = try #require(CovarianceType(rawValue: reference.covariance_type))
        let parameters = try MixtureParameters(
            covarianceType: type, components: reference.n_components, dimension: train.columns,
            weights: reference.`init`.weights, means: reference.`init`.means.flatMap { $0 },
            covariances: reference.`init`.covariances.flat)
        let model = try PreparedMixture(parameters, anchor: (0..<train.columns).map { Double($0) * 0.1 })
        let weights = (0..<train.rows).map { Double($0 % 4) * 0.5 }
        for rowWeights in [nil, weights] {
            // A range that is not a whole number of chunks, starting past the first row.
            let shard = ShardView(data: train, range: 3..<(train.rows - 5), firstGlobalRow: 3,
                                  weights: rowWeights.map { Array($0[3..<(train.rows - 5)]) })
            let quadratic = ShardEvaluator.expectation(shard, model: model, form: .quadratic)
            let whitened = ShardEvaluator.expectation(shard, model: model, form: .whitened)
            #expect(quadratic.rows == whitened.rows && quadratic.weightTotal == whitened.weightTotal)
            #expect(relativeDifference([quadratic.logLikelihoodSum], [whitened.logLikelihoodSum]) < 1e-11)
            #expect(relativeDifference(quadratic.responsibilitySums, whitened.responsibilitySums) < 1e-10)
            #expect(relativeDifference(quadratic.moments, whitened.moments) < 1e-10)
            // The comparison can fail: the moments about another anchor differ.
            #expect(relativeDifference(quadratic.moments, ShardEvaluator.expectation(
                shard, model: try PreparedMixture(parameters, anchor: model.anchor.map { $0 + 1 }), form: .whitened).moments) > 1e-6)
        }
    }

    @Test("full and tied fits of wide rows take the whitened form; narrow and diagonal ones the quadratic")
    func formFollowsTheShape() {
        let wide = EStepForm.whitenedFromDimension
        #expect(EStepForm.choose(.full, dimension: wide) == .whitened)
        #expect(EStepForm.choose(.tied, dimension: wide + 100) == .whitened)
        #expect(EStepForm.choose(.full, dimension: wide - 1) == .quadratic)
        #expect(EStepForm.choose(.diag, dimension: 784) == .quadratic)
        #expect(EStepForm.choose(.spherical, dimension: 784) == .quadratic)
    }
}
