import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A ZeroMQ context: the I/O threads and the `inproc://` namespace that sockets share.
///
/// Create one per process (or one per test) and pass it to every ``ZMQSocket``. Each socket
/// keeps its context alive, so the context is terminated (`zmq_ctx_term`) only after every
/// socket made from it has been closed and released; since sockets set `ZMQ_LINGER` to 0,
/// termination never waits for unsent messages.
///
/// ```swift
/// let context = try ZMQContext()
/// let socket = try ZMQSocket(context: context, type: .router)
/// try socket.bind("tcp://127.0.0.1:*")
/// ```
///
/// `@unchecked Sendable`: the only state is the libzmq context handle, which is set once and
/// never changed; libzmq documents contexts as thread safe, so any thread may create sockets
/// from it or call ``shutdown()``.
public final class ZMQContext: @unchecked Sendable {
    /// The libzmq context handle; valid until `deinit`.
    let handle: UnsafeMutableRawPointer

    /// Creates a context (`zmq_ctx_new`) whose sockets' traffic runs on `ioThreads` threads of
    /// libzmq's (`ZMQ_IO_THREADS`; each connection is served by one of them).
    ///
    /// - Throws: ``ZMQError`` if libzmq cannot create one (e.g. too many open files) or refuses
    ///   the thread count.
    public init(ioThreads: Int = 1) throws {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new") }
        self.handle = handle
        if ioThreads != 1, zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(clamping: ioThreads)) != 0 {
            let error = ZMQError.last("zmq_ctx_set(ZMQ_IO_THREADS, \(ioThreads))")
            zmq_ctx_term(handle)
            throw error
        }
    }

    /// Makes every blocking call on this context's sockets return `ETERM` (`zmq_ctx_shutdown`).
    ///
    /// Use it from another thread to wake sockets blocked in ``ZMQSocket/receive()``,
    /// ``ZMQSocket/send(_:)`` or ``ZMQPoll/readable(_:timeoutMilliseconds:)``; those calls then
    /// throw a ``ZMQError`` whose code is `ETERM`. The sockets must still be closed. Safe to call
    /// more than once.
    public func shutdown() {
        _ = zmq_ctx_shutdown(handle)
    }

    deinit {
        // All sockets are closed by now: each one retains its context until it is released.
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}
