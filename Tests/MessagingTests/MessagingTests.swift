import CZeroMQ
import Foundation
import Messaging
import Testing

/// A ROUTER bound to `endpoint` and a DEALER with routing id `id` connected to it, with
/// receive timeouts so that a broken test fails instead of hanging.
private func routerDealerPair(
    _ context: ZMQContext, endpoint: String, id: [UInt8] = Array("dealer-1".utf8)
) throws -> (router: ZMQSocket, dealer: ZMQSocket, endpoint: String) {
    let router = try ZMQSocket(context: context, type: .router)
    try router.setReceiveTimeout(milliseconds: 1500)
    try router.bind(endpoint)
    let resolved = try router.lastEndpoint
    let dealer = try ZMQSocket(context: context, type: .dealer)
    try dealer.setReceiveTimeout(milliseconds: 1500)
    try dealer.setRoutingID(id)
    try dealer.connect(resolved)
    return (router, dealer, resolved)
}

/// Bytes that differ from frame to frame and position to position.
private func pattern(count: Int, seed: UInt8) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8 &+ Int(seed)) }
}

@Suite("ZeroMQ sockets")
struct SocketTests {
    @Test("ROUTER/DEALER round trip", arguments: ["inproc://round-trip", "tcp://127.0.0.1:*"])
    func roundTrip(endpoint: String) throws {
        let context = try ZMQContext()
        let (router, dealer, resolved) = try routerDealerPair(context, endpoint: endpoint)
        if endpoint.hasPrefix("tcp") {
            #expect(resolved.hasPrefix("tcp://127.0.0.1:"))
            let port = Int(resolved.dropFirst("tcp://127.0.0.1:".count))
            #expect(port != nil && port! > 0)
        } else {
            #expect(resolved == endpoint)
        }

        try dealer.send([[], Array("hello".utf8)])
        let request = try router.receive()
        #expect(request == [Array("dealer-1".utf8), [], Array("hello".utf8)])

        try router.send([request[0], [], Array("world".utf8)])
        #expect(try dealer.receive() == [[], Array("world".utf8)])
    }

    @Test("multipart with empty frames and an 8 MB frame arrives byte-exact", arguments: ["inproc://big", "tcp://127.0.0.1:*"])
    func multipartAndLargeFrames(endpoint: String) throws {
        let context = try ZMQContext()
        let (router, dealer, _) = try routerDealerPair(context, endpoint: endpoint)
        let big = pattern(count: 8 << 20, seed: 7)
        let frames: [[UInt8]] = [[], [1], [], big, [], pattern(count: 100, seed: 3), []]
        try dealer.send(frames)
        let received = try router.receive()
        #expect(received.count == frames.count + 1)
        #expect(received.first == Array("dealer-1".utf8))
        #expect(Array(received.dropFirst()) == frames)

        // And back, as the reply of a ROUTER.
        try router.send([received[0]] + frames)
        #expect(try dealer.receive() == frames)
    }

    @Test("large frames are lent, not copied: one array sent to many peers and changed or dropped at once arrives intact",
          arguments: ["inproc://lent", "ipc:///tmp/emfleet-messaging-lent-\(getpid())", "tcp://127.0.0.1:*"])
    func lentFrames(endpoint: String) throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context: context, type: .router)
        try router.setReceiveTimeout(milliseconds: 3000)
        try router.bind(endpoint)
        let resolved = try router.lastEndpoint
        let dealers = try (0..<4).map { index in
            let dealer = try ZMQSocket(context: context, type: .dealer)
            try dealer.setReceiveTimeout(milliseconds: 3000)
            try dealer.setRoutingID(Array("peer-\(index)".utf8))
            try dealer.connect(resolved)
            return dealer
        }
        for dealer in dealers { try dealer.send([[1]]) }
        var identities = [[UInt8]]()
        for _ in dealers { identities.append(try router.receive()[0]) }
        let expected = pattern(count: 1 << 20, seed: 11)
        for round in 0..<5 {
            var shared = expected
            for identity in identities {
                // A small frame (copied), the shared large one (lent), a large one of its own (lent).
                try router.send([identity, [UInt8(round)], shared, pattern(count: 40 << 10, seed: UInt8(round))])
            }
            // The sender's array changes at once: the frames lent to libzmq must not.
            for i in stride(from: 0, to: shared.count, by: 4096) { shared[i] ^= 0xFF }
        }
        for dealer in dealers {
            for round in 0..<5 {
                let received = try dealer.receive()
                #expect(received.count == 3)
                #expect(received[0] == [UInt8(round)])
                #expect(received[1] == expected)
                #expect(received[2] == pattern(count: 40 << 10, seed: UInt8(round)))
            }
        }
        // A lent frame that cannot be queued is handed back, not leaked or sent later.
        let lonely = try ZMQSocket(context: context, type: .dealer)
        #expect(try lonely.trySend([expected]) == false)
    }

    @Test("a context with two I/O threads serves several connections; a thread count libzmq refuses is an error")
    func ioThreads() throws {
        let context = try ZMQContext(ioThreads: 2)
        let (router, dealer, resolved) = try routerDealerPair(context, endpoint: "tcp://127.0.0.1:*")
        let second = try ZMQSocket(context: context, type: .dealer)
        try second.setReceiveTimeout(milliseconds: 1500)
        try second.setRoutingID(Array("dealer-2".utf8))
        try second.connect(resolved)
        for socket in [dealer, second] { try socket.send([pattern(count: 100 << 10, seed: 5)]) }
        let first = try router.receive(), other = try router.receive()
        #expect(Set([first[0], other[0]]) == [Array("dealer-1".utf8), Array("dealer-2".utf8)])
        #expect(first[1] == pattern(count: 100 << 10, seed: 5) && other[1] == first[1])
        #expect { try ZMQContext(ioThreads: -1) } throws: { "\($0)".contains("ZMQ_IO_THREADS") }
    }

    @Test("tryReceive returns nil when nothing is waiting, then the whole message")
    func tryReceive() throws {
        let context = try ZMQContext()
        let (router, dealer, _) = try routerDealerPair(context, endpoint: "inproc://try-receive")
        #expect(try router.tryReceive() == nil)
        try dealer.send([Array("a".utf8), Array("b".utf8), []])
        #expect(try ZMQPoll.readable([router], timeoutMilliseconds: 1000) == [0])
        #expect(try router.tryReceive() == [Array("dealer-1".utf8), Array("a".utf8), Array("b".utf8), []])
        #expect(try router.tryReceive() == nil)
    }

    @Test("trySend returns false when a DEALER has no peer")
    func trySendWithoutPeer() throws {
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context: context, type: .dealer)
        #expect(try dealer.trySend([Array("nobody".utf8)]) == false)
        // With ZMQ_IMMEDIATE, a connection that never completes (nothing listens on the
        // discard port) does not queue messages either. The option must precede connect.
        let immediate = try ZMQSocket(context: context, type: .dealer)
        try immediate.setImmediate(true)
        try immediate.connect("tcp://127.0.0.1:9")
        #expect(try immediate.trySend([Array("nobody".utf8)]) == false)
        // Without it, the pending connection gets a queue and the message waits there.
        try dealer.connect("tcp://127.0.0.1:9")
        #expect(try dealer.trySend([Array("queued".utf8)]) == true)
    }

    @Test("a receive timeout throws a wouldBlock error")
    func receiveTimeout() throws {
        let context = try ZMQContext()
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind("inproc://timeout")
        try pull.setReceiveTimeout(milliseconds: 30)
        let start = ContinuousClock.now
        let error = try #require(throws: ZMQError.self) { try pull.receive() }
        #expect(error.wouldBlock)
        #expect(error.code == EAGAIN)
        #expect(!error.isInterrupted)
        #expect(ContinuousClock.now - start >= .milliseconds(25))
    }

    @Test("poll returns the index of the readable socket")
    func poll() throws {
        let context = try ZMQContext()
        let pulls = try (0..<3).map { index in
            let pull = try ZMQSocket(context: context, type: .pull)
            try pull.bind("inproc://poll-\(index)")
            return pull
        }
        let push = try ZMQSocket(context: context, type: .push)
        try push.connect("inproc://poll-2")

        #expect(try ZMQPoll.readable(pulls, timeoutMilliseconds: 0) == [])
        let start = ContinuousClock.now
        #expect(try ZMQPoll.readable(pulls, timeoutMilliseconds: 30) == [])
        #expect(ContinuousClock.now - start >= .milliseconds(25))

        try push.send([Array("x".utf8)])
        #expect(try ZMQPoll.readable(pulls, timeoutMilliseconds: 1000) == [2])
        #expect(try pulls[2].tryReceive() == [Array("x".utf8)])
        #expect(try ZMQPoll.readable(pulls, timeoutMilliseconds: 0) == [])
    }

    @Test("binding a bad endpoint throws an error naming it", arguments: ["bogus://somewhere", "tcp://127.0.0.1:notaport", "tcp://"])
    func badEndpoint(endpoint: String) throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .router)
        let error = try #require(throws: ZMQError.self) { try socket.bind(endpoint) }
        #expect(error.operation == "zmq_bind(\(endpoint))")
        #expect(error.description.hasPrefix("zmq_bind(\(endpoint)): "))
        #expect(error.description.count > "zmq_bind(\(endpoint)): ".count)
    }

    @Test("binding a port in use throws EADDRINUSE")
    func addressInUse() throws {
        let context = try ZMQContext()
        let first = try ZMQSocket(context: context, type: .router)
        try first.bind("tcp://127.0.0.1:*")
        let endpoint = try first.lastEndpoint
        let second = try ZMQSocket(context: context, type: .router)
        let error = try #require(throws: ZMQError.self) { try second.bind(endpoint) }
        #expect(error.code == EADDRINUSE)
        #expect(error.description == "zmq_bind(\(endpoint)): Address already in use")
    }

    @Test("ROUTER_MANDATORY: sending to an unknown identity throws EHOSTUNREACH")
    func routerMandatory() throws {
        let context = try ZMQContext()
        let (router, dealer, _) = try routerDealerPair(context, endpoint: "inproc://mandatory")
        // Without the option the message is silently dropped.
        try router.send([Array("nobody".utf8), Array("lost".utf8)])
        try router.setRouterMandatory(true)
        let error = try #require(throws: ZMQError.self) {
            try router.send([Array("nobody".utf8), Array("lost".utf8)])
        }
        #expect(error.code == EHOSTUNREACH)
        let tryError = try #require(throws: ZMQError.self) {
            _ = try router.trySend([Array("nobody".utf8), Array("lost".utf8)])
        }
        #expect(tryError.code == EHOSTUNREACH)
        // A known peer is still reachable, once it has said something.
        try dealer.send([Array("hi".utf8)])
        _ = try router.receive()
        #expect(try router.trySend([Array("dealer-1".utf8), Array("ok".utf8)]))
        #expect(try dealer.receive() == [Array("ok".utf8)])
    }

    @Test("ZMQ_MAXMSGSIZE drops an oversized message but delivers a small one from another peer")
    func maxMessageSize() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context: context, type: .router)
        try router.setMaxMessageSize(1000)
        try router.setReceiveTimeout(milliseconds: 1500)
        try router.monitor(endpoint: "inproc://monitor.maxsize", events: [.disconnected])
        let monitor = try ZMQMonitor(context: context, endpoint: "inproc://monitor.maxsize")
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint

        let big = try ZMQSocket(context: context, type: .dealer)
        try big.setRoutingID(Array("big".utf8))
        try big.connect(endpoint)
        try big.send([pattern(count: 2000, seed: 1)])

        let small = try ZMQSocket(context: context, type: .dealer)
        try small.setRoutingID(Array("small".utf8))
        try small.connect(endpoint)
        try small.send([pattern(count: 1000, seed: 2)])

        #expect(try router.receive() == [Array("small".utf8), pattern(count: 1000, seed: 2)])
        #expect(try ZMQPoll.readable([router], timeoutMilliseconds: 200) == [])
        #expect(try router.tryReceive() == nil)
        // The oversized peer's connection was dropped by the ROUTER.
        #expect(try monitor.next(timeoutMilliseconds: 1000)?.event == .disconnected)
    }

    @Test("a monitor reports listening, accepted and connected")
    func monitor() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context: context, type: .router)
        try router.monitor(endpoint: "inproc://monitor.router", events: [.listening, .accepted])
        let routerMonitor = try ZMQMonitor(context: context, endpoint: "inproc://monitor.router")
        try router.bind("tcp://127.0.0.1:*")
        let endpoint = try router.lastEndpoint

        let dealer = try ZMQSocket(context: context, type: .dealer)
        try dealer.monitor(endpoint: "inproc://monitor.dealer", events: .all)
        let dealerMonitor = try ZMQMonitor(context: context, endpoint: "inproc://monitor.dealer")
        try dealer.connect(endpoint)

        func events(_ monitor: ZMQMonitor, until wanted: ZMQMonitorEvents) throws -> [ZMQMonitorEvent] {
            var seen: [ZMQMonitorEvent] = []
            let deadline = ContinuousClock.now + .milliseconds(1500)
            while ContinuousClock.now < deadline, !seen.contains(where: { $0.event == wanted }) {
                if let event = try monitor.next(timeoutMilliseconds: 100) { seen.append(event) }
            }
            return seen
        }
        let routerEvents = try events(routerMonitor, until: .accepted)
        #expect(routerEvents.map(\.event) == [.listening, .accepted])
        #expect(routerEvents.allSatisfy { $0.address == endpoint })

        let dealerEvents = try events(dealerMonitor, until: .connected)
        let connected = try #require(dealerEvents.first { $0.event == .connected })
        #expect(connected.address == endpoint)
        #expect(connected.value > 2)   // a file descriptor

        routerMonitor.close()
        dealerMonitor.close()
        #expect(throws: ZMQError.self) { _ = try routerMonitor.next(timeoutMilliseconds: 0) }
    }

    @Test("calls on a closed socket throw ENOTSOCK")
    func closedSocket() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .pair)
        socket.close()
        socket.close()
        let error = try #require(throws: ZMQError.self) { try socket.send([[1]]) }
        #expect(error.code == ENOTSOCK)
        #expect(throws: ZMQError.self) { try socket.bind("inproc://closed") }
        #expect(throws: ZMQError.self) { _ = try ZMQPoll.readable([socket], timeoutMilliseconds: 0) }
    }

    @Test("an empty message is refused")
    func emptyMessage() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .dealer)
        let error = try #require(throws: ZMQError.self) { try socket.send([]) }
        #expect(error.code == EINVAL)
    }

    @Test("context shutdown wakes a thread blocked in receive with ETERM")
    func shutdownWakesReceive() throws {
        let context = try ZMQContext()
        // Also on a failed requirement below, so the thread does not stay blocked.
        defer { context.shutdown() }
        let probe = ReceiveProbe()
        let thread = Thread {
            do {
                let pull = try ZMQSocket(context: context, type: .pull)
                defer { pull.close() }
                try pull.bind("inproc://shutdown")
                probe.set(.receiving)
                _ = try pull.receive()
                probe.set(.returned(code: nil))
            } catch let error as ZMQError {
                probe.set(.returned(code: error.code))
            } catch {
                probe.set(.returned(code: -1))
            }
        }
        thread.start()
        // A socket made or bound after the shutdown fails with ETERM too: the thread must be in
        // receive, and still there with nothing to receive, before the shutdown proves anything.
        let reached = probe.wait(timeout: 10) { $0 != .starting }
        try #require(reached == .receiving, "the thread did not get to receive: \(reached)")
        Thread.sleep(forTimeInterval: 0.2)
        try #require(probe.stage == .receiving, "receive returned with nothing sent: \(probe.stage)")
        context.shutdown()
        let woken = probe.wait(timeout: 5) { $0 != .receiving }
        #expect(woken == .returned(code: ETERM), "5 s after the shutdown: \(woken)")
    }

    @Test("the library version is 4.x")
    func version() {
        #expect(ZeroMQLibrary.version.hasPrefix("4."))
    }
}

@Suite("CURVE")
struct CurveTests {
    @Test("keyPair, publicKey, encode and decode agree", .enabled(if: ZMQCurve.isAvailable))
    func keys() throws {
        let pair = try ZMQCurve.keyPair()
        #expect(pair.publicKey.utf8.count == 40)
        #expect(pair.secretKey.utf8.count == 40)
        #expect(pair.publicKey != pair.secretKey)
        #expect(try ZMQCurve.publicKey(fromSecret: pair.secretKey) == pair.publicKey)

        let secret = try ZMQCurve.decode(z85: pair.secretKey)
        #expect(secret.count == 32)
        #expect(try ZMQCurve.encode(secret) == pair.secretKey)
        #expect(try ZMQCurve.keyPair().secretKey != pair.secretKey)
    }

    @Test("Z85 matches the specification's test vector")
    func z85Vector() throws {
        let bytes: [UInt8] = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]
        #expect(try ZMQCurve.encode(bytes) == "HelloWorld")
        #expect(try ZMQCurve.decode(z85: "HelloWorld") == bytes)
    }

    @Test("bad Z85 input throws EINVAL", arguments: ["", "shor", "#####", "HelloWorl", "Hello World", "Hellö", "~~~~~"])
    func badZ85(text: String) throws {
        if text.isEmpty {
            #expect(try ZMQCurve.decode(z85: text) == [])
            return
        }
        let error = try #require(throws: ZMQError.self) { try ZMQCurve.decode(z85: text) }
        #expect(error.code == EINVAL)
    }

    @Test("bad keys throw EINVAL")
    func badKeys() throws {
        #expect(throws: ZMQError.self) { try ZMQCurve.encode([1, 2, 3]) }
        #expect(throws: ZMQError.self) { try ZMQCurve.publicKey(fromSecret: "HelloWorld") }
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, type: .router)
        let error = try #require(throws: ZMQError.self) { try socket.setCurveServer(secretKey: [UInt8](repeating: 1, count: 31)) }
        #expect(error.code == EINVAL)
    }

    @Test("a CURVE client and server exchange messages", .enabled(if: ZMQCurve.isAvailable))
    func exchange() throws {
        let serverKeys = try ZMQCurve.keyPair()
        let clientKeys = try ZMQCurve.keyPair()
        let context = try ZMQContext()

        let server = try ZMQSocket(context: context, type: .router)
        try server.setCurveServer(secretKey: try ZMQCurve.decode(z85: serverKeys.secretKey))
        try server.setReceiveTimeout(milliseconds: 1500)
        try server.monitor(endpoint: "inproc://monitor.curve", events: [.handshakeSucceeded])
        let monitor = try ZMQMonitor(context: context, endpoint: "inproc://monitor.curve")
        try server.bind("tcp://127.0.0.1:*")

        let client = try ZMQSocket(context: context, type: .dealer)
        try client.setCurveClient(
            serverKey: try ZMQCurve.decode(z85: serverKeys.publicKey),
            publicKey: try ZMQCurve.decode(z85: clientKeys.publicKey),
            secretKey: try ZMQCurve.decode(z85: clientKeys.secretKey)
        )
        try client.setReceiveTimeout(milliseconds: 1500)
        try client.setRoutingID(Array("curve-client".utf8))
        try client.connect(try server.lastEndpoint)

        try client.send([Array("secret".utf8)])
        #expect(try server.receive() == [Array("curve-client".utf8), Array("secret".utf8)])
        try server.send([Array("curve-client".utf8), Array("reply".utf8)])
        #expect(try client.receive() == [Array("reply".utf8)])
        #expect(try monitor.next(timeoutMilliseconds: 1000)?.event == .handshakeSucceeded)
    }
}

@Suite("ZMQError")
struct ErrorTests {
    @Test("description is the operation and libzmq's message")
    func description() {
        let error = ZMQError(code: EAGAIN, operation: "zmq_msg_recv")
        #expect(error.description == "zmq_msg_recv: Resource temporarily unavailable")
        #expect(error.wouldBlock)
        #expect(ZMQError(code: EINTR, operation: "x").isInterrupted)
        #expect(error == ZMQError(code: EAGAIN, operation: "zmq_msg_recv"))
        #expect(error != ZMQError(code: EAGAIN, operation: "zmq_send"))
    }
}

/// How far the receiving thread of `shutdownWakesReceive` got, behind one lock.
private final class ReceiveProbe: @unchecked Sendable {
    // @unchecked: `current` is only touched under `condition`.
    enum Stage: Equatable, Sendable {
        case starting
        /// About to call `receive`.
        case receiving
        /// `receive` returned: nil for a message, else the error code it threw.
        case returned(code: Int32?)
    }

    private let condition = NSCondition()
    private var current = Stage.starting

    var stage: Stage {
        condition.lock()
        defer { condition.unlock() }
        return current
    }

    func set(_ stage: Stage) {
        condition.lock()
        current = stage
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until `predicate` holds for the stage, or `timeout` seconds; returns the stage then.
    func wait(timeout: TimeInterval, until predicate: (Stage) -> Bool) -> Stage {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !predicate(current), condition.wait(until: deadline) {}
        return current
    }
}
