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
        // A coordinator that waits for 2 workers the test starts itself: nothing runs before the
        // test has looked, however slow the machine is.
        let fit = try RunningEmfleet([
            "gmm", "fit", "--data", data, "--components", "4", "--tol", "0", "--max-iter", "25", "--seed", "1",
            "--out", scratch.path("m.json"), "--report", scratch.path("report"),
            "--bind", "tcp://127.0.0.1:*", "--min-workers", "2", "--log-format", "json", "--status", "127.0.0.1:0",
        ])
        let line = try #require(fit.waitForLine { $0.contains("\"event\":\"status\"") })
        let url = try #require(Self.json(line)["url"] as? String)
        let listening = try #require(fit.waitForLine { $0.contains("\"listening\"") })
        let endpoint = try #require(Self.json(listening)["endpoint"] as? String)
        #expect(url.hasPrefix("http://127.0.0.1:") && !url.hasSuffix(":0/"))
        #expect(try await Self.get(url + "healthz") == (200, "ok\n"))
        let (pageStatus, page) = try await Self.get(url)
        #expect(pageStatus == 200 && page.contains("emfleet"))
        let (_, waiting) = try await Self.get(url + "status.json")
        #expect((Self.json(waiting)["job"] as? [String: Any])?["command"] as? String == "gmm fit")
        #expect((Self.json(waiting)["progress"] as? [String: Any])?["maxSteps"] as? Int == 25)

        let workers = try (0..<2).map { _ in
            try RunningEmfleet(["worker", "--connect", endpoint, "--threads", "1", "--coordinator-timeout", "5"])
        }
        // Poll as the page does (metrics first, then the document), until the job has ended; the
        // server waits a few seconds for a client that was watching to read the end.
        // Each figure is looked for in any poll: on a busy machine a whole fit can fall between two.
        // (The workers gauge is checked in process, StatusServerTests: here a short fit can end
        // between the polls that would see it.)
        var sawTwoWorkers = false, sawRounds = false, ended: [String: Any] = [:], serverGone = false
        for _ in 0..<1200 {
            let metrics: String, document: [String: Any]
            do {
                metrics = try await Self.get(url + "metrics").1
                document = Self.json(try await Self.get(url + "status.json").1)
            } catch {
                // The fit ended and its server stopped after its 5 s wait while this test stood
                // still (the whole suite shares two cores; the process may still be exiting):
                // the end is checked from the log below. Any other failed request fails the test.
                guard fit.waitForLine(timeout: 30, { $0.contains("\"event\":\"done\"") }) != nil else { throw error }
                serverGone = true
                break
            }
            let rows = document["workers"] as? [[String: Any]] ?? []
            if rows.count == 2, rows.allSatisfy({ $0["state"] as? String == "ready" && ($0["kernel"] as? String)?.isEmpty == false }) {
                sawTwoWorkers = true
            }
            let rounds = metrics.split(separator: "\n").first { $0.hasPrefix("emfleet_rounds_total ") }.flatMap { Int($0.split(separator: " ")[1]) }
            if (rounds ?? 0) >= 1 { sawRounds = true }
            if (document["job"] as? [String: Any])?["state"] as? String != "running" {
                ended = document
                break
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let result = fit.finish()
        for worker in workers { _ = worker.finish(timeout: 10) }
        #expect(result.status == 0, "\(result.stderr)")
        if serverGone {
            #expect(result.lines.contains { $0.contains("\"event\":\"done\"") }, "the fit ended without its done event")
            return
        }
        #expect(sawTwoWorkers, "the worker table never showed both workers ready")
        #expect(sawRounds, "/metrics never counted a round")
        let job = ended["job"] as? [String: Any]
        #expect(job?["state"] as? String == "done", "\(ended)")
        #expect(job?["report"] as? String == scratch.path("report"))
        #expect((ended["points"] as? [Any])?.count == 25)
        #expect(((ended["workers"] as? [[String: Any]]) ?? []).compactMap { $0["rows"] as? Int }.reduce(0, +) > 0)
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
