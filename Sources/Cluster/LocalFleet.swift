import Engine
import Foundation
import Numerics

/// Worker processes on this machine for `--workers N`: the same binary run as
/// `emfleet worker`, connected over an `ipc://` endpoint in a private (0700) directory.
///
/// The workers exit when this process exits (they watch their parent), and `stop()`, an
/// interrupt or a termination signal kills them and removes the directory, so no process
/// or socket file is left behind.
public final class LocalFleet {
    /// The endpoint the coordinator binds and the workers connect to.
    public let endpoint: String
    private let directory: String
    private var processes: [Process] = []

    /// Makes the private directory; call ``start(count:threads:executable:coordinatorTimeout:)`` once the coordinator is bound.
    public init() throws {
        let base = FileManager.default.temporaryDirectory.path
        var template = Array("\(base)/emfleet-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw ClusterError("cannot create a private directory under \(base): \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
        chmod(directory, 0o700)
        endpoint = "ipc://\(directory)/coordinator"
        InterruptCleanup.register(directory: directory)
    }

    deinit { stop() }

    /// Starts `count` workers running `executable worker --connect endpoint`.
    ///
    /// Workers poll briefly after each training step only while there is a core for each:
    /// with more workers than cores, a polling worker would take time from a computing one.
    /// Workers that together take every core this process may use are each pinned to their own
    /// (``ProcessorAffinity/deal(workers:threads:)``).
    public func start(count: Int, threads: Int, executable: String, coordinatorTimeout: Double = 30, memoryLimit: MemoryLimit? = nil) throws {
        let poll = count * threads <= ProcessInfo.processInfo.activeProcessorCount ? 1000 : 0
        let cpus = ProcessorAffinity.deal(workers: count, threads: threads)
        for index in 0..<count {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = [
                "worker", "--connect", endpoint, "--threads", "\(threads)", "--name", "local-\(index + 1)",
                "--coordinator-timeout", "\(Int(coordinatorTimeout))", "--exit-with-parent", "--poll-after-step", "\(poll)",
            ] + (memoryLimit.map { ["--memory-limit", "\($0.bytes)"] } ?? [])
                + (cpus.map { ["--cpus", $0[index].map(String.init).joined(separator: ",")] } ?? [])
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            processes.append(process)
            InterruptCleanup.register(pid: process.processIdentifier)
        }
    }

    /// The workers' process ids.
    public var pids: [Int32] { processes.map(\.processIdentifier) }

    /// Waits briefly for the workers to exit by themselves, then kills what is left and removes the directory.
    public func stop(grace: Double = 2) {
        let deadline = Date().addingTimeInterval(grace)
        while processes.contains(where: \.isRunning), Date() < deadline { usleep(20_000) }
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        processes.removeAll()
        try? FileManager.default.removeItem(atPath: directory)
        InterruptCleanup.clear()
    }
}

/// What an interrupted job (SIGINT, SIGTERM, SIGHUP) does before it exits: kills its local
/// workers, removes their directory, and says whether a checkpoint is left to resume from.
///
/// The handler only calls async-signal-safe functions (`kill`, `unlink`, `rmdir`, `access`,
/// `write`, `_exit`) on values prepared before the signal.
public enum InterruptCleanup {
    private static let capacity = 1024
    nonisolated(unsafe) private static var pids = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
    nonisolated(unsafe) private static var pidCount = 0
    nonisolated(unsafe) private static var socketPath: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var directoryPath: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var checkpointPath: UnsafeMutablePointer<CChar>?
    nonisolated(unsafe) private static var resumeNote: [UInt8] = []
    nonisolated(unsafe) private static var installed = false

    /// Says, on an interrupt, that `checkpoint` is kept and how to continue (once it exists).
    ///
    /// - Parameter option: the option that continues the job, such as `--resume`.
    public static func noteCheckpoint(_ checkpoint: String, resumeWith option: String = "--resume") {
        checkpointPath = strdup(checkpoint)
        resumeNote = Array("emfleet: interrupted; the checkpoint \(checkpoint) is kept: run the same command with \(option) \(checkpoint) to continue\n".utf8)
        install()
    }

    static func register(directory: String) {
        directoryPath = strdup(directory)
        socketPath = strdup("\(directory)/coordinator")
        install()
    }

    private static func install() {
        guard !installed else { return }
        installed = true
        // A parent may have started us with these signals blocked; we must see them.
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        for signal in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblocked, signal) }
        pthread_sigmask(SIG_UNBLOCK, &unblocked, nil)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            Foundation.signal(signal) { number in
                for i in 0..<InterruptCleanup.pidCount { kill(InterruptCleanup.pids[i], SIGKILL) }
                if let path = InterruptCleanup.socketPath { unlink(path) }
                if let path = InterruptCleanup.directoryPath { rmdir(path) }
                if let path = InterruptCleanup.checkpointPath, access(path, F_OK) == 0 {
                    InterruptCleanup.resumeNote.withUnsafeBufferPointer { _ = write(2, $0.baseAddress, $0.count) }
                }
                _exit(128 + number)
            }
        }
    }

    static func register(pid: Int32) {
        guard pidCount < capacity else { return }
        pids[pidCount] = pid
        pidCount += 1
    }

    static func clear() { pidCount = 0 }
}
