#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Messaging

/// A CURVE key pair read from (or written to) `NAME.public` / `NAME.secret` files of Z85 text.
public struct CurveKeyPair: Sendable {
    /// The public key, 40 Z85 characters.
    public var publicKey: String
    /// The secret key, 40 Z85 characters.
    public var secretKey: String

    /// A new random key pair.
    public static func generate() throws -> CurveKeyPair {
        let pair = try ZMQCurve.keyPair()
        return CurveKeyPair(publicKey: pair.publicKey, secretKey: pair.secretKey)
    }

    /// Writes `DIR/NAME.public` (mode 0644) and `DIR/NAME.secret` (mode 0600, created so, never
    /// readable by others even for a moment); refuses to overwrite either.
    public func write(directory: String, name: String) throws -> (publicFile: String, secretFile: String) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let publicFile = "\(directory)/\(name).public", secretFile = "\(directory)/\(name).secret"
        for path in [publicFile, secretFile] where FileManager.default.fileExists(atPath: path) {
            throw ClusterError("\(path) exists; remove it or choose another --name (keys are never overwritten)")
        }
        try Self.create(secretFile, contents: secretKey + "\n", mode: 0o600)
        try Self.create(publicFile, contents: publicKey + "\n", mode: 0o644)
        return (publicFile, secretFile)
    }

    private static func create(_ path: String, contents: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw ClusterError("\(path): cannot create (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        fchmod(fd, mode)  // whatever the umask says
        let bytes = Array(contents.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count else {
            throw ClusterError("\(path): cannot write (\(String(cString: strerror(errno))))")
        }
    }

    /// Reads a secret key file, refusing one that others can read, and derives its public key.
    public static func readSecret(_ path: String) throws -> CurveKeyPair {
        var status = stat()
        guard stat(path, &status) == 0 else { throw ClusterError("\(path): no such secret key file") }
        guard status.st_mode & 0o077 == 0 else {
            throw ClusterError(String(format: "%@: the secret key file is readable by others (mode %o); run chmod 600 %@", path, status.st_mode & 0o777, path))
        }
        let secret = try readKey(path, what: "secret key")
        do {
            return CurveKeyPair(publicKey: try ZMQCurve.publicKey(fromSecret: secret), secretKey: secret)
        } catch {
            throw ClusterError("\(path): not a CURVE secret key (\(error))")
        }
    }

    /// Reads a public key file.
    public static func readPublic(_ path: String) throws -> String { try readKey(path, what: "public key") }

    static func readKey(_ path: String, what: String) throws -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ClusterError("\(path): cannot read the \(what) file") }
        let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard key.count == 40, (try? ZMQCurve.decode(z85: key))?.count == 32 else {
            throw ClusterError("\(path): a \(what) is 40 Z85 characters; this file holds \(key.count) characters")
        }
        return key
    }

    /// The public keys in a `.public` file or in every `.public` file of a directory.
    public static func authorizedKeys(_ path: String) throws -> Set<String> {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ClusterError("\(path): no such file or directory of authorized keys")
        }
        let files = isDirectory.boolValue
            ? try FileManager.default.contentsOfDirectory(atPath: path).filter { $0.hasSuffix(".public") }.sorted().map { "\(path)/\($0)" }
            : [path]
        let keys = Set(try files.map { try readPublic($0) })
        guard !keys.isEmpty else { throw ClusterError("\(path): holds no .public key files") }
        return keys
    }

    /// A short, stable name of a public key for logs (its first 8 Z85 characters).
    public static func fingerprint(_ publicKey: String) -> String { String(publicKey.prefix(8)) }
}

/// CURVE settings of a coordinator: its key pair and the worker keys it admits.
public struct CurveServerSettings: Sendable {
    public var keys: CurveKeyPair
    public var authorized: Set<String>
    public init(keys: CurveKeyPair, authorized: Set<String>) { self.keys = keys; self.authorized = authorized }
}

/// CURVE settings of a worker: its key pair and the coordinator's public key.
public struct CurveClientSettings: Sendable {
    public var keys: CurveKeyPair
    public var coordinatorKey: String
    public init(keys: CurveKeyPair, coordinatorKey: String) { self.keys = keys; self.coordinatorKey = coordinatorKey }
}

/// The ZAP handler of a CURVE coordinator: answers libzmq's authentication requests on
/// `inproc://zeromq.zap.01`, admitting only listed public keys.
///
/// Without a handler a CURVE server admits any key (encryption without authentication), so the
/// coordinator always installs one. It runs on the coordinator's thread, polled with its socket.
final class ZAPHandler {
    let socket: ZMQSocket
    private let authorized: Set<[UInt8]>
    /// Called with the fingerprint and address of each refused key.
    var onRefused: (String, String) -> Void = { _, _ in }

    init(context: ZMQContext, authorized: Set<String>) throws {
        socket = try ZMQSocket(context: context, type: .rep)
        try socket.bind("inproc://zeromq.zap.01")
        self.authorized = Set(try authorized.map { try ZMQCurve.decode(z85: $0) })
    }

    /// Failed handshakes per address in the last minute.
    private var failures: [String: [ContinuousClock.Instant]] = [:]
    /// Refusals held back (sent when due), and who is waiting for them.
    private var deferred: [(due: ContinuousClock.Instant, reply: [[UInt8]])] = []
    /// After this many failures from one address within a minute, its refusals wait a second:
    /// guessing keys gets slow, admitted workers are never delayed.
    static let failuresBeforeDelay = 5

    /// Answers every waiting request, and sends refusals whose delay is over.
    ///
    /// A REP socket answers requests in order, so a delayed refusal holds back the requests
    /// behind it; only addresses that keep failing are delayed.
    func serve() throws {
        let now = ContinuousClock.now
        while let first = deferred.first, first.due <= now {
            try socket.send(first.reply)
            deferred.removeFirst()
        }
        guard deferred.isEmpty else { return }
        while let request = try socket.tryReceive() {
            // ZAP 1.0: version, request id, domain, address, identity, mechanism, credentials...
            guard request.count >= 6 else { continue }
            let version = request[0], id = request[1]
            let address = String(decoding: request[3], as: UTF8.self)
            let mechanism = String(decoding: request[5], as: UTF8.self)
            var admitted = false
            var fingerprint = "none"
            if mechanism == "CURVE", request.count >= 7, request[6].count == 32 {
                admitted = authorized.contains(request[6])
                fingerprint = CurveKeyPair.fingerprint((try? ZMQCurve.encode(request[6])) ?? "?")
            }
            let reply = [version, id, Array((admitted ? "200" : "400").utf8),
                         Array((admitted ? "OK" : "unknown key").utf8), Array(fingerprint.utf8), [UInt8]()]
            if admitted {
                try socket.send(reply)
                continue
            }
            onRefused(fingerprint, address)
            let host = String(address.prefix { $0 != ":" })
            let recent = (failures[host] ?? []).filter { now - $0 < .seconds(60) } + [now]
            failures[host] = recent
            if recent.count > Self.failuresBeforeDelay {
                deferred.append((now + .seconds(1), reply))
                return
            }
            try socket.send(reply)
        }
    }

    func close() { socket.close() }
}
