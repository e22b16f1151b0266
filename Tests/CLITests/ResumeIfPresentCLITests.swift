import Foundation
import Testing

/// `--resume-if-present`: the same command, run again after a kill, continues; run fresh, starts.
@Suite("--resume-if-present (CLI)")
struct ResumeIfPresentCLITests {
    private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test("a killed fit, started again by the same command, reaches the uninterrupted model's bytes", arguments: ["gmm", "kmeans"])
    func sameCommandContinues(command: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = scratch.path("data.npy")
        let generated = try EmfleetBinary.run(["data", "generate", "--samples", "30000", "--features", "4", "--components", "5",
                                               "--seed", "7", "--out", data])
        #expect(generated.status == 0, "\(generated.stderr)")
        // Many starts, so the fit is still under way when the test kills it, however fast the CPU.
        let arguments = command == "gmm"
            ? ["gmm", "fit", "--data", data, "-c", "5", "--n-init", "40", "--init", "random", "--max-iter", "20"]
            : ["kmeans", "fit", "--data", data, "-k", "5", "--init", "random", "--n-init", "30", "--seed", "8"]
        let common = arguments + ["--checkpoint-every", "1", "--resume-if-present", "--quiet"]
        // No checkpoint yet: a fresh fit.
        let reference = try EmfleetBinary.run(common + ["--out", scratch.path("reference.json")])
        #expect(reference.status == 0, "\(reference.stderr)")
        let out = scratch.path("m.json")
        let fit = try RunningEmfleet(common + ["--out", out, "--workers", "2", "--log-format", "json"])
        let marker = command == "gmm" ? "\"start\":3," : "\"run\":3,"
        #expect(fit.waitForLine { $0.contains("\"event\":\"iteration\"") && $0.contains(marker) } != nil)
        try #require(fit.process.isRunning, "the fit ended before the test could kill it")
        kill(fit.pid, SIGKILL)
        _ = fit.finish()
        #expect(FileManager.default.fileExists(atPath: out + ".checkpoint"))
        let again = try EmfleetBinary.run(common + ["--out", out, "--workers", "2"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try bytes(out) == bytes(scratch.path("reference.json")))
        #expect(!FileManager.default.fileExists(atPath: out + ".checkpoint"))
        let both = try EmfleetBinary.run(arguments + ["--out", out, "--resume-if-present", "--resume", out + ".checkpoint"])
        #expect(both.status != 0 && both.stderr.contains("use one"), "\(both.stderr)")
    }
}
