import ArgumentParser
import Cluster
import Datasets
import Engine
import Foundation
import Logging
import Mixture
import StatusServer

/// How log events are printed.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// `--workers` / `--bind` and friends: where a job's shards are computed. Shared by every job command.
struct ClusterOptions: ParsableArguments {
    @Option(name: .long, help: "Start this many local worker processes and compute on them.")
    var workers: Int?

    @Option(name: .long, help: ArgumentHelp("Act as the coordinator for remote workers, listening here (tcp://ADDR:PORT).", valueName: "endpoint"))
    var bind: String?

    @Option(name: .long, help: "With --bind: ready workers to wait for before the first round.")
    var minWorkers: Int = 1

    @Option(name: .long, help: "Seconds of silence after which a worker is declared dead and its shards move.")
    var workerTimeout: Double = 5

    @Option(name: .long, help: "Seconds to wait for a worker when none is left before giving up (a checkpoint stays).")
    var waitWorkers: Double = 60

    @Flag(name: .long, help: "Send workers their rows from here instead of having them read the file.")
    var streamData = false

    @Option(name: .long, help: "Threads per local worker (default: cores / workers, at least 1).")
    var workerThreads: Int?

    @Option(name: .long, help: "Log format: text (lines for people) or json (one event per line on standard output).")
    var logFormat: LogFormat = .text

    @Option(name: .long, help: ArgumentHelp("With --bind: this coordinator's CURVE secret key file (from `emfleet keygen`); encrypts the traffic.", valueName: "file"))
    var curveSecret: String?

    @Option(name: .long, help: ArgumentHelp("With --curve-secret: the workers' .public key file, or a directory of them; only these may join.", valueName: "path"))
    var authorizedKeys: String?

    @Option(name: .long, help: "Most workers admitted at once; more are refused with a message.")
    var maxWorkers: Int = 1024

    @Flag(name: .long, help: "Allow --bind on a non-loopback address without CURVE (anyone who reaches the port can join and read data).")
    var insecure = false

    @Flag(name: .long, help: "With --bind: stop when the process that started this one exits (the launch scripts use it).")
    var exitWithParent = false

    @Option(name: .long, help: ArgumentHelp(
        "Serve the job's live status page, /status.json and Prometheus /metrics here (127.0.0.1:0 picks a port and prints the URL).",
        valueName: "addr:port"))
    var status: String?

    @Option(name: .long, help: ArgumentHelp("With --status beyond loopback: a file holding the bearer token clients must send.", valueName: "file"))
    var statusToken: String?

    @Flag(name: .long, help: "Admit workers whose OpenBLAS kernel differs from the coordinator's and cannot switch to it (the model then depends on which worker computed which shard).")
    var allowMixedKernels = false

    @Flag(name: .long, inversion: .prefixedNo, help: "Let workers on this host send and take big messages (a step's weights and gradients) through shared memory instead of the socket.")
    var sharedMemory = true

    @Option(name: .long, help: ArgumentHelp(
        "Most memory each process's shards may take (512M, 4G); shards beyond it are read from their .npy file on every pass.",
        valueName: "size"))
    var memoryLimit: String?

    func validate() throws {
        if let memoryLimit { _ = try parsedMemoryLimit(memoryLimit) }
        if workers != nil, bind != nil { throw ValidationError("give --workers or --bind, not both") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        guard minWorkers >= 1 else { throw ValidationError("--min-workers must be at least 1") }
        guard maxWorkers >= minWorkers else { throw ValidationError("--max-workers must be at least --min-workers") }
        guard workerTimeout > 0 else { throw ValidationError("--worker-timeout must be positive") }
        guard waitWorkers >= 0 else { throw ValidationError("--wait-workers must not be negative") }
        if let workerThreads, workerThreads < 1 { throw ValidationError("--worker-threads must be at least 1") }
        if streamData, !isDistributed { throw ValidationError("--stream-data needs --workers or --bind") }
        if let bind, !(bind.hasPrefix("tcp://") || bind.hasPrefix("ipc://")) {
            throw ValidationError("--bind takes tcp://ADDR:PORT or ipc://PATH, not '\(bind)'")
        }
        if (curveSecret == nil) != (authorizedKeys == nil) {
            throw ValidationError("give --curve-secret and --authorized-keys together: a CURVE coordinator admits only listed worker keys")
        }
        if curveSecret != nil, bind == nil {
            throw ValidationError("--curve-secret is for --bind; local --workers talk over a private ipc:// directory")
        }
        if let bind, curveSecret == nil, !insecure, !Self.isLocal(bind) {
            throw ValidationError(
                "--bind \(bind) listens beyond this machine without encryption: anyone who reaches it could join, read rows and "
                    + "poison the model. Give --curve-secret and --authorized-keys (keys from `emfleet keygen`), or --insecure on a trusted network")
        }
        if statusToken != nil, status == nil { throw ValidationError("--status-token is for --status") }
        if let status {
            let address: StatusAddress
            do { address = try StatusAddress(parsing: status) } catch { throw ValidationError("\(error)") }
            if !address.isLoopback, statusToken == nil {
                throw ValidationError(
                    "--status \(status) listens beyond this machine: anyone who reaches it could read the job's options and progress. "
                        + "Give --status-token FILE (a bearer token clients must send), or a loopback address such as 127.0.0.1:0")
            }
        }
    }

    /// What `--status` asks for, or nil.
    var statusRequest: StatusRequest? {
        guard let status, let address = try? StatusAddress(parsing: status) else { return nil }
        return StatusRequest(address: address, tokenFile: statusToken)
    }

    /// Whether shards are computed by worker processes.
    var isDistributed: Bool { workers != nil || bind != nil }

    /// Whether an endpoint is reachable from this machine only (loopback TCP or an ipc:// path).
    static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") { return true }
        let address = endpoint.dropFirst("tcp://".count)
        let host = address.hasPrefix("[") ? String(address.prefix { $0 != "]" }.dropFirst()) : String(address.prefix { $0 != ":" })
        return host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// The options as plain values.
    var settings: ClusterSettings {
        var settings = ClusterSettings()
        settings.workers = workers
        settings.bind = bind
        settings.minWorkers = minWorkers
        settings.workerTimeout = workerTimeout
        settings.waitWorkers = waitWorkers
        settings.streamData = streamData
        settings.workerThreads = workerThreads
        settings.curveSecret = curveSecret
        settings.authorizedKeys = authorizedKeys
        settings.maxWorkers = maxWorkers
        settings.exitWithParent = exitWithParent
        settings.allowMixedKernels = allowMixedKernels
        settings.sharedMemory = sharedMemory
        settings.memoryLimit = memoryLimit.flatMap { try? parsedMemoryLimit($0) }
        return settings
    }
}

/// A job's shards (opened by the `Cluster` library) with the log its events print to.
final class OpenedJob {
    let shards: JobShards
    let log: EventLog

    /// Opens the data for a mixture job: loaded here, or described to workers (local or remote),
    /// with the sample weights `weights` names.
    ///
    /// A stepwise fit (`online`) defaults to one shard per 256 rows of its minibatch (at most the
    /// usual count): every minibatch visits every shard, so each shard then gives it one chunk of
    /// rows, and a step's cost does not grow with the data's size.
    convenience init(
        data: DataOptions, shards: Int?, threads: Int?, cluster: ClusterOptions, weights: SampleWeightOptions? = nil, online: OnlineOptions? = nil
    ) throws {
        let defaultShards: (Int) -> Int = online.map { online in
            { rows in max(1, min(ShardPlan.defaultShardCount(rows: rows), online.batchSize / 256)) }
        } ?? ShardPlan.defaultShardCount(rows:)
        try self.init(path: data.data, csv: weights?.csv(data.layout.csvOptions) ?? data.layout.csvOptions, shards: shards, threads: threads,
                      cluster: cluster.settings, logFormat: cluster.logFormat, status: cluster.statusRequest, weights: weights?.sampleWeight,
                      defaultShards: defaultShards)
    }

    /// Opens the data file at `path` for a job (see ``JobShards``), with the sample-weight file
    /// `weights` (or `csv`'s weight column), printing its events to a log in `logFormat`;
    /// `messageLimit` defaults to the mixture job's. With `status`, the status server starts
    /// first (so that a port in use is reported before any work) and watches the coordinator.
    init(
        path: String, csv: CSVOptions, shards: Int?, threads: Int?, cluster: ClusterSettings, logFormat: LogFormat = .text,
        status: StatusRequest? = nil,
        labels: JobSpec.LabelSource = .none,
        weights: String? = nil,
        defaultShards: (Int) -> Int = ShardPlan.defaultShardCount(rows:),
        messageLimit: (ShardContext) -> Int = { MixtureJob.messageLimit(largestShard: $0.largestShardRows, columns: $0.dimension) }
    ) throws {
        let log = EventLog(format: logFormat)
        self.log = log
        self.status = try status.map { try LiveStatus(request: $0, log: log) }
        var cluster = cluster
        if let workers = cluster.workers {
            // Shards come from the rows alone, so workers beyond them would only start, join and idle.
            let planned = try shards ?? defaultShards(DatasetLoader.shape(path: path, csv: csv).rows)
            let useful = max(planned, cluster.minWorkers)
            if workers > useful {
                log.note("warning: --workers \(workers) with \(planned) shard\(planned == 1 ? "" : "s"): "
                    + "\(workers - useful) would have no shard to compute; starting \(useful) (the result is the same)")
                cluster.workers = useful
            }
        }
        self.shards = try JobShards(
            path: path, csv: csv, shards: shards, threads: threads, cluster: cluster, labels: labels, weights: weights, defaultShards: defaultShards,
            messageLimit: messageLimit, workerExecutable: CommandLine.executablePath) { log.cluster($0) }
        if let coordinator = self.shards.coordinator {
            if cluster.workers == nil {
                let endpoint = coordinator.boundEndpoint
                log.json("listening", [("endpoint", endpoint)])
                if log.format == .text { log.note("coordinator listening on \(endpoint); waiting for \(cluster.minWorkers) worker(s)") }
            }
            coordinator.onShardDone = { done, total in log.progress(done: done, total: total) }
            coordinator.observer = self.status?.board
        }
    }

    /// The live status server of `--status`, or nil.
    let status: LiveStatus?

    /// Warns, once per column, when a feature of a fit looks like a row identifier (a serial
    /// number, an ID): it would silently become a dimension of the model.
    ///
    /// Looks at the first rows only; a file it cannot sample is left to the fit's own errors.
    func warnAboutIdentifierFeatures(path: String, csv: CSVOptions) {
        guard let suspects = try? TableInspector.identifierFeatures(path: path, csv: csv) else { return }
        for suspect in suspects {
            let called = suspect.name.map { "column \(suspect.index) (\"\($0)\")" } ?? "column \(suspect.index)"
            log.note("warning: \(called) looks like a row identifier (a different integer on every row, in order) but is a feature; "
                + "leave it out with --exclude-columns \(suspect.name ?? String(suspect.index))")
        }
    }

    /// Runs tasks on the shards.
    var runner: ShardRunner { shards.runner }
    /// The coordinator when the shards are on workers.
    var coordinator: ClusterCoordinator? { shards.coordinator }
    /// Live workers, or nil in process.
    var liveWorkers: Int? { shards.liveWorkers }
    /// Ends the job on the workers, stops local ones and closes the socket.
    func finish() {
        if let coordinator {
            // What the rounds cost the coordinator, for the log (and scripts/bench-scale.sh).
            let totals = coordinator.roundTotals, later = coordinator.laterRoundTotals
            log.json("cluster_summary", [
                ("rounds", totals.rounds), ("round_seconds", totals.seconds), ("coordinator_cpu_seconds", totals.cpuSeconds),
                ("bytes_in", totals.bytesIn), ("bytes_out", totals.bytesOut),
                // Of those, what went through shared memory instead of the socket.
                ("shared_memory_bytes", coordinator.sharedMemoryBytes),
                // The rounds after the first, which also waited for and admitted the workers.
                ("later_rounds", later.rounds), ("later_round_seconds", later.seconds), ("later_coordinator_cpu_seconds", later.cpuSeconds),
                ("later_bytes_in", later.bytesIn), ("later_bytes_out", later.bytesOut),
                ("peak_resident_bytes", RoundStatistics.peakResidentBytes()),
                ("live_workers", coordinator.liveWorkers), ("live_aggregators", coordinator.liveAggregators),
            ])
        }
        shards.finish()
        status?.finish()
    }
}

extension CommandLine {
    /// This program's own executable, for starting local workers.
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
    }
}

/// Prints cluster events and progress as text for people or as JSON lines for programs, through
/// swift-log (``EventLogHandler`` writes the records).
final class EventLog: @unchecked Sendable {
    // @unchecked: used from the thread running the command only.
    let format: LogFormat
    private let logger: Logger

    init(format: LogFormat) {
        self.format = format
        let start = ContinuousClock.now
        logger = Logger(label: "emfleet") { _ in EventLogHandler(format: format, start: start) }
    }

    /// The `--status` board that iterations and epochs are shown on, or nil.
    var status: StatusBoard?

    /// Emits a JSON event (json format only); iterations and epochs also go to the status board.
    func json(_ event: String, _ fields: [(String, Any)]) {
        if let status { LiveStatus.forward(event, fields, to: status) }
        guard format == .json else { return }
        var metadata: Logger.Metadata = [:]
        for (key, value) in fields { metadata[key] = .stringConvertible(JSONField(value)) }
        logger.info("\(event)", metadata: metadata)
    }

    private let terminal = isatty(STDERR_FILENO) == 1
    private var lastDrawn = ContinuousClock.now
    private var barShown = false

    /// A progress bar of the current round on standard error, when it is a terminal (text format).
    func progress(done: Int, total: Int) {
        guard format == .text, terminal else { return }
        let now = ContinuousClock.now
        guard done == total || now - lastDrawn > .milliseconds(100) else { return }
        lastDrawn = now
        let width = 30, filled = width * done / max(1, total)
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = done == total ? "\r\u{1B}[K" : "\r  \(bar) \(done)/\(total) shards"
        FileHandle.standardError.write(Data(line.utf8))
        barShown = done != total
    }

    /// A line for people (standard error in text format, a "note" event in json).
    func note(_ text: String) {
        switch format {
        case .text:
            if barShown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            logger.notice("\(text)")
        case .json:
            json("note", [("message", text)])
        }
    }

    func cluster(_ event: ClusterEvent) {
        switch event {
        case let .workerJoined(id, hello, via, sharedMemory, ringRefused):
            json("worker_joined", [("worker", id), ("host", hello.host), ("pid", hello.pid), ("threads", hello.threads),
                                   ("blas_core", hello.blasCore), ("name", hello.name), ("via_aggregator", via.map { $0 as Any } ?? NSNull()),
                                   ("shared_memory", sharedMemory), ("ring_refused", ringRefused.map { $0 as Any } ?? NSNull())])
            if format == .text {
                note("worker \(id) joined: \(hello.label), \(hello.threads) thread(s), OpenBLAS core \(hello.blasCore)"
                     + (via.map { ", via aggregator \($0)" } ?? "") + (sharedMemory ? ", shared memory" : "")
                     + (ringRefused.map { " (its shared memory could not be mapped: \($0))" } ?? ""))
            }
        case let .aggregatorJoined(id, hello):
            json("aggregator_joined", [("aggregator", id), ("host", hello.host), ("pid", hello.pid), ("name", hello.name)])
            if format == .text { note("aggregator \(id) joined: \(hello.label)") }
        case let .aggregatorLost(id, label, reason, workers):
            json("aggregator_lost", [("aggregator", id), ("label", label), ("reason", reason), ("workers", workers)])
            if format == .text { note("aggregator \(id) (\(label)) lost: \(reason); its \(workers) worker(s) are lost with it") }
        case let .workerLost(id, label, reason, pending):
            json("worker_lost", [("worker", id), ("label", label), ("reason", reason), ("pending_shards", pending)])
            if format == .text { note("worker \(id) (\(label)) lost: \(reason); \(pending) pending shard(s) move") }
        case let .workerRefused(label, reason):
            json("worker_refused", [("label", label), ("reason", reason)])
            if format == .text { note("refused \(label): \(reason)") }
        case let .workerError(id, label, message):
            json("worker_error", [("worker", id), ("label", label), ("message", message)])
            if format == .text { note("worker \(id) (\(label)) failed: \(message); continuing without it") }
        case let .shardsMoved(to, count, reason):
            json("shards_moved", [("to_worker", to), ("count", count), ("reason", reason)])
            if format == .text { note("\(count) shard(s) moved to worker \(to) (\(reason))") }
        case let .blasMismatch(label, core, expected):
            json("blas_mismatch", [("label", label), ("core", core), ("expected", expected)])
            if format == .text {
                note("warning: \(label) computes with OpenBLAS kernel \(core), not the coordinator's \(expected) (--allow-mixed-kernels): "
                     + "the model is no longer independent of which worker computed which shard")
            }
        case let .kernelSwitch(label, core, required):
            json("kernel_switch", [("label", label), ("core", core), ("required", required)])
            if format == .text { note("\(label) computes with OpenBLAS kernel \(core): told to re-execute with the coordinator's \(required)") }
        case let .dropped(total, reason):
            json("dropped", [("total", total), ("reason", reason)])
            if format == .text { note("dropped a message (\(total) so far): \(reason)") }
        case let .waiting(ready, wanted):
            json("waiting", [("ready", ready), ("wanted", wanted)])
            if format == .text { note("waiting for workers: \(ready) of \(wanted) ready") }
        case let .residency(kept, keptBytes, streamed, bytesPerPass, file, limit):
            json("residency", [("kept_shards", kept), ("kept_bytes", keptBytes), ("streamed_shards", streamed),
                               ("bytes_per_pass", bytesPerPass), ("file", file), ("memory_limit", limit.bytes)])
            if format == .text {
                note("keeping \(kept) shard(s) in memory (\(MemoryLimit.format(keptBytes))) and reading \(streamed) from \(file) on every pass "
                     + "(\(MemoryLimit.format(bytesPerPass)) per pass) under --memory-limit \(limit)")
            }
        }
    }
}

/// `--memory-limit`'s value, or a usage error that says how to write one.
func parsedMemoryLimit(_ text: String) throws -> MemoryLimit {
    do {
        return try MemoryLimit(parsing: text)
    } catch let error as MemoryLimitError {
        throw ValidationError("--memory-limit: \(error.description)")
    }
}
