import Datasets
import Foundation
import Mixture
import Testing

/// What the Python package (`python/emfleet`) asks of the binary beyond the tour: each row's
/// log-likelihood for `score_samples`, the start alone (`max_iter=0`) and parts of a start given
/// (`weights_init`, `means_init`, `precisions_init` alone).
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

    private func generated(_ scratch: ScratchDirectory) throws -> String {
        let data = scratch.path("data.npy")
        let result = try EmfleetBinary.run(["data", "generate", "--samples", "1500", "--features", "2", "--components", "3",
                                            "--seed", "8", "--out", data])
        #expect(result.status == 0, "\(result.stderr)")
        return data
    }

    @Test(arguments: ["kmeans", "random-from-data"])
    func initialiseOnlyWritesTheStartTheFitBeginsFrom(initialisation: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generated(scratch)
        let common = ["gmm", "fit", "--data", data, "--components", "3", "--init", initialisation, "--seed", "6", "--quiet"]
        let start = try EmfleetBinary.run(common + ["--initialise-only", "--out", scratch.path("start.json")])
        #expect(start.status == 0, "\(start.stderr)")
        let model = try MixtureModelFile.read(from: scratch.path("start.json"))
        #expect(model.iterations == 0 && !model.converged && model.logLikelihoodHistory.isEmpty)
        // EM from that file is the fit from the --init start, iteration for iteration.
        let fromStart = try EmfleetBinary.run(common + ["--max-iter", "3", "--init-model", scratch.path("start.json"), "--out", scratch.path("a.json")])
        let direct = try EmfleetBinary.run(common + ["--max-iter", "3", "--out", scratch.path("b.json")])
        #expect(fromStart.status == 0 && direct.status == 0, "\(fromStart.stderr)\(direct.stderr)")
        let a = try MixtureModelFile.read(from: scratch.path("a.json")), b = try MixtureModelFile.read(from: scratch.path("b.json"))
        #expect(a.parameters.means == b.parameters.means && a.parameters.covariances == b.parameters.covariances)
        #expect(a.logLikelihoodHistory == b.logLikelihoodHistory)
    }

    @Test func initGivenReplacesOnlyTheGivenParts() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generated(scratch)
        let common = ["gmm", "fit", "--data", data, "--components", "3", "--covariance", "diag", "--seed", "2", "--quiet", "--initialise-only"]
        let plain = try EmfleetBinary.run(common + ["--out", scratch.path("plain.json")])
        #expect(plain.status == 0, "\(plain.stderr)")
        let means: [[Double]] = [[-1, 0.5], [2, 2], [0.25, -3]]
        try JSONSerialization.data(withJSONObject: ["means": means]).write(to: URL(fileURLWithPath: scratch.path("given.json")))
        let given = try EmfleetBinary.run(common + ["--init-given", scratch.path("given.json"), "--out", scratch.path("given-start.json")])
        #expect(given.status == 0, "\(given.stderr)")
        let before = try MixtureModelFile.read(from: scratch.path("plain.json")).parameters
        let after = try MixtureModelFile.read(from: scratch.path("given-start.json")).parameters
        #expect(after.means == means.flatMap { $0 })
        #expect(after.weights == before.weights && after.covariances == before.covariances)
        #expect(before.means != after.means)
    }

    @Test func initGivenOfTheWrongSizeIsOneLineNamingTheFileAndField() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generated(scratch)
        try Data(#"{"weights": [0.5, 0.5]}"#.utf8).write(to: URL(fileURLWithPath: scratch.path("given.json")))
        let result = try EmfleetBinary.run(["gmm", "fit", "--data", data, "--components", "3", "--init-given", scratch.path("given.json"),
                                            "--out", scratch.path("m.json")])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(result.stderr.contains("given.json") && result.stderr.contains("weights must be 3 numbers"))
    }
}
