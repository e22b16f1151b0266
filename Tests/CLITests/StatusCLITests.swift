import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// `--status`: the real binary with its status server, read over HTTP while a 2-worker fit runs.
@Suite("Status page CLI")
struct StatusCLITests {
    static func get(_ url: String) async throws -> (Int, String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    static func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:]
    }

    @Test("--status 127.0.0.1:0 prints the URL; the page, /status.json and /metrics follow a 2-worker fit to its end")
    func followsAFit() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = scratch.path("x.npy")
        let generated = try EmfleetBinary.run(["data", "generate", "--samples", "100000", "--features", "8", "--components", "4",
                                               "--seed", "3", "--out", data])
        try #require(generated.status == 0, "\(generated.stderr)")
        let fit = try RunningEmfleet([
            "gmm", "fit", "--data", data, "--components", "4", "--tol", "0", "--max-iter", "25", "--seed", "1",
            "--out", scratch.path("m.json"), "--report", scratch.path("report"),
            "--workers", "2", "--worker-threads", "1", "--log-format", "json", "--status", "127.0.0.1:0",
        ])
        let line = try #require(fit.waitForLine { $0.contains("\"event\":\"status\"") })
        let url = try #require(Self.json(line)["url"] as? String)
        #expect(url.hasPrefix("http://127.0.0.1:") && !url.hasSuffix(":0/"))
        #expect(try await Self.get(url + "healthz") == (200, "ok\n"))
        let (pageStatus, page) = try await Self.get(url)
        #expect(pageStatus == 200 && page.contains("emfleet"))

        _ = fit.waitForLine { $0.contains("\"event\":\"iteration\"") }
        let (_, running) = try await Self.get(url + "status.json")
        let document = Self.json(running)
        #expect((document["job"] as? [String: Any])?["command"] as? String == "gmm fit")
        #expect((document["progress"] as? [String: Any])?["maxSteps"] as? Int == 25)
        let workers = document["workers"] as? [[String: Any]] ?? []
        #expect(workers.count == 2, "\(running)")
        #expect(workers.allSatisfy { ($0["kernel"] as? String)?.isEmpty == false && ($0["host"] as? String)?.isEmpty == false })
        let (_, metrics) = try await Self.get(url + "metrics")
        let rounds = metrics.split(separator: "\n").first { $0.hasPrefix("emfleet_rounds_total ") }.flatMap { Int($0.split(separator: " ")[1]) }
        #expect((rounds ?? 0) >= 1, "\(metrics)")
        #expect(metrics.contains("emfleet_workers{state=\"ready\"} 2"))

        // The server waits (a few seconds at most) for a page that was watching to see the end, so
        // a client polling as the page does reads the last state.
        var ended = running
        for _ in 0..<1200 {
            ended = try await Self.get(url + "status.json").1
            if (Self.json(ended)["job"] as? [String: Any])?["state"] as? String != "running" { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let job = Self.json(ended)["job"] as? [String: Any]
        #expect(job?["state"] as? String == "done", "\(ended)")
        #expect(job?["report"] as? String == scratch.path("report"))
        #expect((Self.json(ended)["points"] as? [Any])?.count == 25)
        let result = fit.finish()
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test("--status beyond loopback without --status-token is refused before any work, in one line")
    func refusedBeyondLoopback() throws {
        let result = try EmfleetBinary.run(["gmm", "fit", "--data", "nonexistent.npy", "--components", "2", "--out", "/tmp/never.json",
                                            "--status", "0.0.0.0:0"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--status 0.0.0.0:0 listens beyond this machine"), "\(result.stderr)")
        #expect(result.stderr.contains("--status-token"))
        let bad = try EmfleetBinary.run(["kmeans", "fit", "--data", "nonexistent.npy", "-k", "2", "--out", "/tmp/never.json",
                                         "--status", "localhost"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--status takes ADDR:PORT"), "\(bad.stderr)")
    }
}
