import Foundation

/// Where the status server listens: `ADDR:PORT` (`127.0.0.1:0` picks a free port).
public struct StatusAddress: Sendable, Equatable, CustomStringConvertible {
    /// The host or address to bind (`127.0.0.1`, `::1`, `0.0.0.0`, a host name).
    public var host: String
    /// The port; 0 lets the system pick one.
    public var port: Int

    /// Parses `ADDR:PORT` or `[IPv6]:PORT`.
    ///
    /// - Throws: ``StatusServerError`` naming the text and the form expected.
    public init(parsing text: String) throws {
        let bad = StatusServerError("--status takes ADDR:PORT (for example 127.0.0.1:0 or [::1]:8080), not '\(text)'")
        let hostPart: Substring, portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { throw bad }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else { throw bad }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = Int(portPart), (0...65535).contains(port) else { throw bad }
        host = String(hostPart)
        self.port = port
    }

    /// Creates an address.
    public init(host: String, port: Int) { self.host = host; self.port = port }

    /// Whether only this machine can reach it (a loopback address or `localhost`).
    public var isLoopback: Bool { host == "localhost" || host == "::1" || host.hasPrefix("127.") }

    /// `host:port`, with brackets around an IPv6 address.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A status server that could not start or was refused its options.
public struct StatusServerError: Error, CustomStringConvertible, Sendable {
    /// One line: what went wrong and what to do.
    public var description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// The bearer token of `--status-token FILE`.
public enum StatusToken {
    /// Reads the token: the file's text less surrounding white space.
    ///
    /// - Throws: ``StatusServerError`` when the file cannot be read or holds fewer than 16 characters
    ///   (a short token is guessed).
    public static func read(file: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw StatusServerError("\(file): cannot read the --status-token file")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16, !token.contains(where: \.isWhitespace) else {
            throw StatusServerError("\(file): a --status-token must be one word of at least 16 characters (for example from `openssl rand -hex 16`)")
        }
        return token
    }
}
