import Atomics
import CKernels
import Engine
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a worker tells its coordinator about the shared-memory ring it made, in its hello:
/// enough for a process on the same host to map it (`/proc/PID/fd/DESCRIPTOR`).
public struct RingOffer: Equatable, Sendable {
    /// A random number naming the ring: in its header, its file's name and every descriptor.
    public var id: UInt64
    /// The ring's file descriptor in the worker.
    public var descriptor: Int
    /// Bytes of data in each direction.
    public var capacity: Int

    /// An offer of ring `id`, open in the offering process as `descriptor`.
    public init(id: UInt64, descriptor: Int, capacity: Int) {
        self.id = id; self.descriptor = descriptor; self.capacity = capacity
    }
}

/// Shared memory between a worker and its coordinator on the same host, through which big
/// frames (a training step's weights and gradients) travel instead of through the socket.
///
/// Over a socket a megabyte is copied into the kernel and out of it again, and on two cores
/// that costs about as much CPU as the step's element-wise work. Here the sender copies a frame
/// into its direction's half of the ring, sends an empty frame in its place and, as the last
/// frame, a descriptor of where it lies; the receiver copies it out. Everything else (the small
/// frames, the order of messages, the wake-ups) stays with ZeroMQ, and a frame that does not fit
/// the free space goes through the socket as before: the ring changes how bytes travel, never
/// which bytes arrive.
///
/// The worker makes the ring (an anonymous, sealed `memfd`, so that nothing is left behind
/// after `kill -9` and its size cannot change under a mapping) and offers it in its hello; the
/// coordinator maps it through `/proc/PID/fd` after checking the link's name, the seals, the
/// size and the header, and says so in its welcome. Each direction has one writer and one reader:
/// the writer publishes how far it has written, the reader how far it has read, both as atomic
/// counters of bytes since the start; a frame is contiguous (the writer skips the end of the
/// data when a frame would wrap). A descriptor is checked against those counters and the
/// capacity before any byte is read, so a lying peer can only send wrong bytes, as it could
/// through the socket, and the job's own checks of a task or result apply to them alike.
public final class SharedRing {
    /// Which half of the data a side writes.
    private enum Side: Sendable {
        /// The worker, which made the ring: writes results, reads tasks.
        case worker
        /// The coordinator, which mapped it: writes tasks, reads results.
        case coordinator
    }

    /// Frames at least this big go through the ring; smaller ones cost little beside their
    /// message's wake-ups. (At 64 KiB the 52 KB gradients of 32-128-64-10 stayed on the socket,
    /// and two workers trained about 15% slower than at 8 KiB; docs/BENCHMARKS.md.)
    public static let smallestFrame = 8 << 10
    /// Bytes of data in each direction: four of a 784-256-128-10 network's 940 KB blocks.
    public static let defaultCapacity = 4 << 20
    /// The capacities a coordinator maps.
    public static let capacities = (smallestFrame * 2)...(1 << 30)

    private static let magic: UInt64 = 0x474E_4952_4C46_4D45  // "EMFLRING", little-endian
    private static let layout: UInt64 = 1
    private static let headerBytes = 4096
    /// Where the counters lie in the header: each on a cache line of its own.
    private static func producedOffset(_ direction: Int) -> Int { 64 + direction * 128 }
    private static func consumedOffset(_ direction: Int) -> Int { 128 + direction * 128 }
    /// The first eight bytes of a descriptor frame.
    private static let descriptorMagic: [UInt8] = Array("EMFLSHM1".utf8)
    private static let descriptorHeaderBytes = 20
    private static let descriptorEntryBytes = 20

    /// The ring's name, as offered.
    public let id: UInt64
    /// Bytes of data in each direction.
    public let capacity: Int
    /// The file descriptor in this process.
    let descriptor: Int32
    private let base: UnsafeMutableRawPointer
    private let mappedBytes: Int
    private let writes: Int
    private let reads: Int
    /// Bytes written into this side's direction since the start (the writer's own count).
    private var produced: UInt64 = 0
    /// Bytes read from the other direction since the start (the reader's own count).
    private var consumed: UInt64 = 0
    /// Bytes of frames this side has sent and received through the ring.
    public private(set) var bytesCarried = 0

    private init(id: UInt64, capacity: Int, descriptor: Int32, base: UnsafeMutableRawPointer, side: Side) {
        self.id = id
        self.capacity = capacity
        self.descriptor = descriptor
        self.base = base
        mappedBytes = Self.headerBytes + 2 * capacity
        writes = side == .worker ? 0 : 1
        reads = 1 - writes
    }

    deinit {
        munmap(base, mappedBytes)
        close(descriptor)
    }

    /// What this side offers its peer.
    public var offer: RingOffer { RingOffer(id: id, descriptor: Int(descriptor), capacity: capacity) }

    /// Makes a ring (the worker's side).
    public static func create(capacity: Int = defaultCapacity) throws -> SharedRing {
        precondition(capacities.contains(capacity), "ring capacity \(capacity) out of range")
        let id = UInt64.random(in: 1...UInt64.max)
        let bytes = headerBytes + 2 * capacity
        let descriptor = emfleet_shared_memory_file(fileName(id), bytes)
        guard descriptor >= 0 else { throw ClusterError("cannot make a shared-memory ring: \(String(cString: strerror(errno)))") }
        guard let base = map(descriptor, bytes) else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw ClusterError("cannot map a shared-memory ring: \(reason)")
        }
        let ring = SharedRing(id: id, capacity: capacity, descriptor: descriptor, base: base, side: .worker)
        ring.storeHeader(0, magic)
        ring.storeHeader(8, layout)
        ring.storeHeader(16, id)
        ring.storeHeader(24, UInt64(capacity))
        return ring
    }

    /// Maps the ring a process on this host offered (the coordinator's side), after checking
    /// that the descriptor is that ring: its link's name, its seals, its size and its header.
    public static func open(_ offer: RingOffer, pid: Int) throws -> SharedRing {
        guard capacities.contains(offer.capacity) else { throw ClusterError("ring capacity \(offer.capacity) out of range") }
        guard pid > 0, offer.descriptor >= 0, offer.descriptor <= Int(Int32.max) else { throw ClusterError("no such ring descriptor") }
        let path = "/proc/\(pid)/fd/\(offer.descriptor)"
        var link = [CChar](repeating: 0, count: 256)
        let linkBytes = readlink(path, &link, link.count - 1)
        guard linkBytes > 0 else { throw ClusterError("cannot read \(path): \(String(cString: strerror(errno)))") }
        let target = String(decoding: link[0..<linkBytes].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // Another host's pid, or a process in another pid namespace, names some other file or none.
        guard target.hasPrefix("/memfd:\(fileName(offer.id)) ") || target == "/memfd:\(fileName(offer.id))" else {
            throw ClusterError("\(path) is \(target), not the ring offered")
        }
        let descriptor = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw ClusterError("cannot open \(path): \(String(cString: strerror(errno)))") }
        let bytes = headerBytes + 2 * offer.capacity
        var status = stat()
        guard fstat(descriptor, &status) == 0, Int(status.st_size) == bytes, emfleet_shared_memory_sealed(descriptor) == 1,
              let base = map(descriptor, bytes) else {
            close(descriptor)
            throw ClusterError("\(path) is not a sealed ring of \(bytes) bytes")
        }
        let ring = SharedRing(id: offer.id, capacity: offer.capacity, descriptor: descriptor, base: base, side: .coordinator)
        guard ring.loadHeader(0) == magic, ring.loadHeader(8) == layout, ring.loadHeader(16) == offer.id,
              ring.loadHeader(24) == UInt64(offer.capacity) else {
            throw ClusterError("\(path) does not start with the ring's header")
        }
        return ring
    }

    private static func fileName(_ id: UInt64) -> String { "emfleet-ring-" + String(id, radix: 16) }

    private static func map(_ descriptor: Int32, _ bytes: Int) -> UnsafeMutableRawPointer? {
        let address = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, descriptor, 0)
        return address == MAP_FAILED ? nil : address
    }

    private func storeHeader(_ offset: Int, _ value: UInt64) { base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: UInt64.self) }
    private func loadHeader(_ offset: Int) -> UInt64 { UInt64(littleEndian: base.load(fromByteOffset: offset, as: UInt64.self)) }

    private func counter(_ offset: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (base + offset).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    private func data(_ direction: Int) -> UnsafeMutableRawPointer { base + Self.headerBytes + direction * capacity }

    // MARK: Sending

    /// The frames to send instead of `frames`: each frame from index `first` on that is big
    /// enough and fits the free space is written into the ring and sent empty, and a descriptor
    /// frame is appended; `frames` as they are when none went in. The descriptor counts frames
    /// from `first` (the receiver's `first` may differ: an identity frame is the router's own).
    public func outgoing(_ frames: [[UInt8]], from first: Int = 0) -> [[UInt8]] {
        var placed: [(index: Int, start: UInt64, length: Int)] = []
        for index in first..<frames.count
        where frames[index].count >= Self.smallestFrame && frames[index].count <= capacity / 2 {
            guard let start = place(frames[index]) else { break }
            placed.append((index, start, frames[index].count))
        }
        guard !placed.isEmpty else { return frames }
        var sent = frames
        var descriptor = WireWriter(capacity: Self.descriptorHeaderBytes + Self.descriptorEntryBytes * placed.count)
        for byte in Self.descriptorMagic { descriptor.u8(byte) }
        descriptor.u64(id)
        descriptor.u32(UInt32(placed.count))
        for entry in placed {
            sent[entry.index] = []
            // Counted from `first`: a ROUTER's frames start with an identity its peer never sees.
            descriptor.u32(UInt32(entry.index - first)); descriptor.u64(entry.start); descriptor.u64(UInt64(entry.length))
        }
        sent.append(descriptor.bytes)
        return sent
    }

    /// Copies `frame` into the free space and publishes it; returns where it starts, or nil
    /// when the reader has not yet freed enough.
    private func place(_ frame: [UInt8]) -> UInt64? {
        let length = UInt64(frame.count), size = UInt64(capacity)
        let freedUpTo = counter(Self.consumedOffset(writes)).load(ordering: .acquiring)
        var start = produced
        if start % size + length > size { start += size - start % size }  // contiguous: skip the end
        // A reader that claims to have read more than was written gets nothing more this way.
        guard freedUpTo <= produced, start + length - freedUpTo <= size else { return nil }
        frame.withUnsafeBytes { bytes in
            data(writes).advanced(by: Int(start % size)).copyMemory(from: bytes.baseAddress!, byteCount: frame.count)
        }
        produced = start + length
        counter(Self.producedOffset(writes)).store(produced, ordering: .releasing)
        bytesCarried += frame.count
        return start
    }

    // MARK: Receiving

    /// Whether `frame` is shaped like a descriptor frame (of any ring).
    public static func isDescriptor(_ frame: [UInt8]) -> Bool {
        frame.count >= descriptorHeaderBytes + descriptorEntryBytes
            && (frame.count - descriptorHeaderBytes) % descriptorEntryBytes == 0
            && frame.starts(with: descriptorMagic)
    }

    /// The frames as sent: when the last of `frames` is a descriptor, the frames it names are
    /// copied out of the ring and the descriptor dropped; otherwise `frames` as they are.
    ///
    /// - Throws: `WireError` for a descriptor of another ring, or one that names anything but
    ///   empty frames from `first` on and bytes written and not yet read, in order.
    public func incoming(_ frames: [[UInt8]], from first: Int = 0) throws -> [[UInt8]] {
        guard frames.count > first, let last = frames.last, Self.isDescriptor(last) else { return frames }
        var reader = WireReader(last, context: "shared-memory descriptor")
        _ = try reader.u64("magic")
        let ring = try reader.u64("ring")
        guard ring == id else {
            throw WireError("shared-memory descriptor: ring \(String(ring, radix: 16)), but this connection's is \(String(id, radix: 16))")
        }
        let count = Int(try reader.u32("count"))
        var received = Array(frames.dropLast())
        let size = UInt64(capacity)
        let written = counter(Self.producedOffset(reads)).load(ordering: .acquiring)
        var readUpTo = consumed
        var lastIndex = first - 1
        for _ in 0..<count {
            let index = first + Int(try reader.u32("frame"))
            let start = try reader.u64("start"), length = try reader.u64("length")
            guard index > lastIndex, index < received.count, received[index].isEmpty else {
                throw WireError("shared-memory descriptor: frame \(index) of \(received.count) is not an empty frame after the last")
            }
            guard length > 0, length <= size / 2, start >= readUpTo, start <= written, length <= written - start,
                  start % size + length <= size else {
                throw WireError("shared-memory descriptor: bytes \(start)..<\(start &+ length) are not in the ring's unread \(readUpTo)..<\(written)")
            }
            received[index] = Array(UnsafeRawBufferPointer(start: data(reads) + Int(start % size), count: Int(length)))
            readUpTo = start + length
            lastIndex = index
            bytesCarried += Int(length)
        }
        try reader.finish()
        consumed = readUpTo
        counter(Self.consumedOffset(reads)).store(consumed, ordering: .releasing)
        return received
    }
}
