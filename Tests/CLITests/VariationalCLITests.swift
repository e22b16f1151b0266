import Cluster
import Datasets
import Engine
import Foundation
import Mixture
import Testing

/// End-to-end tests of `emfleet gmm fit --variational` through the real binary.
@Suite("emfleet gmm fit --variational (CLI)")
struct VariationalCLITests {
    static let faithful = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/faithful.npy").path

    private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func fitPrintsEffectiveComponentsAndTheModelPredictsAsInProcess() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let model = scratch.path("vb.json")
        let fit = try EmfleetBinary.run([
            "gmm", "fit", "--data", Self.faithful, "--components", "10", "--variational", "dirichlet-process", "--out", model,
            "--report", scratch.path("report"),
        ])
        #expect(fit.status == 0, "\(fit.stderr)")
        let lines = fit.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("fitting 10 full components by variational Bayes (dirichlet-process prior) to 272 rows × 2 features") == true)
        #expect(lines.dropFirst().first == "start  iter            lower bound       change   seconds")
        #expect(fit.stdout.contains("effective components: 2 of 10 (expected weight at least 0.01)"), "\(fit.stdout)")
        let fitted = try MixtureModelFile.read(from: model)
        #expect(fitted.variational?.effectiveComponents == 2)
        #expect(lines.filter { $0.hasPrefix("    1 ") }.count == fitted.iterations)
        let page = String(decoding: try bytes(scratch.path("report/index.html")), as: UTF8.self)
        #expect(page.components(separatedBy: "<rect class=\"bar\"").count - 1 == 10)
        #expect(page.contains("class=\"threshold\"") && page.contains("Evidence lower bound per iteration"))
        #expect(page.components(separatedBy: "<ellipse class=\"ellipse").count - 1 == 2)  // the effective components only

        let matrix = try DatasetLoader.load(path: Self.faithful).features
        let predict = try EmfleetBinary.run(["gmm", "predict", "--model", model, "--data", Self.faithful, "--out", scratch.path("p.csv"), "--proba"])
        #expect(predict.status == 0, "\(predict.stderr)")
        #expect(try CSVReader.read(path: scratch.path("p.csv")).features.doubles() == (try fitted.predictProbabilities(matrix)))
        let score = try EmfleetBinary.run(["gmm", "score", "--model", model, "--data", Self.faithful, "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(score.stdout.utf8)) as? [String: Any]
        // As for EM (GMMCLITests): the JSON line carries the number in decimal.
        let printed = try #require(report?["mean_log_likelihood"] as? Double), expected = try fitted.score(matrix)
        #expect(abs(printed - expected) <= 1e-12 * abs(expected), "gmm score printed \(printed), in process \(expected)")
        // No BIC or AIC for a variational model: its lower bound instead.
        #expect(report?["bic"] == nil && report?["aic"] == nil, "\(score.stdout)")
        #expect(report?["lower_bound"] as? Double == fitted.lowerBound)
        let scoreText = try EmfleetBinary.run(["gmm", "score", "--model", model, "--data", Self.faithful])
        #expect(scoreText.stdout.contains("lower bound (fit)") && !scoreText.stdout.contains("BIC  "), "\(scoreText.stdout)")
        // The JSON log names the measure of a variational fit.
        let logged = try EmfleetBinary.run([
            "gmm", "fit", "--data", Self.faithful, "--components", "3", "--variational", "dirichlet-process", "--max-iter", "3",
            "--out", scratch.path("logged.json"), "--log-format", "json", "--quiet",
        ])
        let iterations = logged.stdout.split(separator: "\n").filter { $0.contains("\"event\":\"iteration\"") }
        #expect(!iterations.isEmpty && iterations.allSatisfy { $0.contains("\"lower_bound\"") && !$0.contains("\"log_likelihood\"") },
                "\(logged.stdout)")
        let sample = try EmfleetBinary.run(["gmm", "sample", "--model", model, "--count", "100", "--out", scratch.path("s.npy")])
        #expect(sample.status == 0, "\(sample.stderr)")
    }

    @Test(arguments: ["dirichlet-process", "dirichlet-distribution"])
    func modelFileIsByteIdenticalOnTwoWorkers(prior: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let common = ["gmm", "fit", "--data", Self.faithful, "--components", "6", "--covariance", "diag", "--variational", prior,
                      "--shards", "4", "--quiet"]
        let local = try EmfleetBinary.run(common + ["--out", scratch.path("local.json")])
        let workers = try EmfleetBinary.run(common + ["--out", scratch.path("workers.json"), "--workers", "2"])
        #expect(local.status == 0 && workers.status == 0, "\(local.stderr)\(workers.stderr)")
        #expect(try bytes(scratch.path("local.json")) == (try bytes(scratch.path("workers.json"))))
    }

    @Test func resumeContinuesToTheBytesOfAnUninterruptedFit() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let common = ["gmm", "fit", "--data", Self.faithful, "--components", "5", "--variational", "dirichlet-distribution",
                      "--shards", "3", "--quiet"]
        let whole = try EmfleetBinary.run(common + ["--out", scratch.path("whole.json")])
        #expect(whole.status == 0, "\(whole.stderr)")
        // The checkpoint a stopped run leaves after its fourth update, written in process with the CLI's options.
        let data = try DatasetLoader.load(path: Self.faithful).features
        var options = FitOptions(components: 5)
        options.covarianceType = .full
        let fitter = VariationalMixtureFitter(
            runner: LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: 3), threads: 2), options: options,
            variational: VariationalOptions(weightPriorType: .dirichletDistribution))
        var saved: VariationalCheckpoint?
        _ = try fitter.fit(checkpoint: { if $0.history.count == 4 { saved = $0 } })
        var state = try #require(saved)
        state.dataFingerprint = try DataFingerprint.of(path: Self.faithful)
        try state.write(to: scratch.path("stopped.checkpoint"))
        let resumed = try EmfleetBinary.run(common + ["--out", scratch.path("resumed.json"), "--resume", scratch.path("stopped.checkpoint")])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try bytes(scratch.path("resumed.json")) == (try bytes(scratch.path("whole.json"))))
        #expect(try MixtureModelFile.read(from: scratch.path("whole.json")).iterations > 4)
        // An EM fit refuses the variational checkpoint in one line.
        let refused = try EmfleetBinary.run(["gmm", "fit", "--data", Self.faithful, "--components", "5", "--quiet",
                                             "--out", scratch.path("em.json"), "--resume", scratch.path("stopped.checkpoint")])
        #expect(refused.status == 1 && refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
    }

    @Test("--init-model with --variational goes on from a variational model: 5 iterations on from 5 give the model of 10, on any workers")
    func initModelGoesOnFromAVariationalModel() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let common = ["gmm", "fit", "--data", Self.faithful, "--components", "4", "--variational", "dirichlet-process", "--tol", "0", "--quiet"]
        for (iterations, name) in [("10", "whole"), ("5", "five")] {
            let fit = try EmfleetBinary.run(common + ["--max-iter", iterations, "--out", scratch.path("\(name).json")])
            #expect(fit.status == 0, "\(fit.stderr)")
        }
        for (workers, name) in [([String](), "rest"), (["--workers", "2"], "rest-w2")] {
            let fit = try EmfleetBinary.run(common + workers + ["--max-iter", "5", "--init-model", scratch.path("five.json"), "--out", scratch.path("\(name).json")])
            #expect(fit.status == 0, "\(fit.stderr)")
        }
        #expect(try bytes(scratch.path("rest.json")) == (try bytes(scratch.path("rest-w2.json"))))
        let rest = try MixtureModelFile.read(from: scratch.path("rest.json")), whole = try MixtureModelFile.read(from: scratch.path("whole.json"))
        #expect(rest.variational != nil && rest.variational == whole.variational)
        #expect(rest.parameters == whole.parameters)
        #expect(rest.logLikelihoodHistory == Array(whole.logLikelihoodHistory.suffix(5)))
        // An EM model, another weight prior or another shape are one error line.
        let em = try EmfleetBinary.run(["gmm", "fit", "--data", Self.faithful, "--components", "4", "--quiet", "--out", scratch.path("em.json")])
        #expect(em.status == 0, "\(em.stderr)")
        let refusals: [([String], String)] = [
            (common + ["--init-model", scratch.path("em.json")], "is a mixture fitted by EM; a variational fit goes on from a variational model"),
            (["gmm", "fit", "--data", Self.faithful, "--components", "4", "--variational", "dirichlet-distribution", "--init-model", scratch.path("five.json")],
             "was fitted with a dirichlet_process weight prior; this fit asks for dirichlet_distribution"),
            (["gmm", "fit", "--data", Self.faithful, "--components", "3", "--variational", "dirichlet-process", "--init-model", scratch.path("five.json")],
             "has 4 components (full) over 2 features, but this fit asks for 3"),
        ]
        for (arguments, message) in refusals {
            let result = try EmfleetBinary.run(arguments + ["--out", scratch.path("refused.json")])
            #expect(result.status == 1 && result.stderr.contains(message) && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path("refused.json")))
        }
    }

    @Test func badPriorsAreOneErrorLineBeforeAnyWork() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let base = ["gmm", "fit", "--data", Self.faithful, "--components", "3", "--out", scratch.path("m.json")]
        let cases: [([String], String)] = [
            (["--mean-prior", "1,2"], "--mean-prior is a prior of a variational fit; give --variational too"),
            (["--variational", "dirichlet-process", "--mean-prior", "1,2,3"], "--mean-prior has 3 numbers; the data has 2 features"),
            (["--variational", "dirichlet-process", "--mean-prior", "1,x"], "--mean-prior: \"x\" is not a number"),
            (["--variational", "dirichlet-process", "--degrees-of-freedom-prior", "0.5"], "--degrees-of-freedom-prior must be greater than 1"),
            (["--variational", "dirichlet-process", "--covariance-prior", "1,0,0,-1"], "--covariance-prior must be a symmetric positive-definite 2×2 matrix"),
            (["--variational", "dirichlet-process", "--weight-concentration-prior=-1"], "--weight-concentration-prior must be a positive number"),
        ]
        for (extra, message) in cases {
            let result = try EmfleetBinary.run(base + extra)
            #expect(result.status != 0 && result.stderr.contains(message), "\(extra): \(result.stderr)")
            #expect(result.stdout.isEmpty, "\(extra) printed \(result.stdout)")
        }
    }
}
