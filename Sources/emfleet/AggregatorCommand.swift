import ArgumentParser
import Cluster
import Foundation

/// `emfleet aggregator`: a reduction tier between a coordinator and many workers.
struct AggregatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aggregator",
        abstract: "Relay a coordinator's tasks to the workers that connect here, and add their results before they go up.",
        discussion: """
            Workers connect to --bind exactly as they would to the coordinator (emfleet worker --connect). \
            The aggregator sends the coordinator one result per block of the shard tree its workers cover \
            and one state message per heartbeat for all of them, so the coordinator handles messages per \
            aggregator rather than per worker. The coordinator keeps shard ownership and failure handling: \
            the model is the same bits as without aggregators. It binds --bind once the coordinator has \
            admitted it, and exits when told to or when the coordinator has gone away.
            """
    )

    @Option(name: .long, help: ArgumentHelp("The coordinator's endpoint (tcp://HOST:PORT or ipc://PATH).", valueName: "endpoint"))
    var connect: String

    @Option(name: .long, help: ArgumentHelp("Where workers connect (tcp://0.0.0.0:6000, tcp://127.0.0.1:*, ipc://PATH).", valueName: "endpoint"))
    var bind: String

    @Option(name: .long, help: "A name for this aggregator in the coordinator's log.")
    var name: String = ""

    @Option(name: .long, help: "Exit after this many seconds without a word from the coordinator.")
    var coordinatorTimeout: Double = 60

    @Flag(name: .long, help: "Exit when the process that started this aggregator exits (the launch scripts use it).")
    var exitWithParent = false

    @Option(name: .long, help: ArgumentHelp(
        "This aggregator's CURVE secret key file: it authenticates to the coordinator with it, and its workers give its .public file as --coordinator-key.",
        valueName: "file"))
    var curveSecret: String?

    @Option(name: .long, help: ArgumentHelp("The coordinator's .public key file.", valueName: "file"))
    var coordinatorKey: String?

    @Flag(name: .long, help: "Allow --bind on a non-loopback address without CURVE (anyone who reaches the port can join).")
    var insecure = false

    func validate() throws {
        guard coordinatorTimeout > 0 else { throw ValidationError("--coordinator-timeout must be positive") }
        if (curveSecret == nil) != (coordinatorKey == nil) {
            throw ValidationError("give --curve-secret and --coordinator-key together")
        }
        for (option, endpoint) in [("--connect", connect), ("--bind", bind)] {
            guard endpoint.hasPrefix("tcp://") || endpoint.hasPrefix("ipc://") else {
                throw ValidationError("\(option) takes tcp://HOST:PORT or ipc://PATH, not '\(endpoint)'")
            }
        }
        if curveSecret == nil, !insecure, !ClusterOptions.isLocal(bind) {
            throw ValidationError(
                "--bind \(bind) is reachable from other machines, and without CURVE anyone who reaches it can join as a worker and "
                    + "poison the model. Give --curve-secret and --coordinator-key (the coordinator must use CURVE), or --insecure on a trusted network")
        }
    }

    func run() throws {
        try reportingErrors {
            var options = AggregatorOptions(coordinator: connect, bind: bind)
            options.name = name
            options.coordinatorTimeout = coordinatorTimeout
            options.exitWithParent = exitWithParent
            if let curveSecret, let coordinatorKey {
                options.curve = CurveClientSettings(keys: try CurveKeyPair.readSecret(curveSecret),
                                                    coordinatorKey: try CurveKeyPair.readPublic(coordinatorKey))
            }
            let reason = try ClusterAggregator(options: options, jobs: ServedJobs.registry).run()
            if !exitWithParent { FileHandle.standardError.write(Data("emfleet: aggregator: \(reason)\n".utf8)) }
        }
    }
}
