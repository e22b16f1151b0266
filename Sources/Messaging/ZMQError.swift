import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libzmq call: the `errno` value it left and the call it concerns.
///
/// This is the only place where a C error becomes a Swift error. The ``description`` names
/// the call (with the endpoint or option it concerned) and libzmq's explanation:
///
/// ```
/// zmq_bind(tcp://127.0.0.1:5555): Address already in use
/// ```
public struct ZMQError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The `errno` value (a system value such as `EAGAIN`, or one of libzmq's own such as `ETERM`).
    public let code: Int32
    /// The call that failed, with what it concerned, e.g. `"zmq_bind(tcp://127.0.0.1:5555)"`.
    public let operation: String

    /// Creates an error from an `errno` value and the call it concerns.
    ///
    /// - Parameters:
    ///   - code: The `errno` value.
    ///   - operation: The call that failed, e.g. `"zmq_connect(tcp://host:5555)"`.
    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// `"<operation>: <zmq_strerror(code)>"`.
    public var description: String {
        "\(operation): \(String(cString: zmq_strerror(code)))"
    }

    /// Whether a signal interrupted the call (`EINTR`).
    public var isInterrupted: Bool { code == EINTR }

    /// Whether the call would have blocked, or timed out (`EAGAIN`).
    public var wouldBlock: Bool { code == EAGAIN }

    /// The error libzmq's last failed call on this thread left, for `operation`.
    static func last(_ operation: String) -> ZMQError {
        ZMQError(code: zmq_errno(), operation: operation)
    }
}

/// Runs a libzmq call until it does not fail with `EINTR`; throws any other failure.
///
/// - Returns: The call's non-negative result.
@inline(__always)
func zmqCall(_ operation: @autoclosure () -> String, retryingInterrupts: Bool = true, _ body: () -> Int32) throws(ZMQError) -> Int32 {
    while true {
        let rc = body()
        if rc >= 0 { return rc }
        let code = zmq_errno()
        if code == EINTR && retryingInterrupts { continue }
        throw ZMQError(code: code, operation: operation())
    }
}
