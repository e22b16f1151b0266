import Datasets
import Foundation
import Mixture
import Testing

/// End-to-end tests of `emfleet gmm fit --online` through the real binary.
@Suite("emfleet gmm fit --online (CLI)")
struct OnlineCLITests {
    private func generate(_ scratch: ScratchDirectory, rows: Int) throws -> String {
        let path = scratch.path("data.npy")
        let result = try EmfleetBinary.run([
            "data", "generate", "--samples", "\(rows)", "--features", "3", "--components", "4", "--seed", "6", "--out", path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return path
    }

    private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test("the model on 2 local workers is the one-process model's bytes, near batch EM's log-likelihood")
    func workersGiveTheSameBytes() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch, rows: 20_000)
        let arguments = ["gmm", "fit", "--data", data, "-c", "4", "--online", "--batch-size", "1000", "--shards", "5"]
        let local = try EmfleetBinary.run(arguments + ["--out", scratch.path("local.json")])
        #expect(local.status == 0, "\(local.stderr)")
        #expect(local.stdout.contains("by stepwise EM (20 minibatches of about 1000 rows per pass, α = 0.6)"), "\(local.stdout)")
        #expect(local.stdout.contains("after 20 minibatch steps (1 pass); mean log-likelihood"), "\(local.stdout)")
        let workers = try EmfleetBinary.run(arguments + ["--out", scratch.path("workers.json"), "--workers", "2", "--quiet"])
        #expect(workers.status == 0, "\(workers.stderr)")
        #expect(try bytes(scratch.path("local.json")) == bytes(scratch.path("workers.json")))
        let batch = try EmfleetBinary.run(["gmm", "fit", "--data", data, "-c", "4", "--shards", "5", "--out", scratch.path("batch.json"), "--quiet"])
        #expect(batch.status == 0, "\(batch.stderr)")
        let online = try MixtureModelFile.read(from: scratch.path("local.json")), em = try MixtureModelFile.read(from: scratch.path("batch.json"))
        #expect(abs(online.lowerBound - em.lowerBound) <= 0.005 * abs(em.lowerBound), "online \(online.lowerBound), EM \(em.lowerBound)")
    }

    @Test("a fit whose coordinator is killed (kill -9) resumes from its checkpoint to the uninterrupted model's bytes")
    func killedFitResumes() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch, rows: 20_000)
        let arguments = ["gmm", "fit", "--data", data, "-c", "4", "--online", "--batch-size", "500", "--passes", "40", "--tol", "0",
                         "--checkpoint-every", "1", "--quiet"]
        let reference = try EmfleetBinary.run(arguments + ["--out", scratch.path("reference.json")])
        #expect(reference.status == 0, "\(reference.stderr)")
        let fit = try RunningEmfleet(arguments + ["--out", scratch.path("m.json"), "--workers", "2", "--log-format", "json"])
        // Two passes done: well inside the fit's forty.
        let seen = fit.waitForLine { $0.contains("\"event\":\"iteration\"") && $0.contains("\"start\":2,") }
        #expect(seen != nil)
        try #require(fit.process.isRunning, "the fit ended before the test could kill it")
        kill(fit.pid, SIGKILL)
        _ = fit.finish()
        let checkpoint = scratch.path("m.json.checkpoint")
        #expect(FileManager.default.fileExists(atPath: checkpoint))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("m.json")))
        let kept = scratch.path("kept.checkpoint")
        try FileManager.default.copyItem(atPath: checkpoint, toPath: kept)
        let resumed = try EmfleetBinary.run(arguments + ["--out", scratch.path("m.json"), "--workers", "2", "--resume", checkpoint])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming \(checkpoint) from step "), "\(resumed.stderr)")
        #expect(try bytes(scratch.path("m.json")) == bytes(scratch.path("reference.json")))
        #expect(!FileManager.default.fileExists(atPath: checkpoint))
        // Resuming with another minibatch size is refused, naming the settings.
        let other = try EmfleetBinary.run(arguments.map { $0 == "500" ? "400" : $0 } + ["--out", scratch.path("other.json"), "--resume", kept])
        #expect(other.status == 1 && other.stderr.contains("other --batch-size, --step-decay, --warm-up or --passes"), "\(other.stderr)")
    }

    @Test("gmm select --online fits every candidate by stepwise EM (the chosen one is gmm fit --online's bytes); pipeline fit --online runs")
    func selectionAndPipeline() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch, rows: 20_000)
        let select = try EmfleetBinary.run(["gmm", "select", "--data", data, "--components", "2...6", "--online", "--batch-size", "1000",
                                            "--shards", "5", "--out", scratch.path("chosen.json")])
        #expect(select.status == 0, "\(select.stderr)")
        #expect(select.stdout.contains("best by BIC: 4 full components"), "\(select.stdout)")
        let fit = try EmfleetBinary.run(["gmm", "fit", "--data", data, "-c", "4", "--online", "--batch-size", "1000", "--shards", "5",
                                         "--out", scratch.path("fit.json"), "--quiet"])
        #expect(fit.status == 0, "\(fit.stderr)")
        let chosen = try MixtureModelFile.read(from: scratch.path("chosen.json")), fitted = try MixtureModelFile.read(from: scratch.path("fit.json"))
        #expect(chosen.parameters == fitted.parameters && chosen.iterations == fitted.iterations)

        let labels = scratch.path("labels.npy")
        _ = try EmfleetBinary.run(["data", "generate", "--samples", "20000", "--features", "3", "--components", "4", "--seed", "6",
                                   "--out", scratch.path("again.npy"), "--labels", labels])
        let pipeline = try EmfleetBinary.run(["pipeline", "fit", "--data", data, "--labels", labels, "--components", "4", "--online",
                                              "--online-batch-size", "1000", "--epochs", "2", "--out", scratch.path("pipe.json"), "--quiet"])
        #expect(pipeline.status == 0, "\(pipeline.stderr)")
        let unset = try EmfleetBinary.run(["pipeline", "fit", "--data", data, "--labels", labels, "--online-batch-size", "1000",
                                           "--out", scratch.path("pipe2.json")])
        #expect(unset.status != 0 && unset.stderr.contains("add --online"), "\(unset.stderr)")
    }

    @Test("stepwise settings without --online, or with --variational, are one clear error")
    func badOptions() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch, rows: 500)
        let without = try EmfleetBinary.run(["gmm", "fit", "--data", data, "-c", "2", "--batch-size", "100", "--out", scratch.path("m.json")])
        #expect(without.status != 0 && without.stderr.contains("set up --online; add --online"), "\(without.stderr)")
        let both = try EmfleetBinary.run(["gmm", "fit", "--data", data, "-c", "2", "--online", "--variational", "dirichlet-process",
                                          "--out", scratch.path("m.json")])
        #expect(both.status != 0 && both.stderr.contains("choose one"), "\(both.stderr)")
        let decay = try EmfleetBinary.run(["gmm", "fit", "--data", data, "-c", "2", "--online", "--step-decay", "0.4",
                                           "--out", scratch.path("m.json")])
        #expect(decay.status == 1 && decay.stderr.contains("--step-decay must be in (0.5, 1]"), "\(decay.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("m.json")))
    }
}
