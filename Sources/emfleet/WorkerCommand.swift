import ArgumentParser
import Cluster
import Foundation
import Numerics

/// `emfleet worker`: serve jobs for a coordinator.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Connect to a coordinator and compute shards for its jobs, one job after another.",
        discussion: """
            The worker reads its rows from the job's data file at the same path (shared storage), \
            or receives them when the coordinator runs with --stream-data. It exits when the \
            coordinator tells it to, or when the coordinator has been silent for --coordinator-timeout seconds.
            """
    )

    @Option(name: .long, help: ArgumentHelp(
        "The coordinator's (or an aggregator's) endpoint, tcp://HOST:PORT or ipc://PATH; several, comma-separated, are tried in turn when the one in use goes silent.",
        valueName: "endpoint[,endpoint...]"))
    var connect: String

    @Option(name: .long, help: "Threads to compute with (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "A name for this worker in the coordinator's log.")
    var name: String = ""

    @Option(name: .long, help: "Exit after this many seconds without a word from the coordinator.")
    var coordinatorTimeout: Double = 60

    @Flag(name: .long, help: "Exit when the process that started this worker exits (the launch scripts and --workers use it).")
    var exitWithParent = false

    @Option(name: .long, help: ArgumentHelp("This worker's CURVE secret key file (from `emfleet keygen`).", valueName: "file"))
    var curveSecret: String?

    @Option(name: .long, help: ArgumentHelp(
        "The coordinator's (or aggregator's) .public key file; with --curve-secret, the traffic is encrypted and authenticated. With several --connect endpoints, one file for all or one per endpoint, comma-separated.",
        valueName: "file[,file...]"))
    var coordinatorKey: String?

    /// The endpoints of `--connect`, in order.
    var endpoints: [String] { connect.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }
    /// The key files of `--coordinator-key`, in order.
    var keyFiles: [String] { coordinatorKey.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) } ?? [] }

    @Option(name: .long, help: ArgumentHelp(
        "Most memory this worker's shards may take (512M, 4G); shards beyond it are read from their .npy file on every pass.",
        valueName: "size"))
    var memoryLimit: String?

    @Option(name: .long, help: ArgumentHelp("After a training step, poll this long for the next task before sleeping (0: sleep at once).", valueName: "microseconds"))
    var pollAfterStep: Int = 1000

    @Flag(name: .long, inversion: .prefixedNo, help: "Offer a coordinator on this host shared memory for big messages (a step's weights and gradients) instead of the socket.")
    var sharedMemory = true

    @Option(name: .long, help: ArgumentHelp(
        "Run only on these CPUs (as taskset -c writes them: 3, 0,2, 4-7); local fleets that take every core pin each worker to its own.",
        valueName: "list"))
    var cpus: String?

    func validate() throws {
        if let cpus {
            guard let list = ProcessorAffinity.parse(cpus) else { throw ValidationError("--cpus takes CPU numbers such as 3, 0,2 or 4-7, not '\(cpus)'") }
            let allowed = Set(ProcessorAffinity.allowed())
            guard list.allSatisfy(allowed.contains) else {
                throw ValidationError("--cpus \(cpus): this process may run only on CPUs \(allowed.sorted().map(String.init).joined(separator: ","))")
            }
        }
        guard (0...1_000_000).contains(pollAfterStep) else { throw ValidationError("--poll-after-step takes 0 to 1000000 microseconds") }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard coordinatorTimeout > 0 else { throw ValidationError("--coordinator-timeout must be positive") }
        if (curveSecret == nil) != (coordinatorKey == nil) {
            throw ValidationError("give --curve-secret and --coordinator-key together")
        }
        if let memoryLimit { _ = try parsedMemoryLimit(memoryLimit) }
        for endpoint in endpoints {
            guard endpoint.hasPrefix("tcp://") || endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") else {
                throw ValidationError("--connect takes tcp://HOST:PORT or ipc://PATH (comma-separated for several), not '\(endpoint)'")
            }
        }
        if coordinatorKey != nil, keyFiles.count != 1, keyFiles.count != endpoints.count {
            throw ValidationError("--coordinator-key takes one key file, or one per --connect endpoint (\(endpoints.count)), not \(keyFiles.count)")
        }
    }

    func run() throws {
        try reportingErrors {
            let pinned = cpus.flatMap(ProcessorAffinity.parse)
            if let pinned { try ProcessorAffinity.pin(to: pinned) }
            var options = WorkerOptions(endpoint: endpoints[0], threads: threads ?? pinned?.count ?? ProcessInfo.processInfo.activeProcessorCount)
            options.name = name
            options.coordinatorTimeout = coordinatorTimeout
            options.exitWithParent = exitWithParent
            options.pollAfterStepMicroseconds = pollAfterStep
            options.sharedMemory = sharedMemory
            // A worker's threads poll between its loops only while it may poll for its next task.
            ParallelLanes.shared.idleSpinMicroseconds = min(200, pollAfterStep)
            options.memoryLimit = try memoryLimit.map(parsedMemoryLimit)
            let serverKeys = try keyFiles.map(CurveKeyPair.readPublic)
            if let curveSecret, let first = serverKeys.first {
                options.curve = CurveClientSettings(keys: try CurveKeyPair.readSecret(curveSecret), coordinatorKey: first)
            }
            options.fallbacks = endpoints.dropFirst().enumerated().map { index, endpoint in
                (endpoint, serverKeys.count > 1 ? serverKeys[index + 1] : nil)
            }
            let reason = try ClusterWorker(options: options, jobs: ServedJobs.registry).run()
            // Workers a job command started itself end quietly with it.
            if !exitWithParent { FileHandle.standardError.write(Data("emfleet: worker: \(reason)\n".utf8)) }
        }
    }
}
