import Foundation
import Messaging
import Numerics

/// What a coordinator's transport delivers.
public enum TransportEvent: Sendable {
    /// A message from a peer: its identity frame, then the frames it sent.
    case message([[UInt8]])
    /// A connection failed the handshake below the emfleet protocol (garbage bytes, another protocol).
    case handshakeFailed(address: String, detail: String)
    /// A CURVE client with a key that is not authorized was refused.
    case keyRefused(fingerprint: String, address: String)
    /// A message that could not be taken off its shared-memory ring (a bad descriptor): dropped.
    case undeliverable(reason: String)
}

/// How a coordinator reaches its workers: the seam between the runtime's logic and ZeroMQ.
///
/// ``ZMQCoordinatorTransport`` is the real one (a ROUTER socket, its monitor and the ZAP
/// handler); tests drive the coordinator through an in-memory one with a ``ManualClock``, so
/// membership, rebalancing and timeouts are checked in milliseconds without sleeping.
public protocol CoordinatorTransport: AnyObject {
    /// The endpoint workers connect to.
    var endpoint: String { get }
    /// Waits up to `timeout` seconds for traffic, then returns everything that has arrived.
    func poll(timeout: Double) throws -> [TransportEvent]
    /// Sends `frames` (the first is the peer's identity); a peer that is gone is found out by its silence.
    func send(_ frames: [[UInt8]])
    /// Closes the transport; messages already sent may still leave.
    func close()
    /// Maps the shared-memory ring that the worker at `identity`, process `pid` on this host,
    /// offered; from then on its big frames travel through the ring both ways. Returns why not
    /// when it cannot (nil: attached).
    func attachRing(_ offer: RingOffer, pid: Int, for identity: [UInt8]) -> String?
    /// Forgets the ring of `identity` (a worker lost or gone).
    func detachRing(for identity: [UInt8])
    /// Bytes of frames sent and received through shared-memory rings so far.
    var sharedMemoryBytes: Int { get }
}

extension CoordinatorTransport {
    /// No shared memory: every frame goes through the transport itself.
    public func attachRing(_ offer: RingOffer, pid: Int, for identity: [UInt8]) -> String? { "this transport has no shared memory" }
    /// Nothing to forget.
    public func detachRing(for identity: [UInt8]) {}
    /// None.
    public var sharedMemoryBytes: Int { 0 }
}

/// A monotonic clock in seconds: the seam through which tests control the runtime's time.
public protocol RuntimeClock: AnyObject, Sendable {
    /// Seconds since an arbitrary origin; never decreases.
    func now() -> Double
}

/// The machine's monotonic clock.
public final class SystemClock: RuntimeClock {
    private let origin = ContinuousClock.now

    /// Creates a clock whose origin is now.
    public init() {}

    /// Seconds since the clock was made.
    public func now() -> Double { (ContinuousClock.now - origin).seconds }
}

/// A clock that moves only when told: for in-process tests of timeouts.
public final class ManualClock: RuntimeClock {
    private let time = Locked(0.0)

    /// A clock at time 0.
    public init() {}

    /// The current simulated time.
    public func now() -> Double { time.current }

    /// Moves the clock forward by `seconds`.
    public func advance(by seconds: Double) { time.withLock { $0 += max(0, seconds) } }
}

/// The coordinator's side over ZeroMQ: a ROUTER socket with a message-size limit, a monitor for
/// failed handshakes and, with CURVE, the ZAP handler that admits only authorized keys.
public final class ZMQCoordinatorTransport: CoordinatorTransport {
    private let context: ZMQContext
    private let socket: ZMQSocket
    private let monitor: ZMQMonitor
    private let zap: ZAPHandler?
    private var refused: [TransportEvent] = []
    private let requestedEndpoint: String
    private let messageLimit: Int
    /// The shared-memory rings of workers on this host, by identity.
    private var rings: [[UInt8]: SharedRing] = [:]
    /// What the rings detached so far carried.
    private var detachedRingBytes = 0
    /// Every ring mapped so far: one mapped again would start its counters afresh while the
    /// worker's went on, so a repeated offer is refused (a worker offers a new ring in every new hello).
    private var mappedRings: Set<UInt64> = []

    /// Binds `endpoint`; workers may connect from now on.
    ///
    /// - Parameters:
    ///   - messageLimit: the largest message accepted (libzmq drops a connection that sends more).
    ///   - curve: CURVE keys and the authorized worker keys (nil: no encryption).
    public init(endpoint: String, messageLimit: Int, curve: CurveServerSettings?) throws {
        requestedEndpoint = endpoint
        self.messageLimit = messageLimit
        // Two I/O threads serve the workers' connections side by side: with one, a step's
        // weights went to the workers one after the other, and two local workers at
        // 784-256-128-10 took about 7% longer per epoch (docs/BENCHMARKS.md).
        context = try ZMQContext(ioThreads: ProcessInfo.processInfo.activeProcessorCount > 1 ? 2 : 1)
        socket = try ZMQSocket(context: context, type: .router)
        try socket.setRouterMandatory(true)
        // Memory one peer can make the coordinator hold is bounded by the queue and message limits
        // (libzmq assembles a whole message before handing it over): see docs/PROTOCOL.md.
        try socket.setMaxMessageSize(Int64(messageLimit))
        try socket.setSendHighWaterMark(0)
        try socket.setReceiveHighWaterMark(WireProtocol.coordinatorQueuePerPeer)
        let monitorEndpoint = "inproc://emfleet-coordinator-monitor-\(UUID().uuidString)"
        try socket.monitor(
            endpoint: monitorEndpoint, events: [.handshakeFailedNoDetail, .handshakeFailedProtocol, .handshakeFailedAuth])
        monitor = try ZMQMonitor(context: context, endpoint: monitorEndpoint)
        if let curve {
            let handler = try ZAPHandler(context: context, authorized: curve.authorized)
            zap = handler
            try socket.setCurveServer(secretKey: try ZMQCurve.decode(z85: curve.keys.secretKey))
            try socket.setZAPDomain("emfleet")
        } else {
            zap = nil
        }
        try socket.bind(endpoint)
        zap?.onRefused = { [weak self] fingerprint, address in
            self?.refused.append(.keyRefused(fingerprint: fingerprint, address: address))
        }
    }

    deinit { close() }

    private var closed = false

    /// The endpoint actually bound (resolves `tcp://…:*`).
    public var endpoint: String { (try? socket.lastEndpoint) ?? requestedEndpoint }

    /// Waits for the socket or the ZAP handler, serves authentication requests, and returns
    /// every message and handshake failure that is waiting.
    public func poll(timeout: Double) throws -> [TransportEvent] {
        var ready = try ZMQPoll.readable([socket] + (zap.map { [$0.socket] } ?? []), timeoutMilliseconds: Int((timeout * 1000).rounded(.up)))
        // Every poll, not only when a request waits: delayed refusals fall due on their own.
        try zap?.serve()
        ready.removeAll { $0 == 1 }
        var events = refused
        refused.removeAll()
        while let event = try? monitor.next(timeoutMilliseconds: 0) {
            events.append(.handshakeFailed(address: event.address, detail: "event \(event.value)"))
        }
        guard !ready.isEmpty else { return events }
        // At most about one largest message's worth per poll: what is left stays in libzmq's
        // bounded queue (the socket stays readable), so a flood never has the queue and a
        // drained copy of it in memory at once.
        var taken = 0
        while taken < messageLimit, var frames = try socket.tryReceive() {
            if let identity = frames.first, let ring = rings[identity] {
                do {
                    frames = try ring.incoming(frames, from: 1)
                } catch {
                    events.append(.undeliverable(reason: "\(error)"))
                    continue
                }
            }
            taken += frames.reduce(0) { $0 + $1.count }
            events.append(.message(frames))
        }
        return events
    }

    /// Sends without blocking; a peer that vanished (EHOSTUNREACH) is found out by its silence.
    public func send(_ frames: [[UInt8]]) {
        if let identity = frames.first, let ring = rings[identity] {
            _ = try? socket.trySend(ring.outgoing(frames, from: 1))
        } else {
            _ = try? socket.trySend(frames)
        }
    }

    /// Maps the worker's ring (see ``SharedRing``); without CURVE only, so that with it every
    /// byte goes through the encrypted socket.
    public func attachRing(_ offer: RingOffer, pid: Int, for identity: [UInt8]) -> String? {
        guard zap == nil else { return "CURVE is on" }
        guard mappedRings.insert(offer.id).inserted else { return "ring \(String(offer.id, radix: 16)) was offered before" }
        do {
            rings[identity] = try SharedRing.open(offer, pid: pid)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Unmaps the worker's ring.
    public func detachRing(for identity: [UInt8]) {
        detachedRingBytes += rings.removeValue(forKey: identity)?.bytesCarried ?? 0
    }

    /// Bytes through the rings, attached and detached.
    public var sharedMemoryBytes: Int { rings.values.reduce(detachedRingBytes) { $0 + $1.bytesCarried } }

    /// Closes the ZAP handler, the monitor and the socket.
    public func close() {
        guard !closed else { return }
        closed = true
        detachedRingBytes = sharedMemoryBytes
        rings.removeAll()
        zap?.close()
        monitor.close()
        socket.close()
    }
}
