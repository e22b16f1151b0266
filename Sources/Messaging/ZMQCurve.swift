import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// CURVE keys and their Z85 text form (`zmq_curve_keypair`, `zmq_curve_public`, `zmq_z85_*`).
///
/// Keys are 32 bytes; in text they are 40 Z85 characters. Sockets take raw bytes:
///
/// ```swift
/// let server = try ZMQCurve.keyPair()
/// try socket.setCurveServer(secretKey: try ZMQCurve.decode(z85: server.secretKey))
/// ```
public enum ZMQCurve {
    /// The 85 characters of the Z85 alphabet, in value order.
    private static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// Whether the linked libzmq supports CURVE (`zmq_has("curve")`).
    public static var isAvailable: Bool { zmq_has("curve") != 0 }

    /// Generates a new CURVE key pair (`zmq_curve_keypair`).
    ///
    /// - Returns: The public and secret keys, 40 Z85 characters each.
    /// - Throws: ``ZMQError`` (`ENOTSUP`) if libzmq was built without CURVE.
    public static func keyPair() throws -> (publicKey: String, secretKey: String) {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        _ = try zmqCall("zmq_curve_keypair") { zmq_curve_keypair(&publicKey, &secretKey) }
        return (text(publicKey), text(secretKey))
    }

    /// Derives the public key of a secret key (`zmq_curve_public`).
    ///
    /// - Parameter secretZ85: A secret key, 40 Z85 characters.
    /// - Returns: Its public key, 40 Z85 characters.
    /// - Throws: ``ZMQError`` (`EINVAL`) if `secretZ85` is not a 40-character Z85 key;
    ///   `ENOTSUP` without CURVE.
    public static func publicKey(fromSecret secretZ85: String) throws -> String {
        try checkZ85(secretZ85, length: 40, operation: "zmq_curve_public")
        var publicKey = [CChar](repeating: 0, count: 41)
        _ = try zmqCall("zmq_curve_public") { zmq_curve_public(&publicKey, secretZ85) }
        return text(publicKey)
    }

    /// Decodes Z85 text into bytes (`zmq_z85_decode`): 40 characters give a 32-byte key.
    ///
    /// - Parameter z85: Z85 text whose length is a multiple of 5 (40 for a key).
    /// - Returns: `z85.count * 4 / 5` bytes.
    /// - Throws: ``ZMQError`` (`EINVAL`) if the length is not a multiple of 5, a character is
    ///   not in the Z85 alphabet, or a group overflows 32 bits.
    public static func decode(z85: String) throws -> [UInt8] {
        try checkZ85(z85, length: nil, operation: "zmq_z85_decode")
        let size = z85.utf8.count / 5 * 4
        if size == 0 { return [] }
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            failed = zmq_z85_decode(buffer.baseAddress, z85) == nil
            count = failed ? 0 : size
        }
        if failed { throw ZMQError(code: EINVAL, operation: "zmq_z85_decode(\(z85))") }
        return bytes
    }

    /// Encodes bytes as Z85 text (`zmq_z85_encode`): 32 bytes give 40 characters.
    ///
    /// - Parameter bytes: Data whose length is a multiple of 4.
    /// - Returns: `bytes.count * 5 / 4` Z85 characters.
    /// - Throws: ``ZMQError`` (`EINVAL`) if the length is not a multiple of 4.
    public static func encode(_ bytes: [UInt8]) throws -> String {
        guard bytes.count % 4 == 0 else {
            throw ZMQError(code: EINVAL, operation: "zmq_z85_encode of \(bytes.count) bytes (need a multiple of 4)")
        }
        var output = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
        let ok = bytes.withUnsafeBufferPointer { zmq_z85_encode(&output, $0.baseAddress, $0.count) != nil }
        if !ok { throw ZMQError.last("zmq_z85_encode of \(bytes.count) bytes") }
        return text(output)
    }

    /// Checks that `string` is Z85 text of the right length, naming `operation` if not.
    private static func checkZ85(_ string: String, length: Int?, operation: String) throws(ZMQError) {
        let utf8 = string.utf8
        if let length, utf8.count != length {
            throw ZMQError(code: EINVAL, operation: "\(operation): key has \(utf8.count) characters, expected \(length) Z85 characters")
        }
        guard utf8.count % 5 == 0 else {
            throw ZMQError(code: EINVAL, operation: "\(operation): Z85 text has \(utf8.count) characters, not a multiple of 5")
        }
        if let bad = utf8.first(where: { !alphabet.contains($0) }) {
            throw ZMQError(code: EINVAL, operation: "\(operation): byte 0x\(String(bad, radix: 16)) is not a Z85 character")
        }
    }

    /// The text of a NUL-terminated C buffer.
    private static func text(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}
