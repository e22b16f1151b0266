import Engine
import Foundation
import Mixture
import Testing
import Training

/// One kind of error: a job that fails says so in one `emfleet: error:` line with status 1;
/// only a command line that does not parse gets status 64 and the usage.
@Suite("One kind of error")
struct ErrorKindCLITests {
    /// Two features in 40 rows with a label column, and models of every kind fitted on them.
    final class Models: @unchecked Sendable {
        // @unchecked: written once in init, then only read.
        static let shared = Models()
        let scratch: ScratchDirectory
        let data: String, gmm: String, kmeans: String, network: String, trainingCheckpoint: String, fitCheckpoint: String
        let failure: String?

        private init() {
            scratch = try! ScratchDirectory()
            data = scratch.path("x.csv")
            gmm = scratch.path("gmm.json"); kmeans = scratch.path("km.json"); network = scratch.path("net.json")
            trainingCheckpoint = scratch.path("train.checkpoint"); fitCheckpoint = scratch.path("fit.checkpoint")
            var text = "a,b,y\n"
            for i in 0..<40 { text += "\(Double(i % 7) + (i < 20 ? 0 : 10)),\(Double(i % 5) * 0.5),\(i < 20 ? "low" : "high")\n" }
            try! text.write(toFile: data, atomically: true, encoding: .utf8)
            // A checkpoint's header is what names its kind; its state is never read here.
            try! CheckpointFile.write(format: TrainingCheckpoint.format, version: 1, payload: [], to: trainingCheckpoint)
            try! CheckpointFile.write(format: FitCheckpoint.format, version: 1, payload: [], to: fitCheckpoint)
            var failure: String?
            for arguments in [
                ["gmm", "fit", "--data", data, "--label-column", "y", "--components", "2", "--out", gmm, "--quiet"],
                ["kmeans", "fit", "--data", data, "--label-column", "y", "--clusters", "2", "--out", kmeans, "--quiet"],
                ["mlp", "train", "--data", data, "--label-column", "y", "--hidden", "4", "--epochs", "2", "--out", network, "--quiet"],
            ] {
                let result = try! EmfleetBinary.run(arguments)
                if result.status != 0 { failure = "\(arguments): \(result.stderr)" }
            }
            self.failure = failure
        }
    }

    let models = Models.shared

    /// Expects exactly one `emfleet: error:` line containing `text`, status 1 and no usage.
    func expectJobError(_ arguments: [String], contains text: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try EmfleetBinary.run(arguments)
        #expect(result.status == 1, "\(arguments) \(result.stderr)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].hasPrefix("emfleet: error: "), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(text), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("Usage:"), sourceLocation: sourceLocation)
    }

    @Test("data errors of mlp predict, mlp evaluate, pipeline predict and gmm select are one error line with status 1",
          arguments: ["mlp predict", "mlp evaluate", "pipeline predict", "gmm select"])
    func dataErrorsAreJobErrors(_ command: String) throws {
        try #require(models.failure == nil, "\(models.failure ?? "")")
        let out = models.scratch.path("out-\(command.replacingOccurrences(of: " ", with: "-")).csv")
        switch command {
        case "mlp predict":
            // Chosen columns the model cannot take (by default it would pick its own two by name).
            try "a,b,c\n1,2,3\n".write(toFile: models.scratch.path("wide.csv"), atomically: true, encoding: .utf8)
            try expectJobError(["mlp", "predict", "--model", models.network, "--data", models.scratch.path("wide.csv"), "--columns", "a,b,c", "--out", out],
                               contains: "wide.csv has 3 feature columns but the model was trained on 2")
        case "mlp evaluate":
            // The labels are fine; the columns are not, and that is what is named.
            try expectJobError(["mlp", "evaluate", "--model", models.network, "--data", models.data, "--label-column", "y", "--columns", "a"],
                               contains: "x.csv has 1 feature columns but the model was trained on 2")
        case "pipeline predict":
            try expectJobError(["pipeline", "predict", "--model", models.scratch.path("absent.json"), "--data", models.data, "--out", out],
                               contains: "absent.json")
        default:
            try expectJobError(["gmm", "select", "--data", models.data, "--label-column", "y", "--components", "41...43", "--out", models.scratch.path("s.json")],
                               contains: "the data has 40 rows, fewer than the 41 components of the smallest candidate")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// (file, command reading another kind, what the file is, the command that reads it).
    static let wrongKinds: [(String, [String], String, String)] = [
        ("net", ["gmm", "predict"], "a network model", "emfleet mlp predict"),
        ("net", ["pipeline", "predict"], "a network model", "emfleet mlp predict"),
        ("net", ["kmeans", "predict"], "a network model", "emfleet mlp predict"),
        ("gmm", ["mlp", "predict"], "a Gaussian mixture model", "emfleet gmm predict"),
        ("gmm", ["kmeans", "predict"], "a Gaussian mixture model", "emfleet gmm predict"),
        ("km", ["gmm", "score"], "a k-means model", "emfleet kmeans predict"),
        ("km", ["mlp", "evaluate"], "a k-means model", "emfleet kmeans predict"),
        ("train.checkpoint", ["mlp", "predict"], "a checkpoint of `emfleet mlp train`", "emfleet mlp train --resume"),
        ("fit.checkpoint", ["gmm", "predict"], "a checkpoint of `emfleet gmm fit`", "emfleet gmm fit --resume"),
        ("net", ["gmm", "fit", "--resume"], "a network model", "emfleet mlp predict"),
        ("fit.checkpoint", ["mlp", "train", "--resume"], "a checkpoint of `emfleet gmm fit`", "emfleet gmm fit --resume"),
        ("train.checkpoint", ["kmeans", "fit", "--resume"], "a checkpoint of `emfleet mlp train`", "emfleet mlp train --resume"),
    ]

    @Test("a file of the wrong kind says what it is and which command reads it", arguments: 0..<wrongKinds.count)
    func wrongKindOfFile(_ index: Int) throws {
        try #require(models.failure == nil, "\(models.failure ?? "")")
        let (name, command, what, reader) = Self.wrongKinds[index]
        let path = models.scratch.path(name.contains(".") ? name : name + ".json")
        var arguments = command
        let out = models.scratch.path("wrong-\(index).csv")
        switch command.last! {
        case "--resume":
            arguments.append(path)
            arguments += ["--data", models.data, "--label-column", "y", "--out", models.scratch.path("wrong-\(index).json")]
            arguments += command[0] == "gmm" ? ["--components", "2"] : command[0] == "kmeans" ? ["--clusters", "2"] : []
        case "evaluate", "score":
            arguments += ["--model", path, "--data", models.data, "--label-column", "y"]
        default:
            arguments += ["--model", path, "--data", models.data, "--label-column", "y", "--out", out]
        }
        try expectJobError(arguments, contains: "\(path) is \(what): use `\(reader)`")
    }

    @Test("a misspelt option is named as unknown, with the nearest option, before any missing one",
          arguments: [
              (["gmm", "fit", "--data", "x.npy", "--componets", "3", "--out", "m.json"], "--componets", "--components", "emfleet gmm fit"),
              (["mlp", "train", "--data", "x.npy", "--label-column", "y", "--epoch=3"], "--epoch", "--epochs", "emfleet mlp train"),
              (["gmm", "select", "--data", "x.npy", "--components", "2...3", "--out", "m.json", "--quite"], "--quite", "--quiet", "emfleet gmm select"),
          ])
    func misspeltOptionIsNamed(_ arguments: [String], _ typed: String, _ meant: String, _ usage: String) throws {
        let result = try EmfleetBinary.run(arguments)
        #expect(result.status == 64)
        #expect(result.stderr.hasPrefix("Error: Unknown option '\(typed)' (did you mean '\(meant)'?)\n"), "\(result.stderr)")
        #expect(result.stderr.contains("Usage: \(usage)"), "\(result.stderr)")
        #expect(!result.stderr.contains("Missing expected argument"))
    }

    @Test("usage errors of a command line that parses keep status 64 and the usage")
    func usageErrorsStayUsageErrors() throws {
        let result = try EmfleetBinary.run(["gmm", "fit", "--data", "x.npy", "--out", "m.json"])
        #expect(result.status == 64)
        #expect(result.stderr.hasPrefix("Error: Missing expected argument '--components"), "\(result.stderr)")
        #expect(result.stderr.contains("Usage: emfleet gmm fit"))
    }

    // MARK: - Values that cannot help, said once

    @Test("gmm fit with more components than rows fails before printing a header")
    func tooManyComponentsFailsBeforeTheHeader() throws {
        try #require(models.failure == nil, "\(models.failure ?? "")")
        let result = try EmfleetBinary.run(["gmm", "fit", "--data", models.data, "--label-column", "y", "--components", "41",
                                            "--out", models.scratch.path("too-many.json")])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty, "\(result.stdout)")
        #expect(result.stderr == "emfleet: error: \(models.data): the data has 40 rows, fewer than the 41 components asked for; ask for at most 40\n")
    }

    @Test("gmm select fits the candidates the rows allow and names the others once")
    func selectSkipsWhatCannotBeFitted() throws {
        try #require(models.failure == nil, "\(models.failure ?? "")")
        let table = models.scratch.path("partial.csv")
        let result = try EmfleetBinary.run(["gmm", "select", "--data", models.data, "--label-column", "y", "--components", "38...43",
                                            "--out", models.scratch.path("partial.json"), "--table", table, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "emfleet: warning: skipping 41...43 components: the data has 40 rows, and a mixture needs a row per component\n")
        let rows = try String(contentsOfFile: table, encoding: .utf8).split(separator: "\n").dropFirst()
        #expect(rows.map { $0.split(separator: ",").first.map(String.init) } == ["38", "39", "40"])
    }

    @Test("more local workers than shards start only as many as have a shard, saying so once")
    func idleWorkersAreNotStarted() throws {
        try #require(models.failure == nil, "\(models.failure ?? "")")
        let out = models.scratch.path("few-shards.json")
        let result = try EmfleetBinary.run(["gmm", "fit", "--data", models.data, "--label-column", "y", "--components", "2",
                                            "--shards", "2", "--workers", "6", "--out", out, "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.filter { $0.contains("warning") } == ["emfleet: warning: --workers 6 with 2 shards: 4 would have no shard to compute; starting 2 (the result is the same)"])
        #expect(lines.filter { $0.contains(" joined: ") }.count == 2, "\(result.stderr)")
        let alone = models.scratch.path("few-shards-alone.json")
        #expect(try EmfleetBinary.run(["gmm", "fit", "--data", models.data, "--label-column", "y", "--components", "2",
                                       "--shards", "2", "--out", alone, "--quiet"]).status == 0)
        #expect(FileManager.default.contents(atPath: out) == FileManager.default.contents(atPath: alone))
    }

    @Test("a batch larger than the rows is said once")
    func batchLargerThanTheRows() throws {
        try #require(models.failure == nil, "\(models.failure ?? "")")
        let result = try EmfleetBinary.run(["mlp", "train", "--data", models.data, "--label-column", "y", "--hidden", "4", "--epochs", "2",
                                            "--batch-size", "100", "--out", models.scratch.path("big-batch.json"), "--quiet"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr == "emfleet: warning: --batch-size 100 is more than the 40 rows: every step takes all the training rows\n")
    }
}
