import Foundation

/// A message or field that does not decode: too short, a bad tag, a size out of bounds.
public struct WireError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What was wrong.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Appends little-endian fields to a byte buffer: the one encoder behind every message.
///
/// Arrays of doubles are copied as raw little-endian bytes (one `memcpy` on x86 and ARM).
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    public mutating func u8(_ value: UInt8) { bytes.append(value) }
    public mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }
    public mutating func u16(_ value: UInt16) { integer(value) }
    public mutating func u32(_ value: UInt32) { integer(value) }
    public mutating func u64(_ value: UInt64) { integer(value) }
    public mutating func int(_ value: Int) { integer(Int64(value)) }
    public mutating func double(_ value: Double) { integer(value.bitPattern) }

    public mutating func integer<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A UTF-8 string with a u32 length.
    public mutating func string(_ value: String) {
        let utf8 = Array(value.utf8)
        u32(UInt32(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// Raw bytes with a u32 length.
    public mutating func blob(_ value: [UInt8]) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    /// Doubles with a u32 count, as raw little-endian bytes.
    public mutating func doubles(_ values: [Double]) {
        u32(UInt32(values.count))
        values.withUnsafeBytes { raw in
            #if _endian(little)
            bytes.append(contentsOf: raw)
            #else
            for value in values { double(value) }
            #endif
        }
    }

    /// Floats with a u32 count, as raw little-endian bytes.
    public mutating func floats(_ values: [Float]) {
        u32(UInt32(values.count))
        values.withUnsafeBytes { raw in
            #if _endian(little)
            bytes.append(contentsOf: raw)
            #else
            for value in values { u32(value.bitPattern) }
            #endif
        }
    }

    /// Integers (as u64) with a u32 count.
    public mutating func ints(_ values: [Int]) {
        u32(UInt32(values.count))
        for value in values { int(value) }
    }
}

/// Reads the fields `WireWriter` wrote, checking every length against what is left, so a
/// truncated or forged message is an error, never a crash or a huge allocation.
public struct WireReader {
    private let bytes: [UInt8]
    private(set) var offset = 0
    /// What is being decoded, for error messages.
    public let context: String

    public init(_ bytes: [UInt8], context: String) {
        self.bytes = bytes
        self.context = context
    }

    public var remaining: Int { bytes.count - offset }

    private mutating func take(_ count: Int, _ what: String) throws -> Range<Int> {
        guard count >= 0, count <= remaining else {
            throw WireError("\(context): \(what) needs \(count) bytes, \(remaining) left")
        }
        defer { offset += count }
        return offset..<(offset + count)
    }

    public mutating func integer<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws -> T {
        let range = try take(MemoryLayout<T>.size, what)
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { destination in
            bytes.withUnsafeBytes { source in
                destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[range]))
            }
        }
        return T(littleEndian: value)
    }

    public mutating func u8(_ what: String) throws -> UInt8 { try integer(UInt8.self, what) }
    public mutating func u16(_ what: String) throws -> UInt16 { try integer(UInt16.self, what) }
    public mutating func u32(_ what: String) throws -> UInt32 { try integer(UInt32.self, what) }
    public mutating func u64(_ what: String) throws -> UInt64 { try integer(UInt64.self, what) }

    public mutating func bool(_ what: String) throws -> Bool {
        switch try u8(what) {
        case 0: return false
        case 1: return true
        case let other: throw WireError("\(context): \(what) is \(other), not a boolean")
        }
    }

    /// An Int, refused when outside `range`.
    public mutating func int(_ what: String, in range: ClosedRange<Int> = Int.min...Int.max) throws -> Int {
        let value = Int(try integer(Int64.self, what))
        guard range.contains(value) else {
            throw WireError("\(context): \(what) is \(value), outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    public mutating func double(_ what: String) throws -> Double { Double(bitPattern: try u64(what)) }

    public mutating func string(_ what: String, maxBytes: Int = 1 << 16) throws -> String {
        let count = Int(try u32(what))
        guard count <= maxBytes else { throw WireError("\(context): \(what) is \(count) bytes, more than \(maxBytes)") }
        let range = try take(count, what)
        guard let text = String(validating: bytes[range], as: UTF8.self) else {
            throw WireError("\(context): \(what) is not UTF-8")
        }
        return text
    }

    public mutating func blob(_ what: String) throws -> [UInt8] {
        let count = Int(try u32(what))
        return Array(bytes[try take(count, what)])
    }

    /// Doubles with a u32 count; `expected`, when given, is the only count accepted.
    public mutating func doubles(_ what: String, expected: Int? = nil) throws -> [Double] {
        try rawValues(what, expected: expected) { Double(bitPattern: UInt64(littleEndian: $0.bitPattern)) }
    }

    /// Floats with a u32 count; `expected`, when given, is the only count accepted.
    public mutating func floats(_ what: String, expected: Int? = nil) throws -> [Float] {
        try rawValues(what, expected: expected) { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
    }

    /// Little-endian values with a u32 count, copied out in one block (`fromLittleEndian` is
    /// applied only on big-endian machines).
    private mutating func rawValues<Value>(_ what: String, expected: Int?, fromLittleEndian: (Value) -> Value) throws -> [Value] {
        let count = Int(try u32(what))
        if let expected, count != expected {
            throw WireError("\(context): \(what) has \(count) numbers, expected \(expected)")
        }
        let range = try take(count * MemoryLayout<Value>.stride, what)
        return [Value](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[range]))
            }
            #if !_endian(little)
            for i in 0..<count { buffer[i] = fromLittleEndian(buffer[i]) }
            #endif
            initialized = count
        }
    }

    public mutating func ints(_ what: String, in range: ClosedRange<Int> = Int.min...Int.max, maxCount: Int = 1 << 24) throws -> [Int] {
        let count = Int(try u32(what))
        guard count <= maxCount, count * 8 <= remaining else {
            throw WireError("\(context): \(what) claims \(count) integers, \(remaining) bytes left")
        }
        return try (0..<count).map { _ in try int(what, in: range) }
    }

    /// Checks that the whole buffer was read.
    public func finish() throws {
        guard remaining == 0 else { throw WireError("\(context): \(remaining) unexpected bytes at the end") }
    }
}
