import Datasets
import Foundation
import Mixture
import Testing

/// What the Python package (`python/emfleet`) asks of the binary beyond the tour: each row's
/// log-likelihood for `score_samples`.
@Suite("emfleet for the Python estimators (CLI)")
struct PythonFacingCLITests {
    @Test(arguments: ["full", "diag"])
    func predictWritesEachRowsLogLikelihood(covariance: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = scratch.path("data.npy"), model = scratch.path("model.json")
        let generate = try EmfleetBinary.run(["data", "generate", "--samples", "2000", "--features", "3", "--components", "3",
                                              "--seed", "4", "--out", data])
        #expect(generate.status == 0, "\(generate.stderr)")
        let fit = try EmfleetBinary.run(["gmm", "fit", "--data", data, "--components", "3", "--covariance", covariance,
                                         "--seed", "1", "--quiet", "--out", model])
        #expect(fit.status == 0, "\(fit.stderr)")
        let predict = try EmfleetBinary.run(["gmm", "predict", "--model", model, "--data", data,
                                             "--out", scratch.path("ll.npy"), "--log-likelihood"])
        #expect(predict.status == 0, "\(predict.stderr)")
        #expect(predict.stdout.contains("wrote log-likelihoods for 2000 rows"))
        let written = try NPYReader(path: scratch.path("ll.npy"))
        #expect(written.rows == 2000 && written.columns == 1)
        let fitted = try MixtureModelFile.read(from: model)
        let matrix = try DatasetLoader.load(path: data).features
        let expected = try fitted.scoreSamples(matrix)
        let values = try written.readAll().doubles()
        #expect(values.count == expected.count)
        #expect(zip(values, expected).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) })
        // Their mean is the mean log-likelihood `gmm score` prints.
        #expect(abs(values.reduce(0, +) / 2000 - (try fitted.score(matrix))) <= 1e-10)
    }

    @Test func probabilitiesAndLogLikelihoodsAreOneFileEach() throws {
        let result = try EmfleetBinary.run(["gmm", "predict", "--model", "m.json", "--data", "x.npy", "--out", "o.npy",
                                            "--proba", "--log-likelihood"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--proba and --log-likelihood write different files: choose one"))
    }
}
