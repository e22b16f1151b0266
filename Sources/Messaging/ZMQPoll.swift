import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Waiting on several sockets at once (`zmq_poll`).
public enum ZMQPoll {
    /// Waits until any socket is readable or `timeoutMilliseconds` passes (-1 = forever); returns the indices of readable sockets.
    ///
    /// A socket is readable when a whole message is waiting; read it with
    /// ``ZMQSocket/tryReceive()``. Signals (`EINTR`) are retried with the time that is left.
    ///
    /// ```swift
    /// for index in try ZMQPoll.readable([router, control], timeoutMilliseconds: 250) {
    ///     while let message = try [router, control][index].tryReceive() { handle(message) }
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - sockets: The sockets to watch, all used by this thread.
    ///   - timeoutMilliseconds: The longest wait; 0 does not wait; -1 waits forever.
    /// - Returns: The indices into `sockets` of the readable ones, ascending; empty on timeout.
    /// - Throws: ``ZMQError``: `ENOTSOCK` if a socket is closed, `ETERM` after ``ZMQContext/shutdown()``.
    public static func readable(_ sockets: [ZMQSocket], timeoutMilliseconds: Int) throws -> [Int] {
        var items = try sockets.enumerated().map { (index, socket) throws(ZMQError) -> zmq_pollitem_t in
            guard let handle = socket.handle else {
                throw ZMQError(code: ENOTSOCK, operation: "zmq_poll on closed socket \(index)")
            }
            return zmq_pollitem_t(socket: handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(max(timeoutMilliseconds, 0)))
        var timeout = timeoutMilliseconds
        while true {
            let rc = zmq_poll(&items, Int32(items.count), timeout)
            if rc >= 0 { break }
            let code = zmq_errno()
            guard code == EINTR else { throw ZMQError(code: code, operation: "zmq_poll(\(sockets.count) sockets)") }
            if timeoutMilliseconds > 0 {
                let left = clock.now.duration(to: deadline)
                timeout = max(0, Int((left.components.seconds * 1000) + left.components.attoseconds / 1_000_000_000_000_000))
            }
        }
        return items.indices.filter { items[$0].revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
