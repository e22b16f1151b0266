import Foundation
import Testing

/// Outputs that cannot be written fail the command before any work, and untuned defaults.
@Suite("Outputs checked before work; untuned defaults")
struct OutputCLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    /// Where each kind of bad path points, and what the error says about it.
    static func bad(_ kind: String, in scratch: ScratchDirectory) throws -> (path: String, reason: String) {
        switch kind {
        case "missing folder":
            return (scratch.path("no/such/m.json"), "the folder \(scratch.path("no/such")) does not exist")
        case "a folder":
            try FileManager.default.createDirectory(atPath: scratch.path("taken"), withIntermediateDirectories: true)
            return (scratch.path("taken"), "it is a folder; give a file name")
        default:
            try "x".write(toFile: scratch.path("plain.txt"), atomically: true, encoding: .utf8)
            return (scratch.path("plain.txt/m.json"), "\(scratch.path("plain.txt")) is not a folder")
        }
    }

    /// The data file does not exist either: an error about the output shows it was checked first.
    @Test("gmm fit and mlp train with an unwritable --out or --checkpoint fail at once, naming the path", arguments: [
        ("gmm", "--out"), ("gmm", "--checkpoint"), ("mlp", "--out"), ("mlp", "--checkpoint"),
    ], ["missing folder", "a folder", "under a file"])
    func unwritableOutputFailsFirst(_ command: (String, String), _ kind: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (path, reason) = try Self.bad(kind, in: scratch)
        let (tool, option) = command
        let missingData = scratch.path("absent.npy")
        var arguments = tool == "gmm"
            ? ["gmm", "fit", "--data", missingData, "--components", "2"]
            : ["mlp", "train", "--data", missingData, "--labels", missingData]
        arguments += option == "--out" ? ["--out", path] : ["--out", scratch.path("m.json"), "--checkpoint", path]
        let start = ContinuousClock.now
        let result = try EmfleetBinary.run(arguments)
        #expect(result.status == 1)
        #expect(result.stderr == "emfleet: error: \(path): cannot write \(option): \(reason)\n", "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test("a fit on real data with a --checkpoint in a missing folder writes nothing and names the checkpoint")
    func fitWithBadCheckpointDoesNoWork() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let checkpoint = scratch.path("gone/c.checkpoint")
        let result = try EmfleetBinary.run(["gmm", "fit", "--data", Self.fixtures + "/iris.npy", "--components", "3",
                                            "--out", scratch.path("m.json"), "--checkpoint", checkpoint])
        #expect(result.status == 1 && result.stdout.isEmpty, "\(result.stdout)")
        #expect(result.stderr.hasPrefix("emfleet: error: \(checkpoint): cannot write --checkpoint"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("m.json")))
    }

    @Test("every command that writes files checks them first", arguments: [
        "gmm select", "gmm predict", "gmm sample", "mlp predict", "pipeline fit", "pipeline predict", "data generate", "data convert", "report",
    ])
    func otherCommands(_ command: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let out = scratch.path("no/o.npy"), model = scratch.path("absent.json"), data = Self.fixtures + "/iris.npy"
        var option = "--out", path = out
        let arguments: [String]
        switch command {
        case "gmm select": arguments = ["gmm", "select", "--data", data, "--components", "1...3", "--out", out]
        case "gmm predict": arguments = ["gmm", "predict", "--model", model, "--data", data, "--out", out]
        case "gmm sample":
            arguments = ["gmm", "sample", "--model", model, "--count", "5", "--out", scratch.path("s.npy"), "--labels", out]
            option = "--labels"
        case "mlp predict": arguments = ["mlp", "predict", "--model", model, "--data", data, "--out", out]
        case "pipeline fit": arguments = ["pipeline", "fit", "--data", data, "--out", out]
        case "pipeline predict": arguments = ["pipeline", "predict", "--model", model, "--data", data, "--out", out]
        case "data generate": arguments = ["data", "generate", "--samples", "10", "--features", "2", "--components", "1", "--out", out]
        case "data convert":
            arguments = ["data", "convert", data, out]
            option = "the output"
        default:
            try "x".write(toFile: scratch.path("plain.txt"), atomically: true, encoding: .utf8)
            path = scratch.path("plain.txt/report")
            arguments = ["mlp", "train", "--data", data, "--labels", Self.fixtures + "/iris_species.txt", "--out", scratch.path("m.json"),
                         "--report", path]
            option = "--report"
        }
        let result = try EmfleetBinary.run(arguments)
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("emfleet: error: \(path): cannot write \(option): "), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stdout.isEmpty, "\(result.stdout)\(result.stderr)")
    }

    @Test("mlp train without options trains until the loss stops improving, with a batch of min(256, rows)")
    func untunedTraining() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let model = scratch.path("m.json")
        let train = try EmfleetBinary.run(["mlp", "train", "--data", Self.fixtures + "/iris.npy", "--labels", Self.fixtures + "/iris_species.txt",
                                           "--out", model, "--quiet"])
        #expect(train.status == 0, "\(train.stderr)")
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model))) as? [String: Any]
        let options = file?["options"] as? [String: Any] ?? [:]
        #expect(options["epochs"] as? Int == 200 && options["patience"] as? Int == 10 && options["tolerance"] as? Double == 1e-4)
        #expect(options["batch_size"] as? Int == 150)
        let epochs = (file?["history"] as? [Any])?.count ?? 0
        #expect(epochs > 10 && epochs <= 200)
        let evaluate = try EmfleetBinary.run(["mlp", "evaluate", "--model", model, "--data", Self.fixtures + "/iris.npy",
                                              "--labels", Self.fixtures + "/iris_species.txt", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(evaluate.stdout.utf8)) as? [String: Any]
        #expect((report?["accuracy"] as? Double ?? 0) >= 0.95, "\(evaluate.stdout)")
    }

    @Test("pipeline fit without --components chooses K by BIC among 1...10")
    func untunedPipeline() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let fit = try EmfleetBinary.run(["pipeline", "fit", "--data", Self.fixtures + "/iris.npy", "--labels", Self.fixtures + "/iris_species.txt",
                                         "--out", scratch.path("p.json")])
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(fit.stdout.contains("choosing the number of components by BIC"))
        let candidates = fit.stdout.split(separator: "\n").filter { $0.hasSuffix(" true") || $0.contains(" false ") || $0.contains(" true ") }
        #expect(candidates.count == 10, "\(fit.stdout)")
        #expect(fit.stdout.contains("mixture: 2 full components"), "\(fit.stdout)")
    }
}
