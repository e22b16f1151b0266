import Foundation
import Testing

/// Aggregators as real processes: `emfleet aggregator` between a coordinator and workers over
/// real sockets, with CURVE, and killed with SIGKILL mid-fit.
@Suite("Aggregators", .serialized)
struct AggregatorCLITests {
    let fixture = ClusterFixture.shared

    private func keygen(_ scratch: ScratchDirectory, _ directory: String, _ name: String) throws {
        let result = try EmfleetBinary.run(["keygen", "--out", scratch.path(directory), "--name", name])
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// Starts a fit bound on loopback and returns it with its endpoint.
    private func startFit(_ arguments: [String]) throws -> (RunningEmfleet, String) {
        let fit = try RunningEmfleet(["gmm", "fit", "--bind", "tcp://127.0.0.1:*", "--log-format", "json"] + arguments)
        let listening = try #require(fit.waitForLine { $0.contains("\"listening\"") })
        return (fit, try #require(events([listening]).first?["endpoint"] as? String))
    }

    @Test func twoAggregatorsAndADirectWorkerGiveTheOneProcessModel() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (fit, endpoint) = try startFit(["--data", fixture.small, "--out", scratch.path("m.json"), "--min-workers", "5"] + ClusterFixture.smallFit)
        var others = [RunningEmfleet]()
        for group in ["a", "b"] {
            others.append(try RunningEmfleet(["aggregator", "--connect", endpoint, "--bind", "ipc://\(scratch.path(group)).sock", "--name", group,
                                              "--coordinator-timeout", "3"]))
        }
        for (index, group) in ["a", "a", "b", "b"].enumerated() {
            others.append(try RunningEmfleet(["worker", "--connect", "ipc://\(scratch.path(group)).sock", "--threads", "1", "--name", "w\(index)",
                                              "--coordinator-timeout", "3"]))
        }
        others.append(try RunningEmfleet(["worker", "--connect", endpoint, "--threads", "1", "--coordinator-timeout", "3"]))
        let result = fit.finish()
        for other in others { _ = other.finish(timeout: 20) }
        #expect(result.status == 0, "\(result.stderr)")
        let log = events(result.lines)
        #expect(log.filter { $0["event"] as? String == "aggregator_joined" }.count == 2)
        let joined = log.filter { $0["event"] as? String == "worker_joined" }
        #expect(joined.count == 5)
        #expect(joined.filter { $0["via_aggregator"] as? Int != nil }.count == 4)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("m.json"))) == (try fixture.reference("small")))
    }

    @Test func curveThroughAnAggregatorAdmitsOnlyTheKeysTheCoordinatorLists() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        try keygen(scratch, "keys", "coordinator")
        try keygen(scratch, "keys/authorized", "aggregator")
        try keygen(scratch, "keys/authorized", "worker")
        try keygen(scratch, "stranger", "bad")
        let (fit, endpoint) = try startFit(["--data", fixture.small, "--out", scratch.path("m.json"), "--min-workers", "1",
                                            "--curve-secret", scratch.path("keys/coordinator.secret"),
                                            "--authorized-keys", scratch.path("keys/authorized")] + ClusterFixture.smallFit)
        let socket = "ipc://\(scratch.path("a")).sock"
        let aggregator = try RunningEmfleet(["aggregator", "--connect", endpoint, "--bind", socket, "--coordinator-timeout", "3",
                                             "--curve-secret", scratch.path("keys/authorized/aggregator.secret"),
                                             "--coordinator-key", scratch.path("keys/coordinator.public")])
        // A key the coordinator does not list is refused by the aggregator.
        let stranger = try EmfleetBinary.run(["worker", "--connect", socket, "--curve-secret", scratch.path("stranger/bad.secret"),
                                              "--coordinator-key", scratch.path("keys/authorized/aggregator.public"), "--coordinator-timeout", "5"])
        #expect(stranger.status == 1)
        #expect(stranger.stderr.contains("authentication failed"), "\(stranger.stderr)")
        let worker = try RunningEmfleet(["worker", "--connect", socket, "--curve-secret", scratch.path("keys/authorized/worker.secret"),
                                         "--coordinator-key", scratch.path("keys/authorized/aggregator.public"), "--coordinator-timeout", "3"])
        let result = fit.finish()
        _ = worker.finish(timeout: 20)
        _ = aggregator.finish(timeout: 20)
        #expect(result.status == 0, "\(result.stderr)")
        let joined = events(result.lines).filter { $0["event"] as? String == "worker_joined" }
        #expect(joined.count == 1 && joined.first?["via_aggregator"] as? Int != nil)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("m.json"))) == (try fixture.reference("small")))
    }

    @Test func aKilledAggregatorsWorkersTurnToTheCoordinatorAndTheModelIsUnchanged() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (fit, endpoint) = try startFit(["--data", fixture.long, "--out", scratch.path("m.json"), "--min-workers", "2", "--worker-timeout", "1"]
                                           + ClusterFixture.longFit)
        let socket = "ipc://\(scratch.path("a")).sock"
        let aggregator = try RunningEmfleet(["aggregator", "--connect", endpoint, "--bind", socket, "--coordinator-timeout", "5"])
        let workers = try (0..<2).map { index in
            try RunningEmfleet(["worker", "--connect", "\(socket),\(endpoint)", "--threads", "1", "--name", "w\(index)", "--coordinator-timeout", "5"])
        }
        let started = fit.waitForLine { line in (events([line]).first?["iteration"] as? Int).map { $0 >= 3 } ?? false }
        #expect(started != nil, "the fit never reached iteration 3")
        try #require(fit.process.isRunning, "the fit ended before the test could act on it")
        kill(aggregator.pid, SIGKILL)
        let result = fit.finish()
        for worker in workers { _ = worker.finish(timeout: 20) }
        #expect(result.status == 0, "\(result.stderr)")
        let log = events(result.lines)
        let lost = log.firstIndex { $0["event"] as? String == "aggregator_lost" }
        let lastIteration = log.lastIndex { $0["event"] as? String == "iteration" }
        #expect(lost != nil && lastIteration != nil && lost! < lastIteration!, "aggregator_lost must come before the last iteration")
        // Both workers came back directly: two joins through the aggregator, two after it died.
        let joined = log.filter { $0["event"] as? String == "worker_joined" }
        #expect(joined.count == 4)
        #expect(joined.prefix(2).allSatisfy { $0["via_aggregator"] as? Int != nil } && joined.suffix(2).allSatisfy { $0["via_aggregator"] as? Int == nil })
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("m.json"))) == (try fixture.reference("long")))
    }

    @Test func aTrainingJobThroughAnAggregatorIsTheOneProcessModel() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = scratch.path("t.npy"), labels = scratch.path("t-labels.npy")
        let generated = try EmfleetBinary.run(["data", "generate", "--samples", "6000", "--features", "6", "--components", "3", "--seed", "4",
                                               "--out", data, "--labels", labels])
        #expect(generated.status == 0, "\(generated.stderr)")
        let training = ["mlp", "train", "--data", data, "--labels", labels, "--hidden", "16", "--epochs", "3", "--seed", "2", "--shards", "8", "--quiet"]
        let alone = try EmfleetBinary.run(training + ["--out", scratch.path("one.json")])
        #expect(alone.status == 0, "\(alone.stderr)")
        let fit = try RunningEmfleet(training + ["--out", scratch.path("agg.json"), "--bind", "tcp://127.0.0.1:*", "--min-workers", "2",
                                                 "--log-format", "json"])
        let listening = try #require(fit.waitForLine { $0.contains("\"listening\"") })
        let endpoint = try #require(events([listening]).first?["endpoint"] as? String)
        let socket = "ipc://\(scratch.path("a")).sock"
        let aggregator = try RunningEmfleet(["aggregator", "--connect", endpoint, "--bind", socket, "--coordinator-timeout", "3"])
        let workers = try (0..<2).map { _ in try RunningEmfleet(["worker", "--connect", socket, "--threads", "1", "--coordinator-timeout", "3"]) }
        let result = fit.finish()
        for worker in workers { _ = worker.finish(timeout: 20) }
        _ = aggregator.finish(timeout: 20)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("agg.json"))) == (try Data(contentsOf: URL(fileURLWithPath: scratch.path("one.json")))))
    }
}
