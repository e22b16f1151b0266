import Engine

/// One worker as the coordinator sees it, for a status page or metrics.
public struct WorkerStatus: Sendable, Equatable {
    /// Where the worker is in its life.
    public enum State: String, Sendable, CaseIterable {
        /// Joined, still opening the job's data.
        case joining
        /// Has the data and gets shards.
        case ready
        /// Reported an error and is left out of this job.
        case excluded
        /// Declared dead or failed (kept by observers; the coordinator forgets it).
        case lost
    }

    /// The coordinator's number for it.
    public var id: Int
    /// Its host name, process id, threads, OpenBLAS core and `--name`.
    public var host: String, pid: Int, threads: Int, blasCore: String, name: String
    /// Where it is in its life.
    public var state: State
    /// Shards it owns now.
    public var shards: Int
    /// Seconds since the coordinator last heard from it.
    public var secondsSinceHeard: Double
    /// Seconds it reported computing, over the whole job.
    public var computeSeconds: Double
    /// Rows it reported computing, over the whole job (a row counts once per round).
    public var rows: Int

    /// Creates a worker's status.
    public init(id: Int, host: String, pid: Int, threads: Int, blasCore: String, name: String, state: State, shards: Int,
                secondsSinceHeard: Double, computeSeconds: Double, rows: Int) {
        self.id = id; self.host = host; self.pid = pid; self.threads = threads; self.blasCore = blasCore; self.name = name
        self.state = state; self.shards = shards; self.secondsSinceHeard = secondsSinceHeard; self.computeSeconds = computeSeconds; self.rows = rows
    }
}

/// What a coordinator has done so far: a value copied out on its own thread, so that another
/// thread (an HTTP server) can read it without touching the coordinator.
public struct CoordinatorStatus: Sendable {
    /// Rounds started; the current one is running when `roundRunning`.
    public var rounds: UInt64 = 0
    /// Whether a round is in progress.
    public var roundRunning = false
    /// Shards of the job, and those of the current (or last) round that are done.
    public var shards = 0, shardsDone = 0
    /// The workers it knows now.
    public var workers: [WorkerStatus] = []
    /// Shard results accepted, over the job.
    public var shardsComputed = 0
    /// Shards that changed owner, over the job.
    public var shardsMoved = 0
    /// Messages dropped because they failed a check, by a short reason (`bad_result`, `malformed`, …).
    public var dropped: [String: Int] = [:]
    /// Bytes received and sent, over the job (all frames).
    public var bytesReceived = 0, bytesSent = 0
    /// The last finished round's traffic and times.
    public var lastRound: RoundStatistics?

    /// An empty status.
    public init() {}
}

/// Watches a coordinator: a status page or a metrics exporter.
///
/// The coordinator calls it on its own thread at the start and end of every round, as results
/// arrive (at most five times a second) and when workers come and go; an implementation copies
/// what it needs and returns at once, for it holds up the round.
public protocol CoordinatorObserver: AnyObject {
    /// The coordinator's state changed.
    func coordinatorChanged(_ status: CoordinatorStatus)
}
