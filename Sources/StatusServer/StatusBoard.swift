import Cluster
import CoreMetrics
import Foundation
import Numerics

/// What `/status.json` holds: the job, its progress, its objective per step and its workers.
public struct StatusDocument: Codable, Sendable, Equatable {
    /// The command and how far it is.
    public struct Job: Codable, Sendable, Equatable {
        /// The subcommand (`gmm fit`) and the arguments after it.
        public var command: String, arguments: [String]
        /// `running`, `done` or `failed`.
        public var state: String
        /// Why it failed, when it did.
        public var message: String?
        /// Seconds since the job started (until it ended).
        public var elapsedSeconds: Double
        /// The `--report` page written at the end, when one was.
        public var report: String?
    }
    /// How far the job is.
    public struct Progress: Codable, Sendable, Equatable {
        /// Steps (iterations or epochs) done, and the most there can be when known.
        public var steps: Int, maxSteps: Int?
        /// Seconds left if the job runs to `maxSteps` at its pace so far.
        public var etaSeconds: Double?
        /// Rounds started; shards of the current round done, of all.
        public var rounds: UInt64, roundShardsDone: Int, shards: Int
    }
    /// One step's objective.
    public struct Point: Codable, Sendable, Equatable {
        /// Its place among all steps (1, 2, …), the step's own number (which restarts with each `--n-init` start), the value.
        public var index: Int, step: Int, value: Double
    }
    /// A worker, as the page's table shows it.
    public struct Worker: Codable, Sendable, Equatable {
        /// The coordinator's number, host, process id, threads, OpenBLAS kernel, `--name`.
        public var id: Int, host: String, pid: Int, threads: Int, kernel: String, name: String
        /// `joining`, `ready`, `excluded` or `lost`.
        public var state: String
        /// Shards it owns, seconds since it was heard from, seconds and rows it reported computing.
        public var shards: Int, secondsSinceHeard: Double, computeSeconds: Double, rows: Int
    }

    /// The job.
    public var job: Job
    /// Its progress.
    public var progress: Progress
    /// What the objective is called (`log_likelihood`, `inertia`, `loss`), once known.
    public var objective: String?
    /// The objective after each step.
    public var points: [Point]
    /// The workers (lost ones too), by number.
    public var workers: [Worker]
    /// Shard results accepted, shards moved, bytes sent and received, over the job.
    public var shardsComputed: Int, shardsMoved: Int, bytesSent: Int, bytesReceived: Int
    /// Messages dropped, by reason.
    public var resultsDropped: [String: Int]
}

/// The live state of one job, fed by the command (steps, the end) and the coordinator (as its
/// ``CoordinatorObserver``), read by the status server's threads.
///
/// Every update records the job's metrics too, so `/metrics` and `/status.json` always agree.
///
/// ```swift
/// let board = StatusBoard(command: "gmm fit", arguments: ["--data", "x.npy"])
/// coordinator.observer = board
/// board.record(step: 1, objective: "log_likelihood", value: -3.2)
/// ```
public final class StatusBoard: CoordinatorObserver, Sendable {
    private struct State {
        var started: Double
        var ended: Double?
        var state = "running"
        var message: String?
        var report: String?
        var maxSteps: Int?
        var objective: String?
        var points: [StatusDocument.Point] = []
        var coordinator = CoordinatorStatus()
        var lost: [Int: WorkerStatus] = [:]
        var lastReported: [Int: (seconds: Double, rows: Int)] = [:]
        /// Whether a client has read the document, and whether one has since the job ended.
        var read = false, readAfterEnd = false, reportFetched = false
    }

    /// The most points kept: a chart of 20,000 epochs would only be slower, not clearer.
    static let pointLimit = 20_000

    private let state: Locked<State>
    let metrics = StatusMetrics()
    private let command: String, arguments: [String]
    private let now: @Sendable () -> Double

    /// Creates the board of a job.
    ///
    /// - Parameters:
    ///   - command: the subcommand (`gmm fit`); `arguments`: the options it was given, shown on the page.
    ///   - now: seconds on a monotonic clock (tests may give their own).
    public init(command: String, arguments: [String], now: @escaping @Sendable () -> Double = StatusBoard.monotonicSeconds) {
        self.command = command
        self.arguments = arguments
        self.now = now
        state = Locked(State(started: now()))
    }

    /// Seconds on the system's monotonic clock.
    @Sendable public static func monotonicSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// Tells the board the most steps (iterations or epochs) the job can take, for the progress bar.
    public func expect(steps: Int) {
        state.withLock { $0.maxSteps = steps > 0 ? steps : nil }
    }

    /// Records one step (an iteration or an epoch) and its objective (`log_likelihood`, `inertia`, `loss`).
    public func record(step: Int, objective: String, value: Double) {
        state.withLock { state in
            state.objective = objective
            state.points.append(.init(index: (state.points.last?.index ?? 0) + 1, step: step, value: value))
            if state.points.count > Self.pointLimit { state.points.removeFirst(state.points.count - Self.pointLimit) }
        }
        metrics.iteration.record(step)
        if StatusMetrics.objectives.contains(objective), value.isFinite { metrics.objective(objective).record(value) }
    }

    /// The job ended well; `report` is the page it wrote, if any.
    public func finish(report: String?) {
        state.withLock { state in
            state.state = "done"
            state.report = report
            state.ended = now()
        }
    }

    /// The job stopped with an error.
    public func fail(_ message: String) {
        state.withLock { state in
            guard state.state == "running" else { return }
            state.state = "failed"
            state.message = message
            state.ended = now()
        }
    }

    /// Copies the coordinator's state and records the metrics it changed (on the coordinator's thread).
    public func coordinatorChanged(_ status: CoordinatorStatus) {
        let previous: CoordinatorStatus = state.withLock { state in
            let previous = state.coordinator
            let present = Set(status.workers.map(\.id))
            for worker in previous.workers where !present.contains(worker.id) {
                var lost = worker
                lost.state = .lost
                lost.shards = 0
                state.lost[worker.id] = lost
            }
            state.coordinator = status
            return previous
        }
        let m = metrics
        if status.rounds > previous.rounds { m.rounds.increment(by: Int64(status.rounds - previous.rounds)) }
        if let round = status.lastRound, !status.roundRunning, previous.roundRunning || status.rounds != previous.rounds {
            m.roundDuration.recordSeconds(round.seconds)
            m.coordinatorRound.recordSeconds(max(0, round.seconds - round.waitSeconds))
        }
        Self.add(status.shardsComputed - previous.shardsComputed, to: m.shardsComputed)
        Self.add(status.shardsMoved - previous.shardsMoved, to: m.shardsMoved)
        Self.add(status.bytesSent - previous.bytesSent, to: m.bytesSent)
        Self.add(status.bytesReceived - previous.bytesReceived, to: m.bytesReceived)
        for (reason, count) in status.dropped { Self.add(count - previous.dropped[reason, default: 0], to: m.dropped(reason)) }
        m.shards.record(status.shards)
        let lostCount = state.withLock { $0.lost.count }
        for kind in WorkerStatus.State.allCases {
            let count = kind == .lost ? lostCount : status.workers.filter { $0.state == kind }.count
            m.workers(kind.rawValue).record(count)
        }
        // Workers' own figures, per host (few values), from what each reported since last time.
        let deltas: [(String, Double, Int)] = state.withLock { state in
            status.workers.compactMap { worker in
                let before = state.lastReported[worker.id] ?? (0, 0)
                state.lastReported[worker.id] = (worker.computeSeconds, worker.rows)
                let seconds = worker.computeSeconds - before.seconds, rows = worker.rows - before.rows
                return seconds > 0 || rows > 0 ? (worker.host, max(0, seconds), max(0, rows)) : nil
            }
        }
        for (host, seconds, rows) in deltas {
            m.computeSeconds(host: host).increment(by: seconds)
            Self.add(rows, to: m.rows(host: host))
        }
    }

    private static func add(_ delta: Int, to counter: CoreMetricsCounter) {
        if delta > 0 { counter.increment(by: Int64(delta)) }
    }

    /// The job's state as `/status.json` gives it.
    public func document() -> StatusDocument {
        let now = self.now()
        return state.withLock { state in
            state.read = true
            if state.state != "running" { state.readAfterEnd = true }
            let elapsed = (state.ended ?? now) - state.started
            let steps = state.points.last?.index ?? 0
            var eta: Double?
            if let maxSteps = state.maxSteps, steps > 0, state.state == "running" {
                eta = elapsed / Double(steps) * Double(max(0, maxSteps - steps))
            }
            let c = state.coordinator
            let workers = (c.workers + state.lost.values).sorted { $0.id < $1.id }.map { w in
                StatusDocument.Worker(id: w.id, host: w.host, pid: w.pid, threads: w.threads, kernel: w.blasCore, name: w.name,
                                      state: w.state.rawValue, shards: w.shards, secondsSinceHeard: w.secondsSinceHeard,
                                      computeSeconds: w.computeSeconds, rows: w.rows)
            }
            return StatusDocument(
                job: .init(command: command, arguments: arguments, state: state.state, message: state.message, elapsedSeconds: elapsed, report: state.report),
                progress: .init(steps: steps, maxSteps: state.maxSteps, etaSeconds: eta, rounds: c.rounds, roundShardsDone: c.shardsDone, shards: c.shards),
                objective: state.objective, points: state.points, workers: workers,
                shardsComputed: c.shardsComputed, shardsMoved: c.shardsMoved, bytesSent: c.bytesSent, bytesReceived: c.bytesReceived,
                resultsDropped: c.dropped)
        }
    }

    /// Whether a page that was watching has not yet read the job's end (the server then waits a little before stopping).
    var endUnseen: Bool { state.withLock { $0.read && (!$0.readAfterEnd || ($0.report != nil && !$0.reportFetched)) } }

    /// The `--report` page written at the end, read for a page that asks for it (nil before the
    /// end or without a report); a page that fetched it holds a copy, so the server may stop.
    func reportPage() -> String? {
        guard let folder = state.withLock({ $0.state == "running" ? nil : $0.report }),
              let html = try? String(contentsOfFile: folder + "/index.html", encoding: .utf8)
        else { return nil }
        state.withLock { $0.reportFetched = true }
        return html
    }

    /// `/metrics`: the text exposition format.
    public func metricsText() -> String { metrics.exposition() }
}

/// swift-metrics' counter, named apart from Prometheus's own `Counter`.
typealias CoreMetricsCounter = CoreMetrics.Counter
