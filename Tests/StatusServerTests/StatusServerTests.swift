import Cluster
import Datasets
import Engine
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Mixture
import StatusServer
import Testing

/// The status server in process: a real Hummingbird server on a loopback port the system picks,
/// read over real HTTP; the board fed by a real coordinator over the in-memory transport.
@Suite("Status server")
struct StatusServerTests {
    /// The status, headers and body of a GET.
    static func get(_ url: String, bearer: String? = nil) async throws -> (Int, [AnyHashable: Any], String) {
        var request = URLRequest(url: URL(string: url)!)
        if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        return (http.statusCode, http.allHeaderFields, String(decoding: data, as: UTF8.self))
    }

    static func loopback() throws -> StatusAddress { try StatusAddress(parsing: "127.0.0.1:0") }

    @Test("serves /healthz, /metrics, /status.json and the page on the port it picked")
    func servesEveryPath() async throws {
        let board = StatusBoard(command: "gmm fit", arguments: ["--data", "x.npy"])
        board.expect(steps: 10)
        board.record(step: 1, objective: "log_likelihood", value: -3.5)
        board.record(step: 2, objective: "log_likelihood", value: -3.25)
        let server = try await StatusServer.start(board: board, address: Self.loopback(), token: nil)
        defer { server.stop() }
        #expect(server.address.port > 0)
        #expect(server.url == "http://127.0.0.1:\(server.address.port)/")

        let (healthStatus, _, health) = try await Self.get(server.url + "healthz")
        #expect(healthStatus == 200 && health == "ok\n")

        let (metricsStatus, headers, metrics) = try await Self.get(server.url + "metrics")
        #expect(metricsStatus == 200)
        #expect((headers["Content-Type"] as? String)?.hasPrefix("text/plain; version=0.0.4") == true)
        #expect(metrics.contains("# HELP emfleet_rounds_total "))
        #expect(metrics.contains("# TYPE emfleet_rounds_total counter"))
        #expect(metrics.contains("emfleet_iteration 2"))
        #expect(metrics.contains("emfleet_log_likelihood -3.25"))
        #expect(metrics.contains("# TYPE emfleet_round_duration_seconds histogram"))
        #expect(metrics.contains("emfleet_workers{state=\"lost\"} 0"))

        let (jsonStatus, _, json) = try await Self.get(server.url + "status.json")
        #expect(jsonStatus == 200)
        let document = try JSONDecoder().decode(StatusDocument.self, from: Data(json.utf8))
        #expect(document.job.command == "gmm fit" && document.job.arguments == ["--data", "x.npy"])
        #expect(document.job.state == "running")
        #expect(document.objective == "log_likelihood")
        #expect(document.points.map(\.value) == [-3.5, -3.25])
        #expect(document.progress.steps == 2 && document.progress.maxSteps == 10)
        #expect(document.progress.etaSeconds != nil)

        let (pageStatus, pageHeaders, page) = try await Self.get(server.url)
        #expect(pageStatus == 200)
        #expect((pageHeaders["Content-Type"] as? String)?.hasPrefix("text/html") == true)
        #expect(page.contains("status.json") && page.contains("<svg id=\"chart\""))
        // Self-contained: nothing is loaded from anywhere else.
        #expect(!page.contains("http://") && !page.contains("https://") && !page.contains("<link"))
    }

    @Test("a bind beyond loopback without a token is refused with one line saying what to give")
    func nonLoopbackNeedsToken() async throws {
        let board = StatusBoard(command: "gmm fit", arguments: [])
        await #expect {
            _ = try await StatusServer.start(board: board, address: StatusAddress(parsing: "0.0.0.0:0"), token: nil)
        } throws: { error in
            let text = "\(error)"
            return text.contains("--status 0.0.0.0:0 listens beyond this machine") && text.contains("--status-token") && !text.contains("\n")
        }
    }

    @Test("with a token every path but /healthz wants it, as a bearer header or ?token=")
    func tokenIsRequired() async throws {
        let token = "0123456789abcdef0123"
        let server = try await StatusServer.start(board: StatusBoard(command: "kmeans fit", arguments: []), address: Self.loopback(), token: token)
        defer { server.stop() }
        for path in ["", "metrics", "status.json"] {
            #expect(try await Self.get(server.url + path).0 == 401, "\(path) without a token")
            #expect(try await Self.get(server.url + path, bearer: "wrong-token-0123456").0 == 401, "\(path) with a wrong token")
            #expect(try await Self.get(server.url + path, bearer: token).0 == 200, "\(path) with the token")
        }
        #expect(try await Self.get(server.url + "status.json?token=\(token)").0 == 200)
        #expect(try await Self.get(server.url + "healthz").0 == 200)
    }

    @Test("a port in use is one clear error")
    func portInUse() async throws {
        let first = try await StatusServer.start(board: StatusBoard(command: "a", arguments: []), address: Self.loopback(), token: nil)
        defer { first.stop() }
        await #expect {
            _ = try await StatusServer.start(board: StatusBoard(command: "b", arguments: []), address: first.address, token: nil)
        } throws: { "\($0)".contains("cannot listen there") }
    }

    @Test("addresses", arguments: [
        ("127.0.0.1:0", "127.0.0.1", 0, true), ("localhost:8080", "localhost", 8080, true), ("[::1]:9000", "::1", 9000, true),
        ("0.0.0.0:9100", "0.0.0.0", 9100, false), ("10.1.2.3:80", "10.1.2.3", 80, false),
    ])
    func addresses(text: String, host: String, port: Int, loopback: Bool) throws {
        let address = try StatusAddress(parsing: text)
        #expect(address.host == host && address.port == port && address.isLoopback == loopback)
        #expect(address.description == text)
    }

    @Test("bad addresses are refused", arguments: ["127.0.0.1", ":80", "127.0.0.1:http", "127.0.0.1:70000", "::1:80", "[::1]80"])
    func badAddresses(text: String) {
        #expect(throws: StatusServerError.self) { try StatusAddress(parsing: text) }
    }

    @Test("token files: short or missing ones are refused")
    func tokenFiles() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good").path, short = directory.appendingPathComponent("short").path
        try "  0123456789abcdef0123\n".write(toFile: good, atomically: true, encoding: .utf8)
        try "abc\n".write(toFile: short, atomically: true, encoding: .utf8)
        #expect(try StatusToken.read(file: good) == "0123456789abcdef0123")
        #expect(throws: StatusServerError.self) { try StatusToken.read(file: short) }
        #expect(throws: StatusServerError.self) { try StatusToken.read(file: directory.appendingPathComponent("none").path) }
    }

    // MARK: Fed by a real coordinator

    static let data = SyntheticMixture.generate(samples: 2000, features: 3, components: 3, seed: 7).features
    static let shards = 13

    /// A real EM fit on a coordinator over simulated workers, watched by `board`.
    static func fit(board: StatusBoard, workers: [String], losing: Int? = nil) throws -> (GaussianMixture, ClusterCoordinator) {
        var jobs = JobRegistry()
        jobs.register(MixtureJob.self)
        let clock = ManualClock()
        let transport = InMemoryTransport(clock: clock)
        var options = CoordinatorOptions(endpoint: transport.endpoint)
        options.minWorkers = workers.count
        options.messageLimit = MixtureJob.messageLimit(largestShard: 200, columns: 3)
        let spec = JobSpec(path: "in-memory", csv: CSVOptions(), rows: data.rows, columns: data.columns, shards: shards,
                           fingerprint: "fingerprint", stream: false)
        let coordinator = try ClusterCoordinator(options: options, spec: spec, transport: transport, clock: clock) { _ in }
        coordinator.observer = board
        let simulated = workers.map { SimulatedWorker(name: $0, data: data, jobs: jobs) }
        for worker in simulated { transport.add(worker) }
        var fit = FitOptions(components: 3)
        fit.maxIterations = 6
        fit.tolerance = 0
        var iterations = 0
        let model = try MixtureFitter(runner: coordinator, options: fit).fit(progress: { step in
            iterations += 1
            board.record(step: step.iteration, objective: "log_likelihood", value: step.logLikelihood)
            if iterations == 2, let losing { simulated[losing].behaviour = .silent }
        })
        return (model, coordinator)
    }

    @Test("the board counts the coordinator's rounds, shards and workers, and /metrics agrees")
    func boardFollowsCoordinator() throws {
        let board = StatusBoard(command: "gmm fit", arguments: [])
        let (model, _) = try Self.fit(board: board, workers: ["a", "b"])
        let document = board.document()
        #expect(document.points.count == model.iterations)
        #expect(document.workers.map(\.state) == ["ready", "ready"])
        #expect(document.workers.map(\.shards).sorted() == [6, 7])
        let rounds = Int(document.progress.rounds)
        #expect(rounds > model.iterations)
        #expect(document.shardsComputed == rounds * Self.shards)
        // Every row of every round was reported by a worker.
        #expect(document.workers.map(\.rows).reduce(0, +) == rounds * Self.data.rows)
        #expect(document.bytesSent > 0 && document.bytesReceived > 0)
        let metrics = board.metricsText()
        #expect(metrics.contains("emfleet_rounds_total \(rounds)\n"))
        #expect(metrics.contains("emfleet_shards_computed_total \(rounds * Self.shards)\n"))
        #expect(metrics.contains("emfleet_round_duration_seconds_count \(rounds)\n"))
        #expect(metrics.contains("emfleet_worker_rows_total{host=\"sim\"} \(rounds * Self.data.rows)\n"), "\(metrics)")
        #expect(metrics.contains("emfleet_workers{state=\"ready\"} 2"))
    }

    @Test("a worker that goes silent shows as lost, and its shards as moved to the others")
    func lostWorker() throws {
        let board = StatusBoard(command: "gmm fit", arguments: [])
        _ = try Self.fit(board: board, workers: ["a", "b", "c"], losing: 1)
        let document = board.document()
        #expect(document.workers.map(\.state).sorted() == ["lost", "ready", "ready"])
        #expect(document.workers.filter { $0.state == "lost" }.map(\.shards) == [0])
        #expect(document.workers.filter { $0.state == "ready" }.map(\.shards).reduce(0, +) == Self.shards)
        #expect(document.shardsMoved >= 4)
        let metrics = board.metricsText()
        #expect(metrics.contains("emfleet_workers{state=\"lost\"} 1"))
        #expect(metrics.contains("emfleet_shards_moved_total \(document.shardsMoved)\n"))
    }
}

extension StatusServerTests {
    @Test("the --report page is served once the job has ended, for the page to keep a copy it can link to")
    func servesTheReport() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try "<!doctype html><title>the report</title>".write(to: folder.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        let board = StatusBoard(command: "gmm fit", arguments: [])
        let server = try await StatusServer.start(board: board, address: Self.loopback(), token: nil)
        defer { server.stop() }
        let (before, _, _) = try await Self.get(server.url + "report/index.html")
        #expect(before == 404)
        board.finish(report: folder.path)
        let (after, headers, html) = try await Self.get(server.url + "report/index.html")
        #expect(after == 200 && html.contains("<title>the report</title>"))
        #expect((headers["Content-Type"] as? String)?.hasPrefix("text/html") == true)
        let (_, _, page) = try await Self.get(server.url)
        #expect(page.contains("report/index.html") && page.contains("createObjectURL") && !page.contains("file://"))
    }
}
