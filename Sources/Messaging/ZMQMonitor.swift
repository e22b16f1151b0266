import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A set of socket events, as `ZMQ_EVENT_*` bits, for ``ZMQSocket/monitor(endpoint:events:)``.
///
/// A single reported event (``ZMQMonitorEvent/event``) is one of these flags.
public struct ZMQMonitorEvents: OptionSet, Sendable, Hashable {
    /// The `ZMQ_EVENT_*` bits.
    public let rawValue: UInt32

    /// Creates a set from `ZMQ_EVENT_*` bits.
    ///
    /// - Parameter rawValue: The bits.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    private init(_ value: Int32) { self.rawValue = UInt32(bitPattern: value) }

    /// `ZMQ_EVENT_CONNECTED`: a connection to a remote peer was made; value is its file descriptor.
    public static let connected = ZMQMonitorEvents(ZMQ_EVENT_CONNECTED)
    /// `ZMQ_EVENT_CONNECT_DELAYED`: a connect did not complete at once and is pending.
    public static let connectDelayed = ZMQMonitorEvents(ZMQ_EVENT_CONNECT_DELAYED)
    /// `ZMQ_EVENT_CONNECT_RETRIED`: a reconnect is scheduled; value is the interval in ms.
    public static let connectRetried = ZMQMonitorEvents(ZMQ_EVENT_CONNECT_RETRIED)
    /// `ZMQ_EVENT_LISTENING`: the socket is bound and listening; value is the listening descriptor.
    public static let listening = ZMQMonitorEvents(ZMQ_EVENT_LISTENING)
    /// `ZMQ_EVENT_BIND_FAILED`: a bind failed; value is the `errno`.
    public static let bindFailed = ZMQMonitorEvents(ZMQ_EVENT_BIND_FAILED)
    /// `ZMQ_EVENT_ACCEPTED`: a connection from a remote peer was accepted; value is its descriptor.
    public static let accepted = ZMQMonitorEvents(ZMQ_EVENT_ACCEPTED)
    /// `ZMQ_EVENT_ACCEPT_FAILED`: accepting a connection failed; value is the `errno`.
    public static let acceptFailed = ZMQMonitorEvents(ZMQ_EVENT_ACCEPT_FAILED)
    /// `ZMQ_EVENT_CLOSED`: a connection's descriptor was closed; value is the descriptor.
    public static let closed = ZMQMonitorEvents(ZMQ_EVENT_CLOSED)
    /// `ZMQ_EVENT_CLOSE_FAILED`: closing a descriptor failed; value is the `errno`.
    public static let closeFailed = ZMQMonitorEvents(ZMQ_EVENT_CLOSE_FAILED)
    /// `ZMQ_EVENT_DISCONNECTED`: a session broke unexpectedly; value is the descriptor.
    public static let disconnected = ZMQMonitorEvents(ZMQ_EVENT_DISCONNECTED)
    /// `ZMQ_EVENT_MONITOR_STOPPED`: monitoring stopped (the socket closed); the last event.
    public static let monitorStopped = ZMQMonitorEvents(ZMQ_EVENT_MONITOR_STOPPED)
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL`: the ZMTP handshake failed; value is the `errno`.
    public static let handshakeFailedNoDetail = ZMQMonitorEvents(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
    /// `ZMQ_EVENT_HANDSHAKE_SUCCEEDED`: the ZMTP handshake, and any security mechanism, succeeded.
    public static let handshakeSucceeded = ZMQMonitorEvents(ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL`: the peer broke the protocol; value is a `ZMQ_PROTOCOL_ERROR_*` code.
    public static let handshakeFailedProtocol = ZMQMonitorEvents(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
    /// `ZMQ_EVENT_HANDSHAKE_FAILED_AUTH`: authentication failed; value is the ZAP status code (e.g. 400).
    public static let handshakeFailedAuth = ZMQMonitorEvents(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
    /// `ZMQ_EVENT_ALL`: every event.
    public static let all = ZMQMonitorEvents(ZMQ_EVENT_ALL)
}

/// One event read from a socket monitor.
public struct ZMQMonitorEvent: Sendable {
    /// What happened: a single flag of ``ZMQMonitorEvents``.
    public var event: ZMQMonitorEvents
    /// The event's value: a file descriptor, an `errno`, an interval or a status code, by event.
    public var value: UInt32
    /// The endpoint concerned, e.g. `"tcp://127.0.0.1:41733"`.
    public var address: String

    /// Creates an event.
    ///
    /// - Parameters:
    ///   - event: The event flag.
    ///   - value: The event's value.
    ///   - address: The endpoint concerned.
    public init(event: ZMQMonitorEvents, value: UInt32, address: String) {
        self.event = event
        self.value = value
        self.address = address
    }
}

/// Reads the events that ``ZMQSocket/monitor(endpoint:events:)`` publishes: a PAIR socket
/// connected to the monitor endpoint.
///
/// ```swift
/// try router.monitor(endpoint: "inproc://monitor.router", events: [.accepted, .disconnected])
/// let monitor = try ZMQMonitor(context: context, endpoint: "inproc://monitor.router")
/// try router.bind("tcp://127.0.0.1:*")
/// while let event = try monitor.next(timeoutMilliseconds: 100) { print(event.event, event.address) }
/// ```
///
/// Not `Sendable`, like ``ZMQSocket``: one thread uses it.
public final class ZMQMonitor {
    private let socket: ZMQSocket

    /// Connects a PAIR socket to a monitor endpoint.
    ///
    /// - Parameters:
    ///   - context: The context of the monitored socket.
    ///   - endpoint: The `inproc://` endpoint given to ``ZMQSocket/monitor(endpoint:events:)``.
    /// - Throws: ``ZMQError`` if the socket cannot be created or connected.
    public init(context: ZMQContext, endpoint: String) throws {
        socket = try ZMQSocket(context: context, type: .pair)
        try socket.connect(endpoint)
    }

    /// Waits for the next event.
    ///
    /// - Parameter timeoutMilliseconds: The longest wait; 0 does not wait; -1 waits forever.
    /// - Returns: The event, or `nil` if none came in time.
    /// - Throws: ``ZMQError`` if the monitor is closed, the context shut down, or a message is
    ///   not a monitor event (`EPROTO`).
    public func next(timeoutMilliseconds: Int32) throws -> ZMQMonitorEvent? {
        guard try !ZMQPoll.readable([socket], timeoutMilliseconds: Int(timeoutMilliseconds)).isEmpty,
              let frames = try socket.tryReceive()
        else { return nil }
        // Frame 1: u16 event, u32 value, native byte order; frame 2: the endpoint.
        guard frames.count == 2, frames[0].count == 6 else {
            throw ZMQError(code: EPROTO, operation: "decoding a monitor message of \(frames.count) frames (\(frames.first?.count ?? 0) bytes first)")
        }
        let (event, value) = frames[0].withUnsafeBytes { raw in
            (raw.loadUnaligned(fromByteOffset: 0, as: UInt16.self), raw.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        }
        return ZMQMonitorEvent(
            event: ZMQMonitorEvents(rawValue: UInt32(event)),
            value: value,
            address: String(decoding: frames[1], as: UTF8.self)
        )
    }

    /// Closes the PAIR socket. Safe to call more than once.
    public func close() {
        socket.close()
    }
}
