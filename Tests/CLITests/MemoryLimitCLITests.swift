import Foundation
import Testing

/// `--memory-limit` through the real binary: worker processes that read most of their shards from
/// the file on every pass give the in-memory model's bytes, and say what they keep.
@Suite("--memory-limit (CLI)")
struct MemoryLimitCLITests {
    /// 2,200,000 rows × 8 float64 (141 MB): more than two processes keep under 192M (64M of rows each).
    private func generate(_ scratch: ScratchDirectory) throws -> String {
        let path = scratch.path("big.npy")
        let result = try EmfleetBinary.run([
            "data", "generate", "--samples", "2200000", "--features", "8", "--components", "3", "--seed", "8", "--out", path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return path
    }

    private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test("2 workers and one process under 192M read most shards from the file and write the in-memory model's bytes")
    func boundedWorkersGiveTheSameBytes() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch)
        let fit = ["gmm", "fit", "--data", data, "-c", "3", "--shards", "16", "--max-iter", "3", "--tol", "0"]
        let memory = try EmfleetBinary.run(fit + ["--out", scratch.path("memory.json"), "--quiet"])
        #expect(memory.status == 0, "\(memory.stderr)")

        let workers = try EmfleetBinary.run(fit + ["--out", scratch.path("workers.json"), "--workers", "2", "--memory-limit", "192M",
                                                   "--log-format", "json"])
        #expect(workers.status == 0, "\(workers.stderr)")
        #expect(try bytes(scratch.path("workers.json")) == bytes(scratch.path("memory.json")))
        for name in ["local-1", "local-2"] {
            let line = workers.stderr.split(separator: "\n").first { $0.hasPrefix("emfleet: worker \(name): keeps ") }
            #expect(line?.contains(" from \(data) on every pass") == true && line?.hasSuffix("under --memory-limit 192M") == true,
                    "\(workers.stderr)")
        }
        let iterations = workers.stdout.split(separator: "\n").compactMap { line -> [String: Any]? in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], object["event"] as? String == "iteration"
            else { return nil }
            return object
        }
        #expect(iterations.count == 3)
        // Each iteration after the first reads every streamed shard once (the first also loads the kept ones).
        #expect(iterations.dropFirst().allSatisfy { ($0["bytes_read"] as? Int ?? 0) > 10_000_000 }, "\(iterations)")

        let alone = try EmfleetBinary.run(fit + ["--out", scratch.path("alone.json"), "--memory-limit", "192M"])
        #expect(alone.status == 0, "\(alone.stderr)")
        #expect(alone.stderr.contains("emfleet: keeping ") && alone.stderr.contains("on every pass"), "\(alone.stderr)")
        #expect(try bytes(scratch.path("alone.json")) == bytes(scratch.path("memory.json")))
    }

    @Test("a size that is not one, or too small, is a usage error naming the option, on job commands and workers",
          arguments: [["gmm", "fit", "--data", "x.npy", "-c", "2", "--out", "m.json"], ["worker", "--connect", "tcp://127.0.0.1:1"]])
    func badSizes(command: [String]) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let notASize = try EmfleetBinary.run(command + ["--memory-limit", "lots"])
        #expect(notASize.status == 64 && notASize.stderr.contains("--memory-limit: \"lots\" is not a size; write it like 512M"), "\(notASize.stderr)")
        let tooSmall = try EmfleetBinary.run(command + ["--memory-limit", "100M"])
        #expect(tooSmall.status == 64 && tooSmall.stderr.contains("--memory-limit: 100M is too small"), "\(tooSmall.stderr)")
    }

    @Test("data inspect --memory-limit warns when a full-covariance fit would not fit, naming the limit and a type that does")
    func inspectWarns() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let wide = scratch.path("wide.npy")
        #expect(try EmfleetBinary.run(["data", "generate", "--samples", "500", "--features", "784", "--components", "2", "--out", wide]).status == 0)
        let tight = try EmfleetBinary.run(["data", "inspect", wide, "--memory-limit", "200M", "--components", "64"])
        #expect(tight.status == 0, "\(tight.stderr)")
        #expect(tight.stdout.contains("warning: a full-covariance fit with 64 components on 784 features needs about ")
                && tight.stdout.contains("more than --memory-limit 200M allows; --covariance-type diag needs about "), "\(tight.stdout)")
        let roomy = try EmfleetBinary.run(["data", "inspect", wide, "--memory-limit", "2G", "--components", "4"])
        #expect(roomy.status == 0 && !roomy.stdout.contains("warning:") && roomy.stdout.contains("everything fits"), "\(roomy.stdout)")
        let plain = try EmfleetBinary.run(["data", "inspect", wide])
        #expect(!plain.stdout.contains("memory:"), "no advice without a limit")
    }
}
