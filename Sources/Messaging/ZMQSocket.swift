import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The ZeroMQ socket patterns this wrapper offers (libzmq's stable socket types).
public enum ZMQSocketType: Sendable {
    /// `ZMQ_ROUTER`: prepends the sender's routing id to each incoming message and routes
    /// outgoing messages by their first frame.
    case router
    /// `ZMQ_DEALER`: asynchronous requests, fair-queued in, round-robin out.
    case dealer
    /// `ZMQ_PAIR`: exactly one peer (used for `inproc://` monitors and thread pairs).
    case pair
    /// `ZMQ_REQ`: strict send/receive alternation.
    case req
    /// `ZMQ_REP`: strict receive/send alternation.
    case rep
    /// `ZMQ_PUB`: publishes to all subscribers.
    case pub
    /// `ZMQ_SUB`: receives what a publisher sends.
    case sub
    /// `ZMQ_PUSH`: pipeline output, round-robin.
    case push
    /// `ZMQ_PULL`: pipeline input, fair-queued.
    case pull

    /// The libzmq constant.
    var cValue: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .pair: ZMQ_PAIR
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        }
    }
}

/// A ZeroMQ socket: endpoints, options, and multipart messages as arrays of frames.
///
/// A message is `[[UInt8]]`, one array per frame; sends mark every frame but the last with
/// `ZMQ_SNDMORE`, and receives always return every frame of a message. Frame bytes are copied
/// once each way (`memcpy`), so frames of many megabytes are cheap.
///
/// ```swift
/// let router = try ZMQSocket(context: context, type: .router)
/// try router.bind("tcp://127.0.0.1:*")
/// let endpoint = try router.lastEndpoint
/// let dealer = try ZMQSocket(context: context, type: .dealer)
/// try dealer.connect(endpoint)
/// try dealer.send([[], Array("hello".utf8)])
/// let message = try router.receive()   // [routing id, [], "hello"]
/// ```
///
/// Not `Sendable`: libzmq sockets are not thread safe, so one thread creates and uses a socket.
/// `ZMQ_LINGER` is 0 from the start, so closing never waits for unsent messages. The socket is
/// closed in `deinit` if ``close()`` was not called; calls on a closed socket throw `ENOTSOCK`.
public final class ZMQSocket {
    /// The context this socket came from, kept alive until the socket is released.
    let context: ZMQContext
    /// The libzmq socket handle; `nil` once closed.
    private(set) var handle: UnsafeMutableRawPointer?
    /// Receive scratch space: a `zmq_msg_t` at a fixed address (libzmq keeps small messages
    /// inside the struct, so it must not move between `zmq_msg_recv` and `zmq_msg_data`).
    private let message: UnsafeMutablePointer<zmq_msg_t>

    /// Creates a socket of the given type and sets `ZMQ_LINGER` to 0.
    ///
    /// - Parameters:
    ///   - context: The context that owns the socket's I/O; kept alive by the socket.
    ///   - type: The socket pattern.
    /// - Throws: ``ZMQError`` if libzmq cannot create the socket (e.g. `EMFILE`, or `ETERM`
    ///   after ``ZMQContext/shutdown()``).
    public init(context: ZMQContext, type: ZMQSocketType) throws {
        guard let handle = zmq_socket(context.handle, type.cValue) else {
            throw ZMQError.last("zmq_socket(\(type))")
        }
        self.context = context
        self.handle = handle
        self.message = .allocate(capacity: 1)
        self.message.initialize(to: zmq_msg_t())
        do {
            try setLinger(milliseconds: 0)
        } catch {
            close()
            throw error
        }
    }

    deinit {
        close()
        message.deinitialize(count: 1)
        message.deallocate()
    }

    /// Closes the socket (`zmq_close`); unsent messages are dropped. Safe to call more than once.
    public func close() {
        guard let handle else { return }
        _ = zmq_close(handle)
        self.handle = nil
    }

    /// The open handle, or `ENOTSOCK` naming `operation` if the socket is closed.
    @inline(__always)
    private func openHandle(_ operation: @autoclosure () -> String) throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError(code: ENOTSOCK, operation: "\(operation()) on a closed socket") }
        return handle
    }

    // MARK: - Endpoints

    /// Accepts connections on an endpoint (`zmq_bind`).
    ///
    /// Use `tcp://127.0.0.1:*` to let the system choose a free port, then read ``lastEndpoint``.
    ///
    /// - Parameter endpoint: e.g. `"tcp://*:5555"`, `"tcp://127.0.0.1:*"`, `"inproc://name"`, `"ipc:///tmp/x"`.
    /// - Throws: ``ZMQError`` whose ``ZMQError/operation`` names the endpoint
    ///   (e.g. `EADDRINUSE`, `EPROTONOSUPPORT`, `EINVAL`).
    public func bind(_ endpoint: String) throws {
        let operation = "zmq_bind(\(endpoint))"
        let handle = try openHandle(operation)
        _ = try zmqCall(operation) { zmq_bind(handle, endpoint) }
    }

    /// Connects to an endpoint (`zmq_connect`); libzmq connects, and reconnects, in the background.
    ///
    /// - Parameter endpoint: e.g. `"tcp://10.0.0.5:5555"` or `"inproc://name"`.
    /// - Throws: ``ZMQError`` naming the endpoint if it is malformed or its transport unknown.
    public func connect(_ endpoint: String) throws {
        let operation = "zmq_connect(\(endpoint))"
        let handle = try openHandle(operation)
        _ = try zmqCall(operation) { zmq_connect(handle, endpoint) }
    }

    /// Drops a connection made by ``connect(_:)`` (`zmq_disconnect`).
    ///
    /// - Parameter endpoint: The endpoint exactly as given to ``connect(_:)``.
    /// - Throws: ``ZMQError`` naming the endpoint (`ENOENT` if it was not connected).
    public func disconnect(_ endpoint: String) throws {
        let operation = "zmq_disconnect(\(endpoint))"
        let handle = try openHandle(operation)
        _ = try zmqCall(operation) { zmq_disconnect(handle, endpoint) }
    }

    /// Stops accepting on an endpoint made by ``bind(_:)`` (`zmq_unbind`).
    ///
    /// - Parameter endpoint: The endpoint as bound; for a wildcard port, the resolved
    ///   ``lastEndpoint``.
    /// - Throws: ``ZMQError`` naming the endpoint (`ENOENT` if it was not bound).
    public func unbind(_ endpoint: String) throws {
        let operation = "zmq_unbind(\(endpoint))"
        let handle = try openHandle(operation)
        _ = try zmqCall(operation) { zmq_unbind(handle, endpoint) }
    }

    /// The endpoint last bound or connected, resolved (`ZMQ_LAST_ENDPOINT`).
    ///
    /// After `bind("tcp://127.0.0.1:*")` this is e.g. `"tcp://127.0.0.1:41733"`; empty if
    /// nothing was bound or connected yet.
    ///
    /// - Throws: ``ZMQError`` if the socket is closed.
    public var lastEndpoint: String {
        get throws {
            let operation = "zmq_getsockopt(ZMQ_LAST_ENDPOINT)"
            let handle = try openHandle(operation)
            let capacity = 1024
            var buffer = [CChar](repeating: 0, count: capacity)
            var size = capacity
            _ = try zmqCall(operation) {
                buffer.withUnsafeMutableBytes { raw in zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, raw.baseAddress, &size) }
            }
            // `size` counts the terminating NUL.
            let bytes = buffer.prefix(max(0, min(size, capacity) - 1)).map { UInt8(bitPattern: $0) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    // MARK: - Options

    private func setOption(_ option: Int32, _ name: String, int32 value: Int32) throws {
        try withUnsafeBytes(of: value) { bytes in try setOption(option, name, bytes: bytes) }
    }

    private func setOption(_ option: Int32, _ name: String, int64 value: Int64) throws {
        try withUnsafeBytes(of: value) { bytes in try setOption(option, name, bytes: bytes) }
    }

    private func setOption(_ option: Int32, _ name: String, array: [UInt8]) throws {
        try array.withUnsafeBytes { bytes in try setOption(option, name, bytes: bytes) }
    }

    private func setOption(_ option: Int32, _ name: String, bytes: UnsafeRawBufferPointer) throws {
        let operation = "zmq_setsockopt(\(name))"
        let handle = try openHandle(operation)
        _ = try zmqCall(operation) { zmq_setsockopt(handle, option, bytes.baseAddress, bytes.count) }
    }

    /// Sets how long ``close()`` may wait to deliver unsent messages (`ZMQ_LINGER`).
    ///
    /// New sockets use 0 (drop at once); -1 waits forever and can hang context termination.
    ///
    /// - Parameter milliseconds: The time to wait; 0 drops at once; -1 waits forever.
    /// - Throws: ``ZMQError`` if the socket is closed or the value is refused.
    public func setLinger(milliseconds: Int32) throws {
        try setOption(ZMQ_LINGER, "ZMQ_LINGER", int32: milliseconds)
    }

    /// Sets how many outgoing messages may queue per peer before sends block or drop (`ZMQ_SNDHWM`).
    ///
    /// Set before ``bind(_:)``/``connect(_:)``: it applies to connections made afterwards.
    ///
    /// - Parameter messages: The limit; 0 means none. The default is 1000.
    /// - Throws: ``ZMQError`` if the socket is closed or the value is refused.
    public func setSendHighWaterMark(_ messages: Int32) throws {
        try setOption(ZMQ_SNDHWM, "ZMQ_SNDHWM", int32: messages)
    }

    /// Sets how many incoming messages may queue per peer (`ZMQ_RCVHWM`).
    ///
    /// Set before ``bind(_:)``/``connect(_:)``: it applies to connections made afterwards.
    ///
    /// - Parameter messages: The limit; 0 means none. The default is 1000.
    /// - Throws: ``ZMQError`` if the socket is closed or the value is refused.
    public func setReceiveHighWaterMark(_ messages: Int32) throws {
        try setOption(ZMQ_RCVHWM, "ZMQ_RCVHWM", int32: messages)
    }

    /// Makes a ROUTER fail sends to unknown or full peers instead of dropping them (`ZMQ_ROUTER_MANDATORY`).
    ///
    /// With it on, sending to a routing id with no connected peer throws `EHOSTUNREACH`, and
    /// sending to a peer at its high-water mark blocks (or throws `EAGAIN` with ``trySend(_:)``).
    ///
    /// - Parameter on: Whether unroutable messages are errors.
    /// - Throws: ``ZMQError`` if the socket is closed or not a ROUTER.
    public func setRouterMandatory(_ on: Bool) throws {
        try setOption(ZMQ_ROUTER_MANDATORY, "ZMQ_ROUTER_MANDATORY", int32: on ? 1 : 0)
    }

    /// Bounds the size of an incoming message (`ZMQ_MAXMSGSIZE`).
    ///
    /// A peer that sends a larger message over a network transport is disconnected before the
    /// message is allocated, and the message is never delivered. It does not apply to `inproc://`.
    ///
    /// - Parameter bytes: The largest accepted message; -1 means unlimited.
    /// - Throws: ``ZMQError`` if the socket is closed or the value is refused.
    public func setMaxMessageSize(_ bytes: Int64) throws {
        try setOption(ZMQ_MAXMSGSIZE, "ZMQ_MAXMSGSIZE", int64: bytes)
    }

    /// Bounds how long ``receive()`` blocks (`ZMQ_RCVTIMEO`).
    ///
    /// - Parameter milliseconds: The longest wait; -1 waits forever; 0 never waits.
    /// - Throws: ``ZMQError`` if the socket is closed or the value is refused.
    public func setReceiveTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_RCVTIMEO, "ZMQ_RCVTIMEO", int32: milliseconds)
    }

    /// Bounds how long ``send(_:)`` blocks (`ZMQ_SNDTIMEO`).
    ///
    /// - Parameter milliseconds: The longest wait; -1 waits forever; 0 never waits.
    /// - Throws: ``ZMQError`` if the socket is closed or the value is refused.
    public func setSendTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_SNDTIMEO, "ZMQ_SNDTIMEO", int32: milliseconds)
    }

    /// Chooses the identity a ROUTER peer sees for this socket (`ZMQ_ROUTING_ID`).
    ///
    /// Set it before ``connect(_:)``.
    ///
    /// - Parameter id: 1 to 255 bytes, not starting with a zero byte.
    /// - Throws: ``ZMQError`` (`EINVAL`) if the id is empty, too long, or the socket is closed.
    public func setRoutingID(_ id: [UInt8]) throws {
        try setOption(ZMQ_ROUTING_ID, "ZMQ_ROUTING_ID", array: id)
    }

    /// Queues messages only to completed connections (`ZMQ_IMMEDIATE`).
    ///
    /// With it on, a DEALER does not queue messages for a peer it has not yet connected to.
    ///
    /// - Parameter on: Whether to queue only on completed connections.
    /// - Throws: ``ZMQError`` if the socket is closed.
    public func setImmediate(_ on: Bool) throws {
        try setOption(ZMQ_IMMEDIATE, "ZMQ_IMMEDIATE", int32: on ? 1 : 0)
    }

    /// Sets the pause before reconnecting to a lost peer (`ZMQ_RECONNECT_IVL`).
    ///
    /// - Parameter milliseconds: The pause; -1 disables reconnection. The default is 100.
    /// - Throws: ``ZMQError`` if the socket is closed or the value is refused.
    public func setReconnectInterval(milliseconds: Int32) throws {
        try setOption(ZMQ_RECONNECT_IVL, "ZMQ_RECONNECT_IVL", int32: milliseconds)
    }

    /// Turns on ZMTP heartbeats (`ZMQ_HEARTBEAT_IVL`, `ZMQ_HEARTBEAT_TIMEOUT`, `ZMQ_HEARTBEAT_TTL`).
    ///
    /// The socket pings each peer every `interval` ms and drops the connection if no traffic
    /// arrives within `timeout` ms of a ping; `ttl` asks the remote peer to drop the connection
    /// if it hears nothing from this side for that long. Set before ``bind(_:)``/``connect(_:)``.
    ///
    /// - Parameters:
    ///   - interval: Milliseconds between pings; 0 turns heartbeats off.
    ///   - timeout: Milliseconds to wait for traffic after a ping.
    ///   - ttl: Milliseconds the remote peer waits (rounded down to tenths of a second, at most 6553599).
    /// - Throws: ``ZMQError`` if the socket is closed or a value is refused.
    public func setHeartbeat(interval: Int32, timeout: Int32, ttl: Int32) throws {
        try setOption(ZMQ_HEARTBEAT_IVL, "ZMQ_HEARTBEAT_IVL", int32: interval)
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, "ZMQ_HEARTBEAT_TIMEOUT", int32: timeout)
        try setOption(ZMQ_HEARTBEAT_TTL, "ZMQ_HEARTBEAT_TTL", int32: ttl)
    }

    /// Makes this socket a CURVE server (`ZMQ_CURVE_SERVER` = 1, `ZMQ_CURVE_SECRETKEY`).
    ///
    /// Set before ``bind(_:)``. Without a ZAP handler in the context any client key is accepted:
    /// traffic is encrypted but clients are not authenticated.
    ///
    /// - Parameter secretKey: The server's 32-byte secret key (``ZMQCurve/decode(z85:)`` turns a Z85 key into bytes).
    /// - Throws: ``ZMQError`` (`EINVAL`) if the key is not 32 bytes or libzmq lacks CURVE.
    public func setCurveServer(secretKey: [UInt8]) throws {
        try Self.checkKey(secretKey, "ZMQ_CURVE_SECRETKEY")
        try setOption(ZMQ_CURVE_SERVER, "ZMQ_CURVE_SERVER", int32: 1)
        try setOption(ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", array: secretKey)
    }

    /// Makes this socket a CURVE client of the server with the given public key.
    ///
    /// Sets `ZMQ_CURVE_SERVERKEY`, `ZMQ_CURVE_PUBLICKEY` and `ZMQ_CURVE_SECRETKEY`; set before
    /// ``connect(_:)``.
    ///
    /// - Parameters:
    ///   - serverKey: The server's 32-byte public key.
    ///   - publicKey: This client's 32-byte public key.
    ///   - secretKey: This client's 32-byte secret key.
    /// - Throws: ``ZMQError`` (`EINVAL`) if a key is not 32 bytes or libzmq lacks CURVE.
    public func setCurveClient(serverKey: [UInt8], publicKey: [UInt8], secretKey: [UInt8]) throws {
        try Self.checkKey(serverKey, "ZMQ_CURVE_SERVERKEY")
        try Self.checkKey(publicKey, "ZMQ_CURVE_PUBLICKEY")
        try Self.checkKey(secretKey, "ZMQ_CURVE_SECRETKEY")
        try setOption(ZMQ_CURVE_SERVERKEY, "ZMQ_CURVE_SERVERKEY", array: serverKey)
        try setOption(ZMQ_CURVE_PUBLICKEY, "ZMQ_CURVE_PUBLICKEY", array: publicKey)
        try setOption(ZMQ_CURVE_SECRETKEY, "ZMQ_CURVE_SECRETKEY", array: secretKey)
    }

    private static func checkKey(_ key: [UInt8], _ name: String) throws(ZMQError) {
        guard key.count == 32 else {
            throw ZMQError(code: EINVAL, operation: "zmq_setsockopt(\(name)) with a \(key.count)-byte key (expected 32)")
        }
    }

    /// Sets the ZAP authentication domain (`ZMQ_ZAP_DOMAIN`).
    ///
    /// - Parameter domain: The domain passed to the ZAP handler.
    /// - Throws: ``ZMQError`` if the socket is closed or the domain is refused.
    public func setZAPDomain(_ domain: String) throws {
        try setOption(ZMQ_ZAP_DOMAIN, "ZMQ_ZAP_DOMAIN", array: Array(domain.utf8))
    }

    // MARK: - Messages

    /// Sends a multipart message, blocking while the peer's queue is full (subject to ``setSendTimeout(milliseconds:)``).
    ///
    /// Each frame is copied once into a libzmq message, or lent without a copy from 32 KiB
    /// on (libzmq keeps the array alive until it is sent); all but the last carry `ZMQ_SNDMORE`.
    /// Signals (`EINTR`) are retried.
    ///
    /// - Parameter frames: The frames, at least one; frames may be empty.
    /// - Throws: ``ZMQError``: `EAGAIN` (``ZMQError/wouldBlock``) on send timeout,
    ///   `EHOSTUNREACH` from a mandatory ROUTER, `ETERM` after ``ZMQContext/shutdown()``,
    ///   `EINVAL` for an empty message.
    public func send(_ frames: [[UInt8]]) throws {
        _ = try send(frames, dontWait: false)
    }

    /// Sends a multipart message only if it can be queued now (`ZMQ_DONTWAIT`).
    ///
    /// - Parameter frames: The frames, at least one; frames may be empty.
    /// - Returns: `true` if the whole message was queued, `false` if nothing was sent
    ///   because the queue is full or no peer is connected (`EAGAIN`).
    /// - Throws: ``ZMQError`` for failures other than `EAGAIN`.
    public func trySend(_ frames: [[UInt8]]) throws -> Bool {
        try send(frames, dontWait: true)
    }

    private func send(_ frames: [[UInt8]], dontWait: Bool) throws(ZMQError) -> Bool {
        let handle = try openHandle("zmq_send")
        guard !frames.isEmpty else {
            throw ZMQError(code: EINVAL, operation: "zmq_send of a message with no frames")
        }
        let last = frames.count - 1
        for (index, frame) in frames.enumerated() {
            var flags: Int32 = index < last ? ZMQ_SNDMORE : 0
            // Only the first frame may be refused: once it is queued, libzmq accepts the rest
            // of the message (the high-water mark counts whole messages).
            if dontWait && index == 0 { flags |= ZMQ_DONTWAIT }
            var code: Int32 = 0
            repeat {
                let rc = frame.count >= Self.lendingThreshold
                    ? Self.sendLent(frame, handle: handle, flags: flags)
                    : frame.withUnsafeBytes { bytes in zmq_send(handle, bytes.baseAddress, bytes.count, flags) }
                code = rc >= 0 ? 0 : zmq_errno()
            } while code == EINTR
            guard code != 0 else { continue }
            if dontWait && index == 0 && code == EAGAIN { return false }
            throw ZMQError(code: code, operation: "zmq_send(frame \(index) of \(frames.count))")
        }
        return true
    }

    /// Frames at least this large are lent to libzmq instead of copied (a training step's
    /// weights and gradients: a copy of a megabyte costs about a tenth of a millisecond).
    static let lendingThreshold = 32 << 10

    /// Sends `frame` without copying it: libzmq reads the array's own storage, which a
    /// ``FrameLoan`` keeps alive until libzmq's I/O thread is done with it.
    private static func sendLent(_ frame: [UInt8], handle: UnsafeMutableRawPointer, flags: Int32) -> Int32 {
        let loan = Unmanaged.passRetained(FrameLoan(frame))
        // The array is never mutated while lent (the loan holds it as a constant), so its
        // storage stays where it is until the loan is released.
        let start = loan.takeUnretainedValue().bytes.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress!) }
        var message = zmq_msg_t()
        guard zmq_msg_init_data(&message, start, frame.count, { _, hint in
            Unmanaged<FrameLoan>.fromOpaque(hint!).release()
        }, loan.toOpaque()) == 0 else {
            loan.release()
            return -1
        }
        let rc = zmq_msg_send(&message, handle, flags)
        if rc < 0 {
            let code = zmq_errno()
            _ = zmq_msg_close(&message)  // releases the loan
            errno = code
        }
        return rc
    }

    /// Receives a multipart message, blocking until one arrives (subject to ``setReceiveTimeout(milliseconds:)``).
    ///
    /// Signals (`EINTR`) are retried.
    ///
    /// - Returns: Every frame of the message (a ROUTER's first frame is the sender's routing id).
    /// - Throws: ``ZMQError``: `EAGAIN` (``ZMQError/wouldBlock``) when the receive timeout
    ///   passes, `ETERM` after ``ZMQContext/shutdown()``.
    public func receive() throws -> [[UInt8]] {
        try receive(dontWait: false)!
    }

    /// Receives a multipart message if one is waiting (`ZMQ_DONTWAIT`).
    ///
    /// - Returns: Every frame of the waiting message, or `nil` if none is waiting.
    /// - Throws: ``ZMQError`` for failures other than `EAGAIN`.
    public func tryReceive() throws -> [[UInt8]]? {
        try receive(dontWait: true)
    }

    private func receive(dontWait: Bool) throws(ZMQError) -> [[UInt8]]? {
        let handle = try openHandle("zmq_msg_recv")
        let message = self.message
        var frames: [[UInt8]] = []
        while true {
            _ = zmq_msg_init(message)
            defer { _ = zmq_msg_close(message) }
            // Parts after the first are already here: a multipart message arrives whole.
            let flags: Int32 = dontWait && frames.isEmpty ? ZMQ_DONTWAIT : 0
            do {
                _ = try zmqCall("zmq_msg_recv") { zmq_msg_recv(message, handle, flags) }
            } catch {
                if dontWait && frames.isEmpty && error.wouldBlock { return nil }
                throw error
            }
            let size = zmq_msg_size(message)
            let data = zmq_msg_data(message)
            frames.append(Array(unsafeUninitializedCapacity: size) { buffer, count in
                if size > 0, let data, let target = buffer.baseAddress {
                    UnsafeMutableRawPointer(target).copyMemory(from: data, byteCount: size)
                }
                count = size
            })
            if zmq_msg_more(message) == 0 { return frames }
        }
    }

    // MARK: - Monitoring

    /// Publishes this socket's connection events to an `inproc://` endpoint (`zmq_socket_monitor`).
    ///
    /// Call it before ``bind(_:)``/``connect(_:)`` so that no event is missed, then read the
    /// events with a ``ZMQMonitor`` on the same endpoint and context.
    ///
    /// - Parameters:
    ///   - endpoint: An unused `inproc://` endpoint, e.g. `"inproc://monitor.router"`.
    ///   - events: The events to report.
    /// - Throws: ``ZMQError`` naming the endpoint (e.g. `EPROTONOSUPPORT` for a non-inproc one).
    public func monitor(endpoint: String, events: ZMQMonitorEvents) throws {
        let operation = "zmq_socket_monitor(\(endpoint))"
        let handle = try openHandle(operation)
        _ = try zmqCall(operation) { zmq_socket_monitor(handle, endpoint, Int32(bitPattern: events.rawValue)) }
    }
}

/// A frame's bytes held for libzmq while it sends them without a copy.
private final class FrameLoan: @unchecked Sendable {
    // @unchecked: immutable; released on libzmq's I/O thread.
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}
