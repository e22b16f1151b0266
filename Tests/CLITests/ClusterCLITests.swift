import Datasets
import Foundation
import Numerics
import Cluster
import Messaging
import Mixture
import Testing

/// Data and single-process reference models shared by the cluster tests (made once).
struct ClusterFixture: Sendable {
    let directory: String
    /// 60,000 × 4, 3 components: quick fits.
    let small: String
    /// 300,000 × 16, 8 components: a fit of 100 iterations that lasts a few seconds.
    let long: String

    static let shared = try! ClusterFixture()

    static let smallFit = ["--components", "3", "--seed", "5", "--shards", "12", "--quiet"]
    static let longFit = ["--components", "8", "--seed", "2", "--tol", "0", "--max-iter", "100", "--init", "random-from-data", "--quiet"]

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-cluster-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        small = directory + "/small.npy"
        long = directory + "/long.npy"
        for (path, rows, features, components) in [(small, 60_000, 4, 3), (long, 300_000, 16, 8)] {
            let result = try EmfleetBinary.run([
                "data", "generate", "--samples", "\(rows)", "--features", "\(features)", "--components", "\(components)",
                "--seed", "7", "--out", path,
            ])
            precondition(result.status == 0, result.stderr)
        }
        for (data, arguments, name) in [(small, Self.smallFit, "small"), (long, Self.longFit, "long")] {
            let result = try EmfleetBinary.run(["gmm", "fit", "--data", data, "--out", "\(directory)/\(name)-reference.json"] + arguments)
            precondition(result.status == 0, result.stderr)
        }
    }

    func reference(_ name: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)-reference.json"))
    }
}

private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

/// Multi-process tests: real coordinator and worker processes over `ipc://` and loopback TCP.
@Suite("Distributed EM (processes)", .serialized)
struct ClusterCLITests {
    let fixture = ClusterFixture.shared

    @Test(arguments: [1, 2, 3, 4])
    func modelIsByteIdenticalForAnyWorkerCount(workers: Int) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let out = scratch.path("m.json")
        let result = try EmfleetBinary.run(
            ["gmm", "fit", "--data", fixture.small, "--out", out, "--workers", "\(workers)"] + ClusterFixture.smallFit)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try bytes(out) == (try fixture.reference("small")))
    }

    @Test func streamedShardsGiveTheSameModelAndPredictions() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let out = scratch.path("m.json")
        let fit = try EmfleetBinary.run(
            ["gmm", "fit", "--data", fixture.small, "--out", out, "--workers", "2", "--stream-data"] + ClusterFixture.smallFit)
        #expect(fit.status == 0, "\(fit.stderr)")
        #expect(try bytes(out) == (try fixture.reference("small")))
        let local = try EmfleetBinary.run(["gmm", "predict", "--model", out, "--data", fixture.small, "--out", scratch.path("a.npy"), "--proba"])
        let spread = try EmfleetBinary.run(["gmm", "predict", "--model", out, "--data", fixture.small, "--out", scratch.path("b.npy"), "--proba", "--workers", "3"])
        #expect(local.status == 0 && spread.status == 0, "\(local.stderr)\(spread.stderr)")
        #expect(try bytes(scratch.path("a.npy")) == (try bytes(scratch.path("b.npy"))))
    }

    /// Starts a long fit on two local workers with a JSON log; returns it once iteration `after` is logged.
    private func startLongFit(_ scratch: ScratchDirectory, after iteration: Int, extra: [String] = []) throws -> (RunningEmfleet, [Int32]) {
        let fit = try RunningEmfleet(
            ["gmm", "fit", "--data", fixture.long, "--out", scratch.path("m.json"), "--workers", "2", "--worker-timeout", "1",
             "--log-format", "json"] + ClusterFixture.longFit + extra)
        let started = fit.waitForLine { line in
            (events([line]).first?["iteration"] as? Int).map { $0 >= iteration } ?? false
        }
        #expect(started != nil, "the fit never reached iteration \(iteration)")
        let log = events(fit.finishedLinesSoFar())
        // What the callers do next needs a fit still under way; say so if it already ended.
        try #require(fit.process.isRunning && !log.contains { $0["event"] as? String == "done" },
                     "the fit ended before the test could act on it")
        let pids = log.filter { $0["event"] as? String == "worker_joined" }.compactMap { ($0["pid"] as? Int).map(Int32.init) }
        #expect(pids.count == 2)
        return (fit, pids)
    }

    @Test func killedWorkerIsDeclaredDeadAndTheModelIsUnchanged() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (fit, pids) = try startLongFit(scratch, after: 3)
        kill(pids[0], SIGKILL)
        let result = fit.finish()
        #expect(result.status == 0, "\(result.stderr)")
        let log = events(result.lines)
        let lost = log.firstIndex { $0["event"] as? String == "worker_lost" }
        let lastIteration = log.lastIndex { $0["event"] as? String == "iteration" }
        #expect(lost != nil && lastIteration != nil && lost! < lastIteration!, "worker_lost must come before the last iteration")
        #expect(log.contains { $0["event"] as? String == "shards_moved" })
        #expect(try bytes(scratch.path("m.json")) == (try fixture.reference("long")))
    }

    @Test func frozenWorkerIsReplacedThenRejoins() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (fit, pids) = try startLongFit(scratch, after: 2)
        kill(pids[1], SIGSTOP)
        let lost = fit.waitForLine(timeout: 20) { $0.contains("\"worker_lost\"") }
        kill(pids[1], SIGCONT)
        #expect(lost != nil)
        let result = fit.finish()
        #expect(result.status == 0, "\(result.stderr)")
        let log = events(result.lines)
        let joins = log.filter { $0["event"] as? String == "worker_joined" && $0["pid"] as? Int == Int(pids[1]) }
        #expect(joins.count == 2, "the resumed worker joins again: \(joins)")
        // Under its new worker id it gets shards again at a later round.
        let newID = joins.last?["worker"] as? Int
        #expect(log.contains { $0["event"] as? String == "shards_moved" && $0["to_worker"] as? Int == newID })
        #expect(try bytes(scratch.path("m.json")) == (try fixture.reference("long")))
    }

    @Test func killedCoordinatorResumesToTheSameModelAndLeavesNoWorkers() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (fit, pids) = try startLongFit(scratch, after: 4)
        kill(fit.pid, SIGKILL)
        _ = fit.finish()
        let checkpoint = scratch.path("m.json.checkpoint")
        #expect(FileManager.default.fileExists(atPath: checkpoint))
        #expect(!FileManager.default.fileExists(atPath: scratch.path("m.json")))
        // Local workers notice that their coordinator is gone.
        let deadline = Date().addingTimeInterval(5)
        while pids.contains(where: processExists), Date() < deadline { usleep(50_000) }
        #expect(!pids.contains(where: processExists))
        // A resume with another option is refused, naming it.
        let refused = try EmfleetBinary.run(
            ["gmm", "fit", "--data", fixture.long, "--out", scratch.path("m.json"), "--resume", checkpoint] + ClusterFixture.longFit + ["--tol", "0.5"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("the checkpoint was written by a fit with other options: tolerance was "), "\(refused.stderr)")
        #expect(refused.stderr.contains(" in the checkpoint, 0.5 now"), "\(refused.stderr)")
        let resumed = try EmfleetBinary.run(
            ["gmm", "fit", "--data", fixture.long, "--out", scratch.path("m.json"), "--workers", "2", "--resume", checkpoint]
                + ClusterFixture.longFit)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("emfleet: resuming \(checkpoint) from iteration "), "\(resumed.stderr)")
        #expect(try bytes(scratch.path("m.json")) == (try fixture.reference("long")))
        #expect(!FileManager.default.fileExists(atPath: checkpoint))
    }

    @Test func interruptLeavesNoProcessBehind() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        // A fit that cannot end by itself (--tol 0 and a million iterations; the last --max-iter
        // counts), so the interrupt finds it running however fast the CPU.
        let (fit, pids) = try startLongFit(scratch, after: 2, extra: ["--max-iter", "1000000"])
        kill(fit.pid, SIGINT)
        let result = fit.finish()
        #expect(result.status == 128 + SIGINT || result.status == 130, "status \(result.status)")
        usleep(200_000)
        #expect(!pids.contains(where: processExists))
    }

    /// Starts a coordinator on a free loopback port waiting for `minWorkers`; returns it and its endpoint.
    private func startCoordinator(_ arguments: [String], minWorkers: Int, directory: String? = nil) throws -> (RunningEmfleet, String) {
        let fit = try RunningEmfleet(
            arguments + ["--bind", "tcp://127.0.0.1:*", "--min-workers", "\(minWorkers)", "--log-format", "json"], directory: directory)
        let line = try #require(fit.waitForLine { $0.contains("\"listening\"") })
        let endpoint = try #require(events([line]).first?["endpoint"] as? String)
        return (fit, endpoint)
    }

    private func startWorkers(_ count: Int, endpoint: String, directory: String? = nil) throws -> [RunningEmfleet] {
        try (0..<count).map { _ in
            try RunningEmfleet(["worker", "--connect", endpoint, "--threads", "1", "--coordinator-timeout", "5"], directory: directory)
        }
    }

    @Test func withNoWorkerLeftTheCoordinatorGivesUpKeepingACheckpoint() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (fit, endpoint) = try startCoordinator(
            ["gmm", "fit", "--data", fixture.long, "--out", scratch.path("m.json"), "--worker-timeout", "1", "--wait-workers", "1"]
                + ClusterFixture.longFit, minWorkers: 1)
        let workers = try startWorkers(1, endpoint: endpoint)
        #expect(fit.waitForLine { ($0.contains("\"iteration\":3,")) } != nil)
        kill(workers[0].pid, SIGKILL)
        let result = fit.finish()
        #expect(result.status == 1)
        #expect(result.stderr.contains("no live worker for 1 s (--wait-workers)"), "\(result.stderr)")
        let checkpoint = scratch.path("m.json.checkpoint")
        #expect(FileManager.default.fileExists(atPath: checkpoint))
        let resumed = try EmfleetBinary.run(
            ["gmm", "fit", "--data", fixture.long, "--out", scratch.path("m.json"), "--workers", "2", "--resume", checkpoint]
                + ClusterFixture.longFit)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try bytes(scratch.path("m.json")) == (try fixture.reference("long")))
    }

    @Test func garbageIsDroppedCountedAndChangesNothing() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (fit, endpoint) = try startCoordinator(
            ["gmm", "fit", "--data", fixture.small, "--out", scratch.path("m.json")] + ClusterFixture.smallFit, minWorkers: 2)
        var sent = 0
        let context = try ZMQContext()
        let peer = try ZMQSocket(context: context, type: .dealer)
        try peer.connect(endpoint)
        let valid = Envelope(.heartbeat).encoded
        var wrongVersion = Envelope(.hello).encoded
        wrongVersion[4] = 99
        let garbage: [[[UInt8]]] = [
            [[1, 2, 3]],                                          // too short to be an envelope
            [Array(repeating: 0xAB, count: 24)],                  // bad magic
            [valid, [1], [2]],                                    // too many frames
            [Envelope(.hello).encoded, [0, 0, 0, 9]],             // a truncated hello
            [Envelope(.result, job: 1, round: 1).encoded, Array(repeating: 7, count: 1 << 16)],  // a result from nobody
            [Array(repeating: 0, count: 1 << 20)],                // a large nonsense frame
            [wrongVersion, [0, 0, 0, 0]],                         // another protocol version
        ]
        for message in garbage {
            try peer.send(message)
            sent += 1
        }
        // The peer of another version is told why it is refused.
        try peer.setReceiveTimeout(milliseconds: 5000)
        var refusal: String?
        while refusal == nil, let frames = try? peer.receive() {
            if frames.count == 2, frames[0].count == 24, frames[0][6] == UInt8(MessageKind.refuse.rawValue) {
                refusal = String(decoding: frames[1].dropFirst(4), as: UTF8.self)
            }
        }
        #expect(refusal?.contains("protocol version 99") == true, "\(refusal ?? "no refusal")")
        // Raw bytes that are not ZeroMQ at all.
        try rawTCP(endpoint, bytes: (0..<4096).map { _ in UInt8.random(in: 0...255) })
        peer.close()
        let workers = try startWorkers(2, endpoint: endpoint)
        let result = fit.finish()
        for worker in workers { _ = worker.finish(timeout: 10) }
        #expect(result.status == 0, "\(result.stderr)")
        let done = events(result.lines).first { $0["event"] as? String == "done" }
        let dropped = done?["dropped_messages"] as? Int ?? 0
        #expect(dropped >= sent, "dropped \(dropped) of \(sent) bad messages")
        #expect(try bytes(scratch.path("m.json")) == (try fixture.reference("small")))
    }

    /// A hand-made worker that joins properly, then answers every shard with statistics full of NaN.
    @Test func aWorkerSendingNaNIsTreatedAsFailedAndItsShardsAreRecomputed() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (fit, endpoint) = try startCoordinator(
            ["gmm", "fit", "--data", fixture.small, "--out", scratch.path("m.json")] + ClusterFixture.smallFit, minWorkers: 2)
        let context = try ZMQContext()
        let liar = try ZMQSocket(context: context, type: .dealer)
        try liar.setReceiveTimeout(milliseconds: 10_000)
        try liar.connect(endpoint)
        func text(_ value: String) -> [UInt8] { withUnsafeBytes(of: UInt32(value.utf8.count).littleEndian, Array.init) + Array(value.utf8) }
        func int(_ value: Int) -> [UInt8] { withUnsafeBytes(of: Int64(value).littleEndian, Array.init) }
        // Host, pid, threads, the coordinator's kernel (another would be told to switch), version, name, no runnable
        // kernels, no shared-memory ring.
        let hello = text("liar-host") + int(1) + int(1) + text(BLAS.coreName) + text("0") + text("liar") + [0, 0, 0, 0] + [0]
        try liar.send([Envelope(.hello).encoded, hello])
        let honest = try startWorkers(1, endpoint: endpoint)
        var lied = 0
        receiving: while let frames = try? liar.receive() {
            guard let envelope = try? Envelope.decode(frames[0]).get() else { continue }
            switch envelope.kind {
            case .job:
                try liar.send([Envelope(.ready, job: envelope.job).encoded, text(try DataFingerprint.of(path: fixture.small))])
            case .task:
                // Body: the job's name (u32 length + UTF-8), then the shard list (u32 count + Int64s);
                // the task itself is the frame after it.
                let body = frames[1]
                let nameLength = Int(body[0..<4].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
                let listStart = 4 + nameLength
                let count = Int(body[listStart..<(listStart + 4)].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) })
                for i in 0..<count {
                    let at = listStart + 4 + 8 * i
                    let shard = Int(body[at..<(at + 8)].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) })
                    var statistics = MixtureStatistics(covarianceType: .full, components: 3, dimension: 4)
                    statistics.rows = 5000
                    statistics.moments[0] = .nan
                    let outcome = [UInt8(6)] + withUnsafeBytes(of: UInt32(statistics.encoded().count).littleEndian, Array.init) + statistics.encoded()
                    // A well-formed result for the one shard (first shard, shard count, compute seconds, rows, bytes
                    // read; the outcome in the next frame): only its numbers are wrong.
                    let result = int(shard) + int(1) + withUnsafeBytes(of: (0.01).bitPattern.littleEndian, Array.init) + int(100) + int(0)
                    try liar.send([Envelope(.result, job: envelope.job, round: envelope.round).encoded, result, outcome])
                    lied += 1
                }
            case .rejoin:
                break receiving
            default:
                continue
            }
        }
        liar.close()
        let result = fit.finish()
        for worker in honest { _ = worker.finish(timeout: 10) }
        #expect(lied > 0)
        #expect(result.status == 0, "\(result.stderr)")
        let lost = events(result.lines).first { $0["event"] as? String == "worker_lost" }
        let label = lost?["label"] as? String ?? "", reason = lost?["reason"] as? String ?? ""
        #expect(label.contains("liar"))
        #expect(reason.contains("bad result"), "\(String(describing: lost))")
        #expect(try bytes(scratch.path("m.json")) == (try fixture.reference("small")))
    }

    private func rawTCP(_ endpoint: String, bytes: [UInt8]) throws {
        let fd = loopbackConnection(to: endpoint)
        defer { close(fd) }
        #expect(fd >= 0)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        usleep(100_000)
    }

    @Test func remoteWorkersServeOneJobAfterAnotherAndExitWhenTheCoordinatorIsGone() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (first, endpoint) = try startCoordinator(
            ["gmm", "fit", "--data", fixture.small, "--out", scratch.path("m.json")] + ClusterFixture.smallFit, minWorkers: 2)
        let workers = try startWorkers(2, endpoint: endpoint)
        #expect(first.finish().status == 0)
        #expect(try bytes(scratch.path("m.json")) == (try fixture.reference("small")))
        // A second job on the same endpoint: the same two workers say hello again and serve it.
        let second = try RunningEmfleet(
            ["gmm", "predict", "--model", scratch.path("m.json"), "--data", fixture.small, "--out", scratch.path("labels.npy"),
             "--bind", endpoint, "--min-workers", "2", "--log-format", "json"])
        let served = second.finish()
        #expect(served.status == 0, "\(served.stderr)")
        let pids = Set(events(served.lines).filter { $0["event"] as? String == "worker_joined" }.compactMap { $0["pid"] as? Int })
        #expect(pids == Set(workers.map { Int($0.pid) }))
        let local = try EmfleetBinary.run(["gmm", "predict", "--model", scratch.path("m.json"), "--data", fixture.small, "--out", scratch.path("local.npy")])
        #expect(local.status == 0)
        #expect(try bytes(scratch.path("labels.npy")) == (try bytes(scratch.path("local.npy"))))
        // With their coordinator gone after a clean end, the workers leave after --coordinator-timeout.
        for worker in workers {
            let ended = worker.finish(timeout: 15)
            #expect(ended.status == 0)
            #expect(ended.stderr.contains("the coordinator went away after its job ended"), "\(ended.stderr)")
        }
    }

    @Test func aWorkerThatCannotReadTheFileIsNamedAndTheJobFailsCleanly() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        try FileManager.default.copyItem(atPath: fixture.small, toPath: scratch.path("d.npy"))
        // A relative path: the worker runs elsewhere, where no d.npy exists.
        let (fit, endpoint) = try startCoordinator(
            ["gmm", "fit", "--data", "d.npy", "--out", "m.json", "--wait-workers", "2"] + ClusterFixture.smallFit,
            minWorkers: 1, directory: scratch.url.path)
        let workers = try startWorkers(1, endpoint: endpoint, directory: NSTemporaryDirectory())
        let result = fit.finish()
        for worker in workers { kill(worker.pid, SIGKILL); _ = worker.finish(timeout: 5) }
        #expect(result.status == 1)
        let log = events(result.lines)
        let refusal = log.first { ["worker_error", "worker_refused"].contains($0["event"] as? String ?? "") }
        let reason = (refusal?["message"] as? String) ?? (refusal?["reason"] as? String) ?? ""
        let label = (refusal?["label"] as? String) ?? ""
        #expect(reason.contains("d.npy: no such file"), "\(log)")
        #expect(label.contains(ProcessInfo.processInfo.hostName), "\(label)")
        #expect(result.stderr.hasPrefix("emfleet: error: ") && result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test func badRowsOnAWorkerStopTheJobNamingTheWorkerAndRow() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        var text = "a,b\n"
        for i in 0..<200 { text += i == 150 ? "1,nan\n" : "\(Double(i % 7)),\(Double(i % 5))\n" }
        try text.write(toFile: scratch.path("d.csv"), atomically: true, encoding: .utf8)
        let result = try EmfleetBinary.run(["gmm", "fit", "--data", scratch.path("d.csv"), "--components", "2", "--workers", "2",
                                            "--out", scratch.path("m.json")])
        #expect(result.status == 1)
        let errorLine = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(errorLine.hasPrefix("emfleet: error: worker "), "\(result.stderr)")
        // Data row 150 is line 152 of the file (after the header), column 2.
        #expect(errorLine.contains("\(scratch.path("d.csv")): line 152, column 2 (\"b\"): missing value (NaN)"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("m.json")))
    }
}

extension RunningEmfleet {
    /// The lines read so far (without waiting for the end).
    func finishedLinesSoFar() -> [String] {
        var collected = [String]()
        _ = waitForLine(timeout: 0) { collected.append($0); return false }
        return collected
    }
}
