import Cluster
import Datasets
import Engine
import Foundation
import Mixture
import Numerics
import Testing

/// `--sample-weight` and `--weight-column` through the real binary: one process and workers
/// give the same bytes; bad weights stop before any work with one line.
@Suite("Sample weights (CLI)")
struct SampleWeightCLITests {
    /// A seeded dataset and integer weights 0 to 3, one per row.
    private func generate(_ scratch: ScratchDirectory, rows: Int = 3000) throws -> (data: String, weights: String, values: [Double]) {
        let data = scratch.path("data.npy")
        let result = try EmfleetBinary.run([
            "data", "generate", "--samples", "\(rows)", "--features", "3", "--components", "3", "--seed", "5", "--out", data,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        var generator = SeededGenerator(seed: 17)
        let values = (0..<rows).map { _ in Double(generator.nextInt(below: 4)) }
        let weights = scratch.path("weights.npy")
        try NPYWriter.writeVector(values, to: weights)
        return (data, weights, values)
    }

    private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test("gmm fit --sample-weight: the same model bytes in one process, on 2 workers and with streamed rows")
    func gmmFitOnWorkers() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (data, weights, _) = try generate(scratch)
        let common = ["gmm", "fit", "--data", data, "--sample-weight", weights, "--components", "3", "--seed", "4", "--shards", "5", "--quiet"]
        let local = try EmfleetBinary.run(common + ["--out", scratch.path("local.json")])
        #expect(local.status == 0, "\(local.stderr)")
        let workers = try EmfleetBinary.run(common + ["--workers", "2", "--out", scratch.path("workers.json")])
        #expect(workers.status == 0, "\(workers.stderr)")
        let streamed = try EmfleetBinary.run(common + ["--workers", "2", "--stream-data", "--out", scratch.path("streamed.json")])
        #expect(streamed.status == 0, "\(streamed.stderr)")
        #expect(try bytes(scratch.path("local.json")) == (try bytes(scratch.path("workers.json"))))
        #expect(try bytes(scratch.path("local.json")) == (try bytes(scratch.path("streamed.json"))))
        let unweighted = try EmfleetBinary.run(["gmm", "fit", "--data", data, "--components", "3", "--seed", "4", "--shards", "5", "--quiet",
                                                "--out", scratch.path("plain.json")])
        #expect(unweighted.status == 0)
        #expect(try bytes(scratch.path("local.json")) != (try bytes(scratch.path("plain.json"))))
    }

    @Test("gmm select --sample-weight: the same choice and model bytes in one process and on 2 workers")
    func gmmSelectOnWorkers() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (data, weights, _) = try generate(scratch, rows: 1500)
        let common = ["gmm", "select", "--data", data, "--sample-weight", weights, "--components", "1...4", "--seed", "2", "--quiet"]
        let local = try EmfleetBinary.run(common + ["--out", scratch.path("local.json"), "--table", scratch.path("local.csv")])
        #expect(local.status == 0, "\(local.stderr)")
        let workers = try EmfleetBinary.run(common + ["--workers", "2", "--out", scratch.path("workers.json"), "--table", scratch.path("workers.csv")])
        #expect(workers.status == 0, "\(workers.stderr)")
        #expect(try bytes(scratch.path("local.json")) == (try bytes(scratch.path("workers.json"))))
        let table = try CSVReader.read(path: scratch.path("local.csv"), options: CSVOptions(columns: ["bic"]))
        let plain = try EmfleetBinary.run(["gmm", "select", "--data", data, "--components", "1...4", "--seed", "2", "--quiet",
                                           "--out", scratch.path("plain.json"), "--table", scratch.path("plain.csv")])
        #expect(plain.status == 0)
        let plainTable = try CSVReader.read(path: scratch.path("plain.csv"), options: CSVOptions(columns: ["bic"]))
        #expect(table.features.doubles() != plainTable.features.doubles())
    }

    @Test("gmm score --sample-weight reports Σ w log p / Σ w and the total weight")
    func gmmScoreWeighted() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (data, weights, values) = try generate(scratch, rows: 600)
        let model = scratch.path("m.json")
        #expect(try EmfleetBinary.run(["gmm", "fit", "--data", data, "--components", "2", "--out", model, "--quiet"]).status == 0)
        let score = try EmfleetBinary.run(["gmm", "score", "--model", model, "--data", data, "--sample-weight", weights, "--json"])
        #expect(score.status == 0, "\(score.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(score.stdout.utf8)) as? [String: Any]
        let fitted = try MixtureModelFile.read(from: model)
        let perRow = try fitted.scoreSamples(try DatasetLoader.load(path: data).features)
        let total = values.reduce(0, +)
        let expected = zip(perRow, values).map { $0 * $1 }.reduce(0, +) / total
        let mean = try #require(report?["mean_log_likelihood"] as? Double)
        #expect(abs(mean - expected) <= 1e-10 * abs(expected))
        #expect(report?["total_weight"] as? Double == total)
        let plain = try EmfleetBinary.run(["gmm", "score", "--model", model, "--data", data, "--json"])
        #expect(!plain.stdout.contains("total_weight"))
    }

    @Test("--weight-column on text data is the weight file's model, and the column is not a feature")
    func weightColumnOnText() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (data, weights, values) = try generate(scratch, rows: 800)
        let rows = try DatasetLoader.load(path: data).features.doubles()
        var text = "a,b,w,c\n"
        for i in 0..<800 {
            text += "\(rows[3 * i]),\(rows[3 * i + 1]),\(values[i]),\(rows[3 * i + 2])\n"
        }
        let csv = scratch.path("data.csv")
        try text.write(toFile: csv, atomically: true, encoding: .utf8)
        let common = ["gmm", "fit", "--components", "3", "--seed", "1", "--quiet"]
        let column = try EmfleetBinary.run(common + ["--data", csv, "--weight-column", "w", "--out", scratch.path("column.json")])
        #expect(column.status == 0, "\(column.stderr)")
        let file = try EmfleetBinary.run(common + ["--data", data, "--sample-weight", weights, "--out", scratch.path("file.json")])
        #expect(file.status == 0, "\(file.stderr)")
        let a = try MixtureModelFile.read(from: scratch.path("column.json")), b = try MixtureModelFile.read(from: scratch.path("file.json"))
        #expect(a.parameters == b.parameters)
        let workers = try EmfleetBinary.run(common + ["--data", csv, "--weight-column", "w", "--workers", "2", "--out", scratch.path("w.json")])
        #expect(workers.status == 0, "\(workers.stderr)")
        #expect(try bytes(scratch.path("column.json")) == (try bytes(scratch.path("w.json"))))
        let both = try EmfleetBinary.run(common + ["--data", csv, "--weight-column", "w", "--sample-weight", weights, "--out", scratch.path("x.json")])
        #expect(both.status != 0 && both.stderr.contains("use one"))
    }

    @Test("bad weights stop gmm fit with one line naming the file (and the row)", arguments: [false, true])
    func badWeights(onWorkers: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (data, _, _) = try generate(scratch, rows: 200)
        let cases: [(String, String)] = [
            ("short.txt", "has 199 weights but \(data) has 200 rows"),
            ("negative.txt", "line 5: weight -2.0 is negative"),
            ("zero.txt", "every sample weight is zero"),
        ]
        try (Array(repeating: "1", count: 199).joined(separator: "\n")).write(toFile: scratch.path("short.txt"), atomically: true, encoding: .utf8)
        try (["1", "1", "1", "1", "-2"] + Array(repeating: "1", count: 195)).joined(separator: "\n")
            .write(toFile: scratch.path("negative.txt"), atomically: true, encoding: .utf8)
        try (Array(repeating: "0", count: 200).joined(separator: "\n")).write(toFile: scratch.path("zero.txt"), atomically: true, encoding: .utf8)
        for (name, message) in cases {
            let result = try EmfleetBinary.run(["gmm", "fit", "--data", data, "--sample-weight", scratch.path(name), "--components", "2",
                                                "--out", scratch.path("m.json")] + (onWorkers ? ["--workers", "2", "--shards", "2"] : []))
            #expect(result.status != 0)
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains(scratch.path(name)) && lines[0].contains(message), "\(result.stderr)")
        }
    }

    @Test("a checkpoint of a weighted fit resumes with the same weights and is refused with others")
    func resumeChecksWeights() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (data, weights, values) = try generate(scratch, rows: 600)
        let common = ["gmm", "fit", "--data", data, "--components", "3", "--max-iter", "4", "--tol", "0", "--seed", "4", "--quiet"]
        let whole = try EmfleetBinary.run(common + ["--sample-weight", weights, "--out", scratch.path("whole.json")])
        #expect(whole.status == 0, "\(whole.stderr)")
        // The checkpoint the same fit writes after its second iteration, made in process.
        var options = FitOptions(components: 3)
        options.maxIterations = 4
        options.tolerance = 0
        options.seed = 4
        let matrix = try DatasetLoader.load(path: data).features
        let runner = LocalShards(data: matrix, weights: values, plan: ShardPlan(rows: 600, shards: 1), threads: 1)
        let checkpoint = scratch.path("fit.checkpoint")
        let fingerprint = try DataFingerprint.of(path: data) + " weights " + DataFingerprint.of(path: weights)
        _ = try MixtureFitter(runner: runner, options: options).fit(checkpoint: { state in
            guard state.history.count == 2 else { return }
            var state = state
            state.dataFingerprint = fingerprint
            try state.write(to: checkpoint)
        })
        let resumed = try EmfleetBinary.run(common + ["--sample-weight", weights, "--resume", checkpoint, "--out", scratch.path("resumed.json")])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try bytes(scratch.path("resumed.json")) == (try bytes(scratch.path("whole.json"))))
        let other = scratch.path("other.npy")
        try NPYWriter.writeVector(values.map { $0 + 1 }, to: other)
        let refused = try EmfleetBinary.run(common + ["--sample-weight", other, "--resume", checkpoint, "--out", scratch.path("other.json")])
        #expect(refused.status != 0 && refused.stderr.contains("or its sample weights"), "\(refused.stderr)")
        let unweighted = try EmfleetBinary.run(common + ["--resume", checkpoint, "--out", scratch.path("plain.json")])
        #expect(unweighted.status != 0)
    }

    /// A small labelled dataset and integer weights 0 to 3.
    private func labelled(_ scratch: ScratchDirectory, rows: Int = 2000) throws -> (data: String, labels: String, weights: String, values: [Double]) {
        let data = scratch.path("x.npy"), labels = scratch.path("y.npy")
        let result = try EmfleetBinary.run(["data", "generate", "--samples", "\(rows)", "--features", "4", "--components", "3",
                                            "--seed", "2", "--out", data, "--labels", labels])
        #expect(result.status == 0, "\(result.stderr)")
        var generator = SeededGenerator(seed: 5)
        let values = (0..<rows).map { _ in Double(generator.nextInt(below: 4)) }
        let weights = scratch.path("w.txt")
        try values.map { String(Int($0)) }.joined(separator: "\n").write(toFile: weights, atomically: true, encoding: .utf8)
        return (data, labels, weights, values)
    }

    @Test("mlp train --sample-weight: the same model bytes in one process and on 2 workers; mlp evaluate reports weighted metrics")
    func mlpTrainOnWorkers() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (data, labels, weights, values) = try labelled(scratch)
        let common = ["mlp", "train", "--data", data, "--labels", labels, "--sample-weight", weights, "--hidden", "8", "--epochs", "3",
                      "--batch-size", "128", "--validation-split", "0.1", "--seed", "1", "--quiet"]
        let local = try EmfleetBinary.run(common + ["--out", scratch.path("local.json")])
        #expect(local.status == 0, "\(local.stderr)")
        let workers = try EmfleetBinary.run(common + ["--workers", "2", "--out", scratch.path("workers.json")])
        #expect(workers.status == 0, "\(workers.stderr)")
        #expect(try bytes(scratch.path("local.json")) == (try bytes(scratch.path("workers.json"))))

        let evaluate = ["mlp", "evaluate", "--model", scratch.path("local.json"), "--data", data, "--labels", labels, "--json"]
        let weighted = try EmfleetBinary.run(evaluate + ["--sample-weight", weights])
        #expect(weighted.status == 0, "\(weighted.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(weighted.stdout.utf8)) as? [String: Any]
        #expect(report?["total_weight"] as? Double == values.reduce(0, +))
        // The weighted accuracy is that of the rows repeated by their weights.
        let predict = try EmfleetBinary.run(["mlp", "predict", "--model", scratch.path("local.json"), "--data", data, "--out", scratch.path("p.csv")])
        #expect(predict.status == 0, "\(predict.stderr)")
        let predicted = try DatasetLoader.loadLabels(path: scratch.path("p.csv")), truth = try DatasetLoader.loadLabels(path: labels)
        let right = zip(zip(predicted, truth), values).map { $0.0 == $0.1 ? $1 : 0 }.reduce(0, +)
        let accuracy = try #require(report?["accuracy"] as? Double)
        #expect(abs(accuracy - right / values.reduce(0, +)) < 1e-12)
        let plain = try EmfleetBinary.run(evaluate)
        #expect(plain.status == 0 && !plain.stdout.contains("total_weight"))
    }

    @Test("pipeline fit takes --sample-weight, the same model bytes in one process and on 2 workers")
    func pipelineFitOnWorkers() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (data, labels, weights, _) = try labelled(scratch, rows: 1200)
        let common = ["pipeline", "fit", "--data", data, "--labels", labels, "--sample-weight", weights, "--components", "3",
                      "--hidden", "8", "--epochs", "2", "--batch-size", "128", "--seed", "1", "--quiet"]
        let local = try EmfleetBinary.run(common + ["--out", scratch.path("local.json")])
        #expect(local.status == 0, "\(local.stderr)")
        let workers = try EmfleetBinary.run(common + ["--workers", "2", "--out", scratch.path("workers.json")])
        #expect(workers.status == 0, "\(workers.stderr)")
        #expect(try bytes(scratch.path("local.json")) == (try bytes(scratch.path("workers.json"))))
    }
}
