import Datasets
import Foundation
import Mixture
import Testing

/// The scikit-learn reference fits of Tests/Fixtures/kmeans_cases.json (scripts/make_kmeans_fixtures.py).
private struct KMeansFixture: Decodable {
    var name: String
    var data: String
    var clusters: Int
    var `init`: [[Double]]
    var inertia: Double
    var n_iter: Int

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func named(_ name: String) throws -> KMeansFixture {
        struct File: Decodable { var cases: [KMeansFixture] }
        let json = try Data(contentsOf: directory.appendingPathComponent("kmeans_cases.json"))
        return try #require(try JSONDecoder().decode(File.self, from: json).cases.first { $0.name == name })
    }
}

/// End-to-end tests of `emfleet kmeans …` through the real binary.
@Suite("emfleet kmeans (CLI)")
struct KMeansCLITests {
    private func generate(_ scratch: ScratchDirectory, rows: Int = 4000) throws -> String {
        let path = scratch.path("data.npy")
        let result = try EmfleetBinary.run([
            "data", "generate", "--samples", "\(rows)", "--features", "4", "--components", "5", "--seed", "7", "--out", path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return path
    }

    private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test("fit on 2 local workers writes the bytes of the one-process fit; predict and score agree with the model")
    func fitPredictScoreOnWorkers() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch)
        let arguments = ["kmeans", "fit", "--data", data, "-k", "5", "--init", "random", "--seed", "3", "--shards", "6"]
        let here = try EmfleetBinary.run(arguments + ["--out", scratch.path("here.json")])
        #expect(here.status == 0, "\(here.stderr)")
        let model = try KMeansModelFile.read(from: scratch.path("here.json"))
        // 10 random runs by default; one line per iteration of each, then the summary.
        #expect(here.stdout.contains("10 run(s)"))
        #expect(here.stdout.contains("after \(model.iterations) iterations; inertia"))
        let workers = try EmfleetBinary.run(arguments + ["--out", scratch.path("workers.json"), "--workers", "2"])
        #expect(workers.status == 0, "\(workers.stderr)")
        #expect(try bytes(scratch.path("here.json")) == bytes(scratch.path("workers.json")))

        let predict = try EmfleetBinary.run(["kmeans", "predict", "--model", scratch.path("here.json"), "--data", data,
                                             "--out", scratch.path("labels.npy"), "--workers", "2"])
        #expect(predict.status == 0, "\(predict.stderr)")
        let labels = try NPYReader(path: scratch.path("labels.npy")).readIntegerLabels()
        let matrix = try DatasetLoader.load(path: data).features
        var inertia = 0.0
        for r in 0..<matrix.rows {
            let distances = model.centers.map { centre in (0..<4).reduce(0.0) { $0 + pow(matrix[row: r, column: $1] - centre[$1], 2) } }
            #expect(labels[r] == distances.firstIndex(of: distances.min()!)!)
            inertia += distances.min()!
        }
        let score = try EmfleetBinary.run(["kmeans", "score", "--model", scratch.path("here.json"), "--data", data, "--json"])
        #expect(score.status == 0, "\(score.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(score.stdout.utf8)) as? [String: Any]
        let scored = try #require(report?["inertia"] as? Double)
        #expect(abs(scored - inertia) <= 1e-9 * inertia)
        #expect(abs(scored - model.inertia) <= 1e-9 * inertia)
    }

    @Test("--init FILE starts from given centres and matches scikit-learn's fit from them")
    func givenCentres() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let reference = try KMeansFixture.named("iris-empty-cluster")
        let centres = FeatureMatrix(rows: reference.clusters, columns: 4, values: reference.`init`.flatMap { $0 })
        try NPYWriter.write(centres, to: scratch.path("init.npy"))
        let data = KMeansFixture.directory.appendingPathComponent(reference.data).path
        let fit = try EmfleetBinary.run(["kmeans", "fit", "--data", data, "-k", "\(reference.clusters)", "--init", scratch.path("init.npy"),
                                         "--out", scratch.path("m.json"), "--workers", "2"])
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(fit.stdout.contains("empty cluster(s) given far rows"))
        let model = try KMeansModelFile.read(from: scratch.path("m.json"))
        #expect(model.iterations == reference.n_iter)
        #expect(abs(model.inertia - reference.inertia) <= 1e-10 * reference.inertia)
    }

    @Test("bad input fails before any work with one line naming what is wrong")
    func badInput() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch, rows: 50)
        try NPYWriter.write(FeatureMatrix(rows: 2, columns: 4, values: Array(repeating: 0, count: 8)), to: scratch.path("two.npy"))
        try NPYWriter.write(FeatureMatrix(rows: 3, columns: 2, values: Array(repeating: 0, count: 6)), to: scratch.path("narrow.npy"))
        let cases: [([String], String)] = [
            (["-k", "0"], "--clusters must be at least 1"),
            (["-k", "51"], "fewer than the 51 clusters"),
            (["-k", "3", "--init", scratch.path("two.npy")], "2 rows of centres for --clusters 3"),
            (["-k", "3", "--init", scratch.path("narrow.npy")], "centres of 2 features"),
            (["-k", "3", "--init", scratch.path("missing.npy")], "missing.npy"),
            (["-k", "3", "--tol=-1"], "--tol must not be negative"),
        ]
        for (extra, expected) in cases {
            let result = try EmfleetBinary.run(["kmeans", "fit", "--data", data, "--out", scratch.path("m.json")] + extra)
            #expect(result.status != 0, "\(extra)")
            #expect(result.stderr.contains(expected), "\(extra): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: scratch.path("m.json")))
        }
    }

    @Test("a fit whose coordinator is killed (kill -9) resumes from its checkpoint to the uninterrupted model's bytes")
    func killedFitResumes() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch, rows: 30_000)
        // Thirty random runs: the fit is still under way when the second starts, however fast the CPU.
        let arguments = ["kmeans", "fit", "--data", data, "-k", "5", "--init", "random", "--n-init", "30", "--seed", "8",
                         "--checkpoint-every", "1", "--quiet"]
        let reference = try EmfleetBinary.run(arguments + ["--out", scratch.path("reference.json")])
        #expect(reference.status == 0, "\(reference.stderr)")
        let fit = try RunningEmfleet(arguments + ["--out", scratch.path("m.json"), "--workers", "2", "--log-format", "json"])
        let second = fit.waitForLine { $0.contains("\"event\":\"iteration\"") && $0.contains("\"run\":2,") }
        #expect(second != nil)
        try #require(fit.process.isRunning, "the fit ended before the test could kill it")
        kill(fit.pid, SIGKILL)
        _ = fit.finish()
        let checkpoint = scratch.path("m.json.checkpoint")
        #expect(FileManager.default.fileExists(atPath: checkpoint))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("m.json")))
        let resumed = try EmfleetBinary.run(arguments + ["--out", scratch.path("m.json"), "--workers", "2", "--resume", checkpoint])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try bytes(scratch.path("m.json")) == bytes(scratch.path("reference.json")))
        #expect(!FileManager.default.fileExists(atPath: checkpoint))
    }

    @Test("--sample-weight: the weighted fit is the same bytes on 2 workers, and the weighted score is Σ w·d²")
    func sampleWeights() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch, rows: 3000)
        let weights = (0..<3000).map { Double(($0 * 7) % 5) * 0.5 }
        try NPYWriter.writeVector(weights, to: scratch.path("w.npy"))
        let arguments = ["kmeans", "fit", "--data", data, "-k", "5", "--seed", "2", "--sample-weight", scratch.path("w.npy"), "--quiet"]
        let here = try EmfleetBinary.run(arguments + ["--out", scratch.path("here.json")])
        #expect(here.status == 0, "\(here.stderr)")
        let workers = try EmfleetBinary.run(arguments + ["--out", scratch.path("workers.json"), "--workers", "2"])
        #expect(workers.status == 0, "\(workers.stderr)")
        #expect(try bytes(scratch.path("here.json")) == bytes(scratch.path("workers.json")))
        let model = try KMeansModelFile.read(from: scratch.path("here.json"))
        let score = try EmfleetBinary.run(["kmeans", "score", "--model", scratch.path("here.json"), "--data", data,
                                           "--sample-weight", scratch.path("w.npy"), "--json"])
        #expect(score.status == 0, "\(score.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(score.stdout.utf8)) as? [String: Any]
        let scored = try #require(report?["inertia"] as? Double)
        let matrix = try DatasetLoader.load(path: data).features
        var expected = 0.0
        for r in 0..<matrix.rows {
            let distances = model.centers.map { centre in (0..<4).reduce(0.0) { $0 + pow(matrix[row: r, column: $1] - centre[$1], 2) } }
            expected += weights[r] * distances.min()!
        }
        #expect(abs(scored - expected) <= 1e-9 * expected)
        #expect(abs(model.inertia - expected) <= 1e-9 * expected)
        // A bad weight stops the fit before any work, naming the file.
        try NPYWriter.writeVector(Array(weights.prefix(10)), to: scratch.path("short.npy"))
        let short = try EmfleetBinary.run(["kmeans", "fit", "--data", data, "-k", "5", "--sample-weight", scratch.path("short.npy"),
                                           "--out", scratch.path("bad.json")])
        #expect(short.status != 0 && short.stderr.contains("short.npy"), "\(short.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("bad.json")))
    }
}
