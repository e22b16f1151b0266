import Dispatch
import Foundation
import Hummingbird
import Logging
import NIOCore

/// An HTTP server of a job's status: `/` (the page), `/status.json`, `/metrics` (Prometheus's
/// text format) and `/healthz`. It serves reads only.
///
/// A server on a non-loopback address needs a bearer token: every path but `/healthz` then
/// wants `Authorization: Bearer TOKEN` (or `?token=TOKEN`, which the page passes on).
///
/// ```swift
/// let server = try StatusServer.start(board: board, address: StatusAddress(parsing: "127.0.0.1:0"), token: nil)
/// print(server.url)  // http://127.0.0.1:40123/
/// ```
public final class StatusServer: Sendable {
    /// The address it listens on, with the port the system picked.
    public let address: StatusAddress
    /// `http://host:port/`.
    public var url: String { "http://\(address)/" }
    private let task: Task<Void, Never>
    private let board: StatusBoard

    private init(address: StatusAddress, task: Task<Void, Never>, board: StatusBoard) {
        self.address = address
        self.task = task
        self.board = board
    }

    /// Starts a server on `address`, returning once it listens.
    ///
    /// This form blocks its thread until the server listens: call it from plain threads (a
    /// command's `run`), never from a task, whose thread the server's own start may need.
    ///
    /// - Parameters:
    ///   - board: the job's state, which the server reads.
    ///   - token: the bearer token clients must give; required unless `address` is loopback.
    /// - Throws: ``StatusServerError`` for a non-loopback address without a token, or when the
    ///   address cannot be bound (in use, not this machine's).
    public static func start(board: StatusBoard, address: StatusAddress, token: String?) throws -> StatusServer {
        let started = Started()
        let task = try launch(board: board, address: address, token: token) { started.signal($0) }
        return try finish(started.wait(), task: task, board: board, address: address)
    }

    /// Starts a server on `address`, returning once it listens (the form for async code).
    ///
    /// - Throws: as the blocking form does.
    public static func start(board: StatusBoard, address: StatusAddress, token: String?) async throws -> StatusServer {
        let started = Started()
        let result: Result<Int, any Error> = await withCheckedContinuation { continuation in
            started.onSignal { continuation.resume(returning: $0) }
            do {
                let task = try launch(board: board, address: address, token: token) { started.signal($0) }
                started.task = task
            } catch {
                started.signal(.failure(error))
            }
        }
        if case let .failure(error) = result, error is StatusServerError { throw error }
        return try finish(result, task: started.task, board: board, address: address)
    }

    private static func finish(_ result: Result<Int, any Error>, task: Task<Void, Never>?, board: StatusBoard, address: StatusAddress) throws -> StatusServer {
        switch result {
        case let .success(port):
            return StatusServer(address: StatusAddress(host: address.host, port: port), task: task!, board: board)
        case let .failure(error):
            task?.cancel()
            throw StatusServerError("--status \(address): cannot listen there (\(error)); give a free port of this machine, or port 0 to pick one")
        }
    }

    /// Builds the routes and runs the application in a task; `started` hears the port bound or the failure.
    private static func launch(
        board: StatusBoard, address: StatusAddress, token: String?, started: @escaping @Sendable (Result<Int, any Error>) -> Void
    ) throws -> Task<Void, Never> {
        if !address.isLoopback, token == nil {
            throw StatusServerError(
                "--status \(address) listens beyond this machine: anyone who reaches it could read the job's options and progress. "
                    + "Give --status-token FILE (a bearer token clients must send), or a loopback address such as 127.0.0.1:0")
        }
        let router = Router()
        router.add(middleware: BearerToken(token: token))
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/metrics") { _, _ in
            Self.response(board.metricsText(), type: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.get("/status.json") { _, _ in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
            let data = try encoder.encode(board.document())
            return Self.response(String(decoding: data, as: UTF8.self), type: "application/json")
        }
        router.get("/") { _, _ in Self.response(StatusPage.html, type: "text/html; charset=utf-8") }
        // The report is one self-contained file: the page keeps a copy, whose link still works once
        // the job (and this server) has ended; browsers do not follow file:// links from http pages.
        router.get("/report/index.html") { _, _ in
            guard let html = board.reportPage() else {
                return Response(status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "no report yet\n")))
            }
            return Self.response(html, type: "text/html; charset=utf-8")
        }

        // Hummingbird logs through swift-log to standard output by default; the command's own
        // output stays the only thing there.
        let quiet = Logger(label: "emfleet.status", factory: { _ in SwiftLogNoOpLogHandler() })
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in started(.success(channel.localAddress?.port ?? address.port)) },
            logger: quiet)
        return Task {
            do {
                try await app.run()
            } catch {
                started(.failure(error))
            }
        }
    }

    /// Stops the server (open connections are closed).
    ///
    /// - Parameter lingering: at most this many seconds to wait first while a page that has been
    ///   watching has not yet read the job's end, so that it shows the end (and the report's link)
    ///   rather than a server that went away.
    public func stop(lingering: Double = 0) {
        let deadline = StatusBoard.monotonicSeconds() + lingering
        while board.endUnseen, StatusBoard.monotonicSeconds() < deadline { usleep(50_000) }
        task.cancel()
    }

    private static func response(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The first outcome of starting: the port bound, or why not.
private final class Started: @unchecked Sendable {
    // @unchecked: every field is read and written under `lock`.
    private let semaphore = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var outcome: Result<Int, any Error>?
    private var listener: ((Result<Int, any Error>) -> Void)?
    private var _task: Task<Void, Never>?

    var task: Task<Void, Never>? {
        get { lock.lock(); defer { lock.unlock() }; return _task }
        set { lock.lock(); defer { lock.unlock() }; _task = newValue }
    }

    func onSignal(_ body: @escaping (Result<Int, any Error>) -> Void) {
        lock.lock(); defer { lock.unlock() }
        listener = body
    }

    func signal(_ result: Result<Int, any Error>) {
        lock.lock()
        guard outcome == nil else { lock.unlock(); return }
        outcome = result
        let listener = self.listener
        lock.unlock()
        semaphore.signal()
        listener?(result)
    }

    func wait() -> Result<Int, any Error> {
        semaphore.wait()
        lock.lock(); defer { lock.unlock() }
        return outcome!
    }
}

/// Refuses requests without the bearer token (when there is one); `/healthz` stays open to
/// health checks, since it tells nothing about the job.
struct BearerToken<Context: RequestContext>: RouterMiddleware {
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token, request.uri.path != "/healthz" else { return try await next(request, context) }
        let header = request.headers[.authorization].flatMap { $0.hasPrefix("Bearer ") ? String($0.dropFirst(7)) : nil }
        let query = request.uri.queryParameters["token"].map(String.init)
        guard let given = header ?? query, Self.equal(given, token) else {
            return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"], body: .init(byteBuffer: ByteBuffer(string: "a bearer token is needed\n")))
        }
        return try await next(request, context)
    }

    /// Compares in time independent of where the strings differ.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
