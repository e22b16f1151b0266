import Datasets
import DeepMixture
import Foundation
import Numerics
import Testing

/// End-to-end tests of `emfleet dagmm …` through the real binary.
@Suite("emfleet dagmm (CLI)")
struct DAGMMCLITests {
    /// 300 rows of a 2-component mixture in 5 columns (also alone in normal.npy), then 20 rows far
    /// from it; labels 0 and 1.
    private func write(_ scratch: ScratchDirectory) throws -> (data: String, labels: String) {
        let normal = SyntheticMixture.generate(samples: 300, features: 5, components: 2, seed: 9).features
        var generator = SeededGenerator(seed: 2)
        var values = normal.doubles()
        for _ in 0..<20 { values += (0..<5).map { _ in 12 + 4 * generator.nextUniform() } }
        try NPYWriter.write(normal, to: scratch.path("normal.npy"))
        try NPYWriter.write(FeatureMatrix(rows: 320, columns: 5, values: values), to: scratch.path("data.npy"))
        try NPYWriter.writeIntegers(Array(repeating: 0, count: 300) + Array(repeating: 1, count: 20), to: scratch.path("labels.npy"))
        return (scratch.path("data.npy"), scratch.path("labels.npy"))
    }

    private static let fit = ["--components", "2", "--encoder", "8,2", "--estimator", "6", "--epochs", "30", "--batch-size", "64",
                              "--lr", "0.003", "--seed", "4", "--shards", "4"]

    @Test("fit on 2 local workers writes the bytes of the one-process fit; score, flags, evaluate and the report agree with the model")
    func fitScoreEvaluateOnWorkers() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (data, labels) = try write(scratch)
        let normal = scratch.path("normal.npy")
        let here = try EmfleetBinary.run(["dagmm", "fit", "--data", normal, "--out", scratch.path("here.json"), "--report", scratch.path("report")] + Self.fit)
        #expect(here.status == 0, "\(here.stderr)")
        #expect(here.stdout.contains("trained 30 epochs; loss"))
        let workers = try EmfleetBinary.run(["dagmm", "fit", "--data", normal, "--out", scratch.path("workers.json"), "--workers", "2"] + Self.fit)
        #expect(workers.status == 0, "\(workers.stderr)")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.path("here.json")))
        #expect(bytes == (try Data(contentsOf: URL(fileURLWithPath: scratch.path("workers.json")))))
        let model = try DAGMMModelFile.read(from: scratch.path("here.json"))
        #expect(model.history.count == 30 && model.history.last!.loss < model.history.first!.loss)

        let html = try String(contentsOfFile: scratch.path("report/index.html"), encoding: .utf8)
        for part in ["id=\"loss\"", "id=\"energies\"", "class=\"marker\"", "id=\"latent\"", "class=\"bin\""] {
            #expect(html.contains(part), "the report lacks \(part)")
        }

        let score = try EmfleetBinary.run(["dagmm", "score", "--model", scratch.path("here.json"), "--data", data, "--out", scratch.path("e.npy"),
                                           "--threshold-quantile", "0.9", "--flags", scratch.path("flags.npy"), "--workers", "2"])
        #expect(score.status == 0, "\(score.stderr)")
        let energies = try NPYReader(path: scratch.path("e.npy")).readAll().doubles()
        let flags = try NPYReader(path: scratch.path("flags.npy")).readIntegerLabels()
        #expect(energies.count == 320 && flags.count == 320)
        let threshold = model.threshold(quantile: 0.9)
        #expect(flags == energies.map { $0 > threshold ? 1 : 0 })
        #expect(score.stdout.contains("\(flags.reduce(0, +)) of 320 rows flagged"))
        // Most far rows are more anomalous than 95% of the normal ones.
        #expect(energies[300...].sorted()[10] > energies[..<300].sorted()[285])

        let evaluate = try EmfleetBinary.run(["dagmm", "evaluate", "--model", scratch.path("here.json"), "--data", data, "--labels", labels, "--json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        let result = try JSONSerialization.jsonObject(with: Data(evaluate.stdout.utf8)) as! [String: Any]
        let expected = try #require(AnomalyEvaluation(scores: energies, anomalous: (0..<320).map { $0 >= 300 }))
        #expect(abs((result["f1"] as? Double ?? -1) - expected.f1) < 1e-12)
        #expect(abs((result["average_precision"] as? Double ?? -1) - expected.averagePrecision) < 1e-12)
        #expect(result["anomalies"] as? Int == 20)
    }

    @Test("bad input fails before any work with one line naming what is wrong")
    func badInput() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (data, labels) = try write(scratch)
        let fitCases: [([String], String)] = [
            (["--components", "0"], "--components must be at least 1"),
            (["--components", "2", "--encoder", "8,0"], "--encoder"),
            (["--components", "2", "--dropout", "1"], "--dropout must be in [0, 1)"),
            (["--components", "2", "--lr", "0"], "--lr must be positive"),
            (["--components", "2", "--energy-weight=-1"], "must not be negative"),
            (["--components", "2", "--threshold-quantile", "2"], "--threshold-quantile must be in [0, 1]"),
            (["--components", "400"], "--components 400 is more than the 320 rows of the data"),
        ]
        for (extra, expected) in fitCases {
            let result = try EmfleetBinary.run(["dagmm", "fit", "--data", data, "--out", scratch.path("m.json")] + extra)
            #expect(result.status != 0, "\(extra)")
            #expect(result.stderr.contains(expected), "\(extra): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path("m.json")))
        }
        let fit = try EmfleetBinary.run(["dagmm", "fit", "--data", data, "--out", scratch.path("m.json")] + Self.fit)
        #expect(fit.status == 0, "\(fit.stderr)")
        try NPYWriter.write(FeatureMatrix(rows: 3, columns: 4, values: Array(repeating: 1, count: 12)), to: scratch.path("narrow.npy"))
        try NPYWriter.writeIntegers([0, 1], to: scratch.path("short.npy"))
        try NPYWriter.writeIntegers(Array(repeating: 0, count: 320), to: scratch.path("none.npy"))
        let gmm = try EmfleetBinary.run(["gmm", "fit", "--data", data, "-c", "2", "--out", scratch.path("gmm.json")])
        #expect(gmm.status == 0, "\(gmm.stderr)")
        let applyCases: [([String], String)] = [
            (["score", "--model", scratch.path("m.json"), "--data", scratch.path("narrow.npy")], "has 5 features; \(scratch.path("narrow.npy")) has 4"),
            (["score", "--model", scratch.path("gmm.json"), "--data", data], "is a Gaussian mixture model: use `emfleet gmm predict`"),
            (["score", "--model", scratch.path("m.json"), "--data", data, "--flags", scratch.path("f.npy")], "--flags needs --threshold-quantile"),
            (["score", "--model", scratch.path("m.json"), "--data", data, "--out", scratch.path("e.bin")], "is written as .npy, .csv or .txt"),
            (["evaluate", "--model", scratch.path("m.json"), "--data", data, "--labels", scratch.path("short.npy")], "has 2 labels; "),
            (["evaluate", "--model", scratch.path("m.json"), "--data", data, "--labels", scratch.path("none.npy")], "must mark some rows anomalous"),
            (["evaluate", "--model", scratch.path("m.json"), "--data", data, "--labels", data], "expected a 1-D array"),
            (["evaluate", "--model", scratch.path("missing.json"), "--data", data, "--labels", labels], "missing.json: cannot read the file"),
        ]
        for (arguments, expected) in applyCases {
            let result = try EmfleetBinary.run(["dagmm"] + arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count <= 3, "\(arguments): \(result.stderr)")
        }
    }

    @Test("--missing mean: the training means fill the gaps of rows to score; evaluate --json --report prints one JSON object")
    func missingValuesAndJSON() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (data, labels) = try write(scratch)
        var values = try NPYReader(path: data).readAll().doubles()
        values[3 * 5 + 2] = .nan
        try NPYWriter.write(FeatureMatrix(rows: 320, columns: 5, values: values), to: scratch.path("gaps.npy"))
        let fit = try EmfleetBinary.run(["dagmm", "fit", "--data", scratch.path("gaps.npy"), "--missing", "mean", "--out", scratch.path("m.json"),
                                         "--quiet"] + Self.fit)
        #expect(fit.status == 0, "\(fit.stderr)")
        let model = try DAGMMModelFile.read(from: scratch.path("m.json"))
        let means = try #require(model.imputationMeans)
        let observed = (0..<320).filter { $0 != 3 }.map { values[$0 * 5 + 2] }
        #expect(abs(means[2] - observed.reduce(0, +) / Double(observed.count)) < 1e-12)
        let score = try EmfleetBinary.run(["dagmm", "score", "--model", scratch.path("m.json"), "--data", scratch.path("gaps.npy"),
                                           "--missing", "mean", "--out", scratch.path("e.npy")])
        #expect(score.status == 0, "\(score.stderr)")
        // The gap is filled with the training mean: the row scores as if that value were in the file.
        values[3 * 5 + 2] = means[2]
        try NPYWriter.write(FeatureMatrix(rows: 320, columns: 5, values: values), to: scratch.path("filled.npy"))
        let filled = try EmfleetBinary.run(["dagmm", "score", "--model", scratch.path("m.json"), "--data", scratch.path("filled.npy"),
                                            "--out", scratch.path("f.npy")])
        #expect(filled.status == 0, "\(filled.stderr)")
        #expect(try NPYReader(path: scratch.path("e.npy")).readAll().doubles() == NPYReader(path: scratch.path("f.npy")).readAll().doubles())

        let evaluate = try EmfleetBinary.run(["dagmm", "evaluate", "--model", scratch.path("m.json"), "--data", scratch.path("filled.npy"),
                                              "--labels", labels, "--json", "--report", scratch.path("report")])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        let lines = evaluate.stdout.split(separator: "\n")
        #expect(lines.count == 1)
        #expect((try? JSONSerialization.jsonObject(with: Data(lines.first.map(String.init)?.utf8 ?? "".utf8))) as? [String: Any] != nil)
        #expect(FileManager.default.fileExists(atPath: scratch.path("report/index.html")))
    }
}
