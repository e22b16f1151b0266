import Cluster
import Engine
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The shared-memory ring between a worker and a coordinator on one host, both of its sides
/// mapped in this process (the coordinator's through `/proc/self/fd`, as it maps a worker's).
@Suite("Shared-memory rings")
struct SharedRingTests {
    private static let pid = Int(getpid())

    private static func bytes(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    }

    private static func pair(capacity: Int = SharedRing.defaultCapacity) throws -> (worker: SharedRing, coordinator: SharedRing) {
        let worker = try SharedRing.create(capacity: capacity)
        return (worker, try SharedRing.open(worker.offer, pid: pid))
    }

    @Test("big frames travel through the ring both ways and arrive as sent; small ones stay in the message")
    func roundTrip() throws {
        let (worker, coordinator) = try Self.pair()
        let result = [Array("envelope".utf8), [1, 2, 3], Self.bytes(940_584, seed: 7)]
        let sent = worker.outgoing(result)
        #expect(sent.count == 4)
        #expect(sent[0] == result[0] && sent[1] == result[1] && sent[2].isEmpty)
        #expect(SharedRing.isDescriptor(sent[3]))
        // The coordinator's ROUTER puts the worker's identity first.
        let identity: [UInt8] = [0, 1, 2, 3, 4]
        #expect(try coordinator.incoming([identity] + sent, from: 1) == [identity] + result)

        let task = [Array("envelope".utf8), Array("body".utf8), Self.bytes(300_000, seed: 9)]
        let outgoing = coordinator.outgoing([identity] + task, from: 1)
        #expect(outgoing.count == 5 && outgoing[3].isEmpty)
        #expect(try worker.incoming(Array(outgoing.dropFirst())) == task)
    }

    @Test("frames that wrap past the end of the data are placed whole at its start, round after round")
    func wrapsAround() throws {
        let (worker, coordinator) = try Self.pair(capacity: 1 << 20)
        for round in 0..<40 {
            let frames = [[UInt8(round)], Self.bytes(300_001 + round * 977, seed: UInt8(round)), Self.bytes(100_003, seed: 3)]
            let sent = worker.outgoing(frames)
            #expect(sent.count == 4, "round \(round): both big frames in the ring")
            #expect(try coordinator.incoming(sent) == frames, "round \(round)")
        }
    }

    @Test("a frame that does not fit the unread space goes through the socket; reading frees the space")
    func fullRingFallsBackToTheSocket() throws {
        let (worker, coordinator) = try Self.pair(capacity: 1 << 20)
        let frame = Self.bytes(400_000, seed: 1)
        let first = worker.outgoing([frame]), second = worker.outgoing([frame])
        #expect(first.count == 2 && second.count == 2)
        let third = worker.outgoing([frame])
        #expect(third == [frame], "no room left: the frame itself")
        #expect(try coordinator.incoming(third) == [frame], "a message without a descriptor passes as it is")
        #expect(try coordinator.incoming(first) == [frame])
        #expect(try coordinator.incoming(second) == [frame])
        let fourth = worker.outgoing([frame])
        #expect(fourth.count == 2, "room again once read")
        #expect(try coordinator.incoming(fourth) == [frame])
        // Larger than half the ring: always the socket.
        let large = Self.bytes(600_000, seed: 2)
        #expect(worker.outgoing([large]) == [large])
    }

    @Test("descriptors of another ring, of bytes not written, read twice, or of non-empty frames are refused")
    func badDescriptorsAreRefused() throws {
        let (worker, coordinator) = try Self.pair()
        let frame = Self.bytes(100_000, seed: 5)
        let sent = worker.outgoing([[9], frame])
        #expect(sent.count == 3)

        let (other, _) = try Self.pair()
        let foreign = other.outgoing([[9], frame])
        #expect(throws: WireError.self) { try coordinator.incoming(foreign) }

        var notEmpty = sent
        notEmpty[1] = [1]
        #expect(throws: WireError.self) { try coordinator.incoming(notEmpty) }

        var beyond = sent
        beyond[2].withUnsafeMutableBytes { $0.storeBytes(of: UInt64(1 << 20).littleEndian, toByteOffset: 24, as: UInt64.self) }
        #expect(throws: WireError.self) { try coordinator.incoming(beyond) }

        var outOfRange = sent
        outOfRange[2].withUnsafeMutableBytes { $0.storeBytes(of: UInt32(7).littleEndian, toByteOffset: 20, as: UInt32.self) }
        #expect(throws: WireError.self) { try coordinator.incoming(outOfRange) }

        #expect(try coordinator.incoming(sent) == [[9], frame])
        #expect(throws: WireError.self, "the same bytes twice") { try coordinator.incoming(sent) }
        // After the refusals the ring still works.
        let next = worker.outgoing([[9], frame])
        #expect(try coordinator.incoming(next) == [[9], frame])
    }

    @Test("a coordinator maps only the ring offered: not another descriptor, another id, or another size")
    func onlyTheOfferedRingIsMapped() throws {
        let worker = try SharedRing.create()
        let offer = worker.offer
        #expect(throws: ClusterError.self) {
            try SharedRing.open(RingOffer(id: offer.id &+ 1, descriptor: offer.descriptor, capacity: offer.capacity), pid: Self.pid)
        }
        #expect(throws: ClusterError.self) {
            try SharedRing.open(RingOffer(id: offer.id, descriptor: offer.descriptor, capacity: offer.capacity * 2), pid: Self.pid)
        }
        let plain = open("/dev/null", O_RDONLY)
        defer { close(plain) }
        #expect(throws: ClusterError.self) {
            try SharedRing.open(RingOffer(id: offer.id, descriptor: Int(plain), capacity: offer.capacity), pid: Self.pid)
        }
        #expect(throws: ClusterError.self) {
            try SharedRing.open(RingOffer(id: offer.id, descriptor: 1_000_000, capacity: offer.capacity), pid: Self.pid)
        }
        _ = try SharedRing.open(offer, pid: Self.pid)
    }
}
