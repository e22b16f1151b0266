import Datasets
import Foundation
import Mixture
import Numerics
import Testing

@Suite("Model file and model API")
struct ModelTests {
    @Test("100,000 doubles of wide range survive the model file bit for bit")
    func modelFileRoundTripsDoublesExactly() throws {
        var generator = SeededGenerator(seed: 99)
        let k = 1000, d = 50
        var means = [Double]()
        for _ in 0..<(k * d) {
            let exponent = Double(generator.nextInt(below: 600)) - 300
            let sign: Double = generator.nextUniform() < 0.5 ? -1 : 1
            means.append(sign * generator.nextUniform() * Foundation.pow(10, exponent))
        }
        means[0] = .leastNonzeroMagnitude
        means[1] = -.greatestFiniteMagnitude
        means[2] = 0.1 + 0.2
        means[3] = -0.0
        let covariances = (0..<(k * d)).map { _ in generator.nextUniform() * 1e3 + Double.leastNormalMagnitude }
        let weights = [Double](repeating: 1 / Double(k), count: k)
        let parameters = try MixtureParameters(
            covarianceType: .diag, components: k, dimension: d, weights: weights, means: means, covariances: covariances)
        let decoded = try MixtureModelFile.decode(MixtureModelFile.encode(GaussianMixture(parameters: parameters)), source: "memory")
        #expect(decoded.parameters.means.map(\.bitPattern) == means.map(\.bitPattern))
        #expect(decoded.parameters.covariances.map(\.bitPattern) == covariances.map(\.bitPattern))
        #expect(decoded.parameters == parameters)
    }

    @Test("a fitted model reloads to an equal model and identical predictions")
    func fittedModelRoundTrips() throws {
        let generated = SyntheticMixture.generate(samples: 3000, features: 3, components: 3, seed: 5)
        let model = try GaussianMixture.fit(generated.features, options: FitOptions(components: 3))
        let reloaded = try MixtureModelFile.decode(MixtureModelFile.encode(model), source: "memory")
        #expect(reloaded == model)
        #expect(try reloaded.predictProbabilities(generated.features) == model.predictProbabilities(generated.features))
    }

    @Test("model files with missing fields or wrong shapes are refused, naming the problem")
    func badModelFilesAreRefused() throws {
        let generated = SyntheticMixture.generate(samples: 500, features: 2, components: 2, seed: 5)
        let model = try GaussianMixture.fit(generated.features, options: FitOptions(components: 2))
        let text = String(decoding: try MixtureModelFile.encode(model), as: UTF8.self)
        let missing = text.replacingOccurrences(of: "\"weights\"", with: "\"weightz\"")
        #expect {
            try MixtureModelFile.decode(Data(missing.utf8), source: "m.json")
        } throws: { error in
            "\(error)".contains("m.json") && "\(error)".contains("weights")
        }
        let wrongShape = text.replacingOccurrences(of: "\"n_features\" : 2", with: "\"n_features\" : 3")
        #expect {
            try MixtureModelFile.decode(Data(wrongShape.utf8), source: "m.json")
        } throws: { error in
            "\(error)".contains("means must be 2 rows of 3 numbers")
        }
        #expect(throws: ModelFileError.self) { try MixtureModelFile.decode(Data("{".utf8), source: "m.json") }
        var unnormalised = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        unnormalised["weights"] = [0.7, 0.7]
        #expect {
            try MixtureModelFile.decode(try JSONSerialization.data(withJSONObject: unnormalised), source: "m.json")
        } throws: { error in
            "\(error)".hasPrefix("m.json: ") && "\(error)".contains("sum to 1 (they sum to 1.4)")
        }
    }

    @Test("every initialisation recovers well-separated components", arguments: InitialisationMethod.allCases)
    func initialisationsRecoverComponents(method: InitialisationMethod) throws {
        let generated = SyntheticMixture.generate(samples: 4000, features: 3, components: 3, seed: 21)
        var options = FitOptions(components: 3)
        options.initialisation = method
        options.restarts = 3
        options.seed = 4
        let model = try GaussianMixture.fit(generated.features, options: options)
        let predicted = try model.predict(generated.features)
        var table = [[Int]](repeating: [0, 0, 0], count: 3)
        for (p, t) in zip(predicted, generated.labels) { table[p][t] += 1 }
        let agreement = Double(table.map { $0.max()! }.reduce(0, +)) / 4000
        #expect(agreement > 0.95)
        #expect(model.parameters.weights.reduce(0, +) > 1 - 1e-12)
    }

    @Test("the same seed gives the same model; a different seed may not")
    func seedsAreReproducible() throws {
        let data = SyntheticMixture.generate(samples: 2000, features: 4, components: 5, seed: 8).features
        var options = FitOptions(components: 5)
        options.seed = 17
        let a = try MixtureModelFile.encode(GaussianMixture.fit(data, options: options))
        let b = try MixtureModelFile.encode(GaussianMixture.fit(data, options: options))
        #expect(a == b)
    }

    @Test("a collapsed component is reported with its number and a remedy")
    func notPositiveDefiniteIsNamed() throws {
        // Component 1's covariance is singular (a zero eigenvalue) and no regularisation is added.
        let parameters = try MixtureParameters(
            covarianceType: .full, components: 2, dimension: 2, weights: [0.5, 0.5], means: [0, 0, 5, 5],
            covariances: [1, 0, 0, 1, 1, 1, 1, 1])
        #expect(throws: MixtureError.notPositiveDefinite(component: 1, covarianceType: .full)) {
            try PreparedMixture(parameters)
        }
        let message = "\(MixtureError.notPositiveDefinite(component: 1, covarianceType: .full))"
        #expect(message.contains("component 1") && message.contains("--reg-covar"))

        // Duplicated points with reg_covar 0 collapse during the fit itself.
        let rows = FeatureMatrix(rows: 6, columns: 2, values: [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
        var options = FitOptions(components: 2)
        options.regularization = 0
        #expect(throws: MixtureError.self) { try GaussianMixture.fit(rows, options: options) }
    }

    @Test("fewer rows than components is refused")
    func tooFewRows() throws {
        let rows = FeatureMatrix(rows: 2, columns: 2, values: [0, 1, 2, 3])
        #expect(throws: MixtureError.invalidData("the data has 2 rows, fewer than the 3 components asked for")) {
            try GaussianMixture.fit(rows, options: FitOptions(components: 3))
        }
    }

    @Test("BIC and AIC follow their definitions; sampling reproduces the mixture")
    func criteriaAndSampling() throws {
        let parameters = try MixtureParameters(
            covarianceType: .full, components: 2, dimension: 2, weights: [0.3, 0.7], means: [-4, 0, 4, 1],
            covariances: [1, 0.3, 0.3, 0.5, 0.7, -0.2, -0.2, 1.2])
        let model = GaussianMixture(parameters: parameters)
        let drawn = try model.sample(count: 40000, seed: 3)
        #expect(try model.sample(count: 100, seed: 3).features == model.sample(count: 100, seed: 3).features)
        let score = try model.score(drawn.features)
        let n = 40000.0, p = Double(CovarianceType.full.freeParameters(components: 2, dimension: 2))
        #expect(p == 11)
        #expect(abs(try model.bic(drawn.features) - (-2 * score * n + p * log(n))) < 1e-6)
        #expect(abs(try model.aic(drawn.features) - (-2 * score * n + 2 * p)) < 1e-6)
        let share = Double(drawn.labels.filter { $0 == 1 }.count) / n
        #expect(abs(share - 0.7) < 0.01)
        var options = FitOptions(components: 2)
        options.tolerance = 1e-8
        let refit = try GaussianMixture.fit(drawn.features, options: options)
        let order = refit.parameters.means[0] < 0 ? [0, 1] : [1, 0]
        #expect(abs(refit.parameters.weights[order[1]] - 0.7) < 0.01)
        #expect(abs(refit.parameters.covariances[order[1] * 4 + 1] - (-0.2)) < 0.03)
    }
}
