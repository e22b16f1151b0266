import Foundation
import StatusServer

/// What `--status ADDR:PORT` and `--status-token FILE` ask for.
struct StatusRequest {
    var address: StatusAddress
    var tokenFile: String?
}

/// A job's status server and board, from start to the end of the command.
final class LiveStatus {
    let board: StatusBoard
    let server: StatusServer

    /// Starts the server and says where it listens (a note in text, a `status` event in json).
    init(request: StatusRequest, log: EventLog) throws {
        let token = try request.tokenFile.map(StatusToken.read(file:))
        let (command, arguments) = Self.commandLine(CommandLine.arguments)
        board = StatusBoard(command: command, arguments: arguments)
        server = try StatusServer.start(board: board, address: request.address, token: token)
        log.status = board
        log.json("status", [("url", server.url)])
        if log.format == .text { log.note("status page at \(server.url) (also /status.json and /metrics)") }
    }

    /// Stops the server once a page that was watching has seen the end; a job that did not
    /// log its `done` event stopped on an error.
    func finish() {
        board.fail("stopped before its end (the command's error output says why)")
        server.stop(lingering: 5)
    }

    /// The subcommand's words (`gmm fit`) and the arguments after them.
    static func commandLine(_ argv: [String]) -> (String, [String]) {
        let words = argv.dropFirst().prefix { !$0.hasPrefix("-") }
        return (words.joined(separator: " "), Array(argv.dropFirst(1 + words.count)))
    }

    /// The value of `name` on the command line (`--report DIR` or `--report=DIR`): every job
    /// command spells its report option alike, so the page can link it without each command saying.
    static func option(_ name: String, in argv: [String]) -> String? {
        for (index, argument) in argv.enumerated() {
            if argument == name, index + 1 < argv.count { return argv[index + 1] }
            if argument.hasPrefix(name + "=") { return String(argument.dropFirst(name.count + 1)) }
        }
        return nil
    }

    /// Shows an iteration or epoch event of the log on the board: the one place that knows which
    /// field each command's objective is in.
    static func forward(_ event: String, _ fields: [(String, Any)], to board: StatusBoard) {
        let values = Dictionary(fields, uniquingKeysWith: { first, _ in first })
        switch event {
        case "iteration":
            guard let step = values["iteration"] as? Int else { return }
            if let value = values["log_likelihood"] as? Double {
                board.record(step: step, objective: "log_likelihood", value: value)
            } else if let value = values["inertia"] as? Double {
                board.record(step: step, objective: "inertia", value: value)
            }
        case "candidate":
            // gmm select and pipeline fit: one point per candidate model, by its BIC.
            if let components = values["components"] as? Int, let bic = values["bic"] as? Double {
                board.record(step: components, objective: "bic", value: bic)
            }
        case "done":
            board.finish(report: option("--report", in: CommandLine.arguments))
        case "epoch":
            if let step = values["epoch"] as? Int, let value = values["loss"] as? Double {
                board.record(step: step, objective: "loss", value: value)
            }
        default:
            break
        }
    }
}
