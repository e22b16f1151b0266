import Engine
import Foundation
import Messaging
import Numerics

/// How an aggregator connects, listens and behaves.
public struct AggregatorOptions: Sendable {
    /// The coordinator's endpoint.
    public var coordinator: String
    /// Where its workers connect (`tcp://0.0.0.0:6000`, `ipc:///path`); bound once the
    /// coordinator has admitted it.
    public var bind: String
    /// A name shown in the coordinator's messages.
    public var name = ""
    /// Exit when nothing has been heard from the coordinator for this long.
    public var coordinatorTimeout: Double = 60
    /// Exit when the parent process goes away (launch scripts).
    public var exitWithParent = false
    /// CURVE: this aggregator's key pair (which its workers know as their server's key) and the
    /// coordinator's public key; its workers must hold keys the coordinator lists (nil: none).
    public var curve: CurveClientSettings?

    /// Creates options.
    public init(coordinator: String, bind: String) {
        self.coordinator = coordinator
        self.bind = bind
    }
}

/// An aggregator process: one connection to the coordinator for many workers, which connect to
/// it as they would to the coordinator. It relays their messages, sends the coordinator one
/// folded result per block of the shard tree it covers, and one state message per heartbeat
/// period for all of them (see ``AggregatorCore``).
public final class ClusterAggregator {
    private let options: AggregatorOptions
    private let context: ZMQContext
    private let upstream: ZMQSocket
    private let upstreamMonitor: ZMQMonitor
    private var downstream: ZMQSocket?
    private var zap: ZAPHandler?
    private let core: AggregatorCore
    private let clock = SystemClock()
    private let parent = getppid()

    /// Connects to the coordinator (lazily: ZeroMQ retries until it is there).
    ///
    /// - Parameter jobs: the jobs whose results it can add; it computes none.
    public init(options: AggregatorOptions, jobs: JobRegistry) throws {
        self.options = options
        context = try ZMQContext()
        upstream = try ZMQSocket(context: context, type: .dealer)
        try upstream.setMaxMessageSize(WireProtocol.maxMessageBytes)
        try upstream.setReconnectInterval(milliseconds: 200)
        try upstream.setSendHighWaterMark(0)
        if let curve = options.curve {
            try upstream.setCurveClient(
                serverKey: try ZMQCurve.decode(z85: curve.coordinatorKey), publicKey: try ZMQCurve.decode(z85: curve.keys.publicKey),
                secretKey: try ZMQCurve.decode(z85: curve.keys.secretKey))
        }
        let monitorEndpoint = "inproc://emfleet-aggregator-monitor-\(UUID().uuidString)"
        try upstream.monitor(endpoint: monitorEndpoint, events: [.handshakeFailedAuth, .handshakeFailedProtocol, .handshakeFailedNoDetail])
        upstreamMonitor = try ZMQMonitor(context: context, endpoint: monitorEndpoint)
        try upstream.connect(options.coordinator)
        core = AggregatorCore(
            hello: Hello(host: ProcessInfo.processInfo.hostName, pid: Int(getpid()), threads: 1, blasCore: BLAS.coreName,
                         software: EmfleetVersion.string, name: options.name),
            jobs: jobs, clock: clock)
    }

    deinit {
        zap?.close()
        downstream?.close()
        upstreamMonitor.close()
        upstream.close()
    }

    /// Serves until told to shut down, or until the coordinator has gone away after its last
    /// job ended cleanly.
    ///
    /// - Returns: why it stopped, as a line to print.
    /// - Throws: ``AggregatorExit`` when refused, when the coordinator goes silent during a job or
    ///   before any, when its handshake fails, or when the address to bind cannot be bound.
    @discardableResult
    public func run() throws -> String {
        try deliver(core.start())
        while true {
            var sockets = [upstream]
            if let downstream { sockets.append(downstream) }
            if let zap { sockets.append(zap.socket) }
            let wait = max(0, min(0.2, core.nextTick - clock.now()))
            let ready = try ZMQPoll.readable(sockets, timeoutMilliseconds: Int((wait * 1000).rounded(.up)))
            try zap?.serve()
            if ready.contains(0) {
                while let frames = try upstream.tryReceive() {
                    try deliver(try core.fromCoordinator(frames))
                    if let reason = core.stopped { return reason }
                }
            }
            if core.welcome != nil, downstream == nil { try listen() }
            if let downstream, ready.contains(1) {
                // At most about one largest message's worth per poll, as the coordinator does.
                var taken = 0
                let limit = core.welcome?.messageLimit ?? WireProtocol.minimumMessageLimit
                while taken < limit, let frames = try downstream.tryReceive() {
                    taken += frames.reduce(0) { $0 + $1.count }
                    // An identity, an envelope, a body and, for a result, its outcome.
                    guard frames.count >= 2, frames.count <= 4 else { continue }
                    try deliver(core.fromWorker(identity: frames[0], Array(frames.dropFirst())))
                }
            }
            try deliver(core.tick())
            try checkHandshakes()
            if options.exitWithParent, getppid() != parent {
                throw AggregatorExit(description: "the process that started this aggregator has exited")
            }
            if clock.now() - core.lastHeardUp > options.coordinatorTimeout {
                if core.lastJobEnded { return "the coordinator went away after its job ended; exiting" }
                throw AggregatorExit(description: "no word from the coordinator at \(options.coordinator) for \(Int(options.coordinatorTimeout)) s; exiting")
            }
        }
    }

    /// Binds the workers' socket with the coordinator's message limit and, with CURVE, a ZAP
    /// handler that admits the worker keys the coordinator listed.
    private func listen() throws {
        guard let welcome = core.welcome else { return }
        let socket = try ZMQSocket(context: context, type: .router)
        try socket.setRouterMandatory(true)
        try socket.setMaxMessageSize(Int64(welcome.messageLimit))
        try socket.setSendHighWaterMark(0)
        try socket.setReceiveHighWaterMark(WireProtocol.coordinatorQueuePerPeer)
        if let curve = options.curve {
            zap = try ZAPHandler(context: context, authorized: Set(welcome.authorizedKeys))
            try socket.setCurveServer(secretKey: try ZMQCurve.decode(z85: curve.keys.secretKey))
            try socket.setZAPDomain("emfleet")
        }
        do {
            try socket.bind(options.bind)
        } catch {
            throw AggregatorExit(description: "cannot bind \(options.bind) for workers: \(error)")
        }
        downstream = socket
        FileHandle.standardError.write(Data(
            "emfleet: aggregator\(options.name.isEmpty ? "" : " " + options.name): admitted by the coordinator at \(options.coordinator); workers connect to \((try? socket.lastEndpoint) ?? options.bind)\n".utf8))
    }

    private func deliver(_ outputs: [AggregatorOutput]) throws {
        for output in outputs {
            switch output {
            case let .up(frames):
                // Its state and hellos are repeated anyway: one that cannot be queued now is dropped.
                if let first = frames.first, first.count == Envelope.size, first[6] == UInt8(MessageKind.groupState.rawValue) || first[6] == UInt8(MessageKind.aggregatorHello.rawValue) {
                    _ = try upstream.trySend(frames)
                } else {
                    try upstream.send(frames)
                }
            case let .down(identity, frames):
                // A worker that is gone is found out by its silence.
                _ = try? downstream?.trySend([identity] + frames)
            }
        }
    }

    /// Gives up when the coordinator refuses this aggregator's key or speaks another security mechanism.
    private func checkHandshakes() throws {
        while let event = try upstreamMonitor.next(timeoutMilliseconds: 0) {
            if event.event.contains(.handshakeFailedAuth) {
                let fingerprint = options.curve.map { CurveKeyPair.fingerprint($0.keys.publicKey) } ?? "none"
                throw AggregatorExit(description: "authentication failed: the coordinator at \(options.coordinator) does not accept this aggregator's key (\(fingerprint)); add its .public file to the coordinator's --authorized-keys")
            }
            throw AggregatorExit(description: options.curve == nil
                ? "the handshake with the coordinator at \(options.coordinator) failed: it probably requires CURVE; give --curve-secret and --coordinator-key"
                : "the handshake with the coordinator at \(options.coordinator) failed: check --coordinator-key (or the coordinator does not use CURVE)")
        }
    }
}
