import Cluster
import Datasets
import Messaging
import Mixture
import Foundation
import Testing

/// CURVE keys and authentication, through the real binary.
@Suite("CURVE clusters (processes)", .serialized)
struct SecurityCLITests {
    let fixture = ClusterFixture.shared

    private func keygen(_ scratch: ScratchDirectory, _ directory: String, _ name: String) throws {
        let result = try EmfleetBinary.run(["keygen", "--out", scratch.path(directory), "--name", name])
        #expect(result.status == 0, "\(result.stderr)")
    }

    @Test func keygenWritesAPrivateSecretAndTheLoaderRefusesAReadableOne() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        try keygen(scratch, "keys", "w")
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.path("keys/w.secret"))
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let publicKey = try String(contentsOfFile: scratch.path("keys/w.public"), encoding: .utf8)
        #expect(publicKey.trimmingCharacters(in: .newlines).count == 40)
        let again = try EmfleetBinary.run(["keygen", "--out", scratch.path("keys"), "--name", "w"])
        #expect(again.status == 1 && again.stderr.contains("exists"))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: scratch.path("keys/w.secret"))
        let refused = try EmfleetBinary.run(["worker", "--connect", "tcp://127.0.0.1:9", "--curve-secret", scratch.path("keys/w.secret"),
                                             "--coordinator-key", scratch.path("keys/w.public")])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("readable by others (mode 644); run chmod 600"), "\(refused.stderr)")
    }

    @Test func onlyAuthorizedWorkersJoinAndTheModelIsUnchanged() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        try keygen(scratch, "keys", "coordinator")
        try keygen(scratch, "keys/workers", "good")
        try keygen(scratch, "stranger", "bad")
        let fit = try RunningEmfleet(["gmm", "fit", "--data", fixture.small, "--out", scratch.path("m.json"), "--bind", "tcp://127.0.0.1:*",
                                      "--min-workers", "1", "--log-format", "json", "--curve-secret", scratch.path("keys/coordinator.secret"),
                                      "--authorized-keys", scratch.path("keys/workers")] + ClusterFixture.smallFit)
        let listening = try #require(fit.waitForLine { $0.contains("\"listening\"") })
        let endpoint = try #require(events([listening]).first?["endpoint"] as? String)
        // A worker with a key the coordinator does not know, and one without CURVE: both are turned away.
        let stranger = try EmfleetBinary.run(["worker", "--connect", endpoint, "--curve-secret", scratch.path("stranger/bad.secret"),
                                              "--coordinator-key", scratch.path("keys/coordinator.public"), "--coordinator-timeout", "5"])
        #expect(stranger.status == 1)
        #expect(stranger.stderr.contains("authentication failed"), "\(stranger.stderr)")
        let plain = try EmfleetBinary.run(["worker", "--connect", endpoint, "--coordinator-timeout", "5"])
        #expect(plain.status == 1)
        #expect(plain.stderr.contains("handshake with the coordinator"), "\(plain.stderr)")
        // A plain TCP client gets ZeroMQ's greeting and nothing more.
        let heard = try rawExchange(endpoint, send: Array(repeating: 0x41, count: 512))
        #expect(heard.count < 1024, "a raw TCP client got \(heard.count) bytes")
        let good = try RunningEmfleet(["worker", "--connect", endpoint, "--curve-secret", scratch.path("keys/workers/good.secret"),
                                       "--coordinator-key", scratch.path("keys/coordinator.public"), "--coordinator-timeout", "2"])
        let result = fit.finish()
        _ = good.finish(timeout: 10)
        #expect(result.status == 0, "\(result.stderr)")
        let log = events(result.lines)
        let badKey = try String(contentsOfFile: scratch.path("stranger/bad.public"), encoding: .utf8).prefix(8)
        #expect(log.contains { ($0["label"] as? String ?? "").contains(String(badKey)) && $0["event"] as? String == "worker_refused" })
        #expect(log.filter { $0["event"] as? String == "worker_joined" }.count == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("m.json"))) == (try fixture.reference("small")))
    }

    /// Connects over plain TCP, sends `bytes`, and returns what comes back within a second.
    private func rawExchange(_ endpoint: String, send bytes: [UInt8]) throws -> [UInt8] {
        let fd = loopbackConnection(to: endpoint)
        defer { close(fd) }
        #expect(fd >= 0)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var received = [UInt8](), buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        return received
    }

    @Test func curveOptionsGoTogether() throws {
        let result = try EmfleetBinary.run(["gmm", "fit", "--data", "x.npy", "--components", "2", "--out", "m.json",
                                            "--bind", "tcp://127.0.0.1:5555", "--curve-secret", "c.secret"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--curve-secret and --authorized-keys together"))
    }
}

extension SecurityCLITests {
    @Test func anUnencryptedBindBeyondLoopbackIsRefusedUnlessInsecure() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let refused = try EmfleetBinary.run(["gmm", "fit", "--data", fixture.small, "--components", "2", "--out", scratch.path("m.json"),
                                             "--bind", "tcp://0.0.0.0:0"])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("listens beyond this machine without encryption"), "\(refused.stderr)")
        // --insecure lets it start: it then waits for workers (none come) and gives up.
        let allowed = try EmfleetBinary.run(["gmm", "fit", "--data", fixture.small, "--components", "2", "--out", scratch.path("m.json"),
                                             "--bind", "tcp://0.0.0.0:*", "--insecure", "--wait-workers", "1"])
        #expect(allowed.status == 1)
        #expect(allowed.stderr.contains("no worker joined"), "\(allowed.stderr)")
    }
}

extension SecurityCLITests {
    /// Streams the rows of a fit through a recording proxy: a stretch of the data file's bytes
    /// shows up on the wire without CURVE and never with it.
    @Test(arguments: [false, true])
    func streamedRowsAreUnreadableOnTheWireWithCurve(encrypted: Bool) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        try keygen(scratch, "keys", "coordinator")
        try keygen(scratch, "keys/workers", "w")
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture.small))
        // Two rows from inside the first shard (12 shards of 5,000 rows of 4 float64 values).
        let start = try NPYReader(path: fixture.small).dataOffset + 2500 * 4 * 8
        let pattern = data[start..<(start + 64)]
        let curve = encrypted
            ? ["--curve-secret", scratch.path("keys/coordinator.secret"), "--authorized-keys", scratch.path("keys/workers")] : []
        let fit = try RunningEmfleet(["gmm", "fit", "--data", fixture.small, "--out", scratch.path("m.json"), "--bind", "tcp://127.0.0.1:*",
                                      "--min-workers", "1", "--stream-data", "--log-format", "json"] + curve + ClusterFixture.smallFit)
        let listening = try #require(fit.waitForLine { $0.contains("\"listening\"") })
        let endpoint = try #require(events([listening]).first?["endpoint"] as? String)
        let proxy = try RecordingProxy(upstreamPort: try #require(UInt16(endpoint.split(separator: ":").last!)))
        defer { proxy.close() }
        let workerCurve = encrypted
            ? ["--curve-secret", scratch.path("keys/workers/w.secret"), "--coordinator-key", scratch.path("keys/coordinator.public")] : []
        // Without CURVE a worker on this host would take the rows through shared memory, past the
        // proxy: the control case goes through the socket. With CURVE no ring is mapped, which
        // the rows on the wire (over a megabyte) show.
        let worker = try RunningEmfleet(["worker", "--connect", "tcp://127.0.0.1:\(proxy.port)", "--coordinator-timeout", "2"]
                                        + (encrypted ? workerCurve : ["--no-shared-memory"]))
        let result = fit.finish()
        _ = worker.finish(timeout: 10)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("m.json"))) == (try fixture.reference("small")))
        let wire = proxy.bytesFromServer
        #expect(wire.count > 1_000_000, "the rows went through the proxy (\(wire.count) bytes)")
        #expect((wire.range(of: pattern) != nil) == !encrypted, encrypted ? "rows readable despite CURVE" : "the pattern should be visible without CURVE")
    }
}

extension SecurityCLITests {
    /// The coordinator's resident memory, in bytes (from /proc).
    private func residentBytes(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
    }

    /// An admitted peer sends maximum-size messages for 30 seconds, before and during the fit:
    /// the coordinator's memory stays bounded, the messages are dropped, the model is unchanged.
    @Test func aFloodFromAnAdmittedPeerIsBoundedAndChangesNothing() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        try keygen(scratch, "keys", "coordinator")
        try keygen(scratch, "keys/workers", "w")
        let fit = try RunningEmfleet(["gmm", "fit", "--data", fixture.small, "--out", scratch.path("m.json"), "--bind", "tcp://127.0.0.1:*",
                                      "--min-workers", "1", "--log-format", "json", "--wait-workers", "120",
                                      "--curve-secret", scratch.path("keys/coordinator.secret"), "--authorized-keys", scratch.path("keys/workers")]
                                      + ClusterFixture.smallFit)
        let listening = try #require(fit.waitForLine { $0.contains("\"listening\"") })
        let endpoint = try #require(events([listening]).first?["endpoint"] as? String)
        usleep(300_000)
        let baseline = residentBytes(fit.pid)
        let secret = try String(contentsOfFile: scratch.path("keys/workers/w.secret"), encoding: .utf8).trimmingCharacters(in: .newlines)
        let coordinatorKey = try String(contentsOfFile: scratch.path("keys/coordinator.public"), encoding: .utf8).trimmingCharacters(in: .newlines)
        let context = try ZMQContext()
        let flood = try ZMQSocket(context: context, type: .dealer)
        try flood.setSendHighWaterMark(2)
        try flood.setSendTimeout(milliseconds: 2000)
        try flood.setCurveClient(serverKey: try ZMQCurve.decode(z85: coordinatorKey),
                                 publicKey: try ZMQCurve.decode(z85: try ZMQCurve.publicKey(fromSecret: secret)),
                                 secretKey: try ZMQCurve.decode(z85: secret))
        try flood.connect(endpoint)
        // The largest message that fits once CURVE has framed it (its MESSAGE command adds a few dozen bytes).
        let size = MixtureJob.messageLimit(largestShard: 5000, columns: 4) - 64
        let junk = [UInt8](repeating: 0x5A, count: size)
        let start = Date()
        var sent = 0, peak = baseline
        var worker: RunningEmfleet?
        while Date().timeIntervalSince(start) < 30 {
            if (try? flood.send([junk])) != nil { sent += 1 }
            peak = max(peak, residentBytes(fit.pid))
            // The fit runs in the last seconds of the flood.
            if worker == nil, Date().timeIntervalSince(start) > 27 {
                worker = try RunningEmfleet(["worker", "--connect", endpoint, "--curve-secret", scratch.path("keys/workers/w.secret"),
                                             "--coordinator-key", scratch.path("keys/coordinator.public"), "--coordinator-timeout", "2"])
            }
            if !fit.process.isRunning { break }
        }
        flood.close()
        let result = fit.finish()
        _ = worker?.finish(timeout: 10)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(sent > 10, "the flood sent \(sent) messages of \(size) bytes")
        #expect(peak - baseline < 100 << 20, "peak RSS grew by \((peak - baseline) >> 20) MB during the flood")
        let done = events(result.lines).first { $0["event"] as? String == "done" }
        #expect((done?["dropped_messages"] as? Int ?? 0) >= 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("m.json"))) == (try fixture.reference("small")))
    }
}
