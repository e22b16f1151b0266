import CoreMetrics
import Prometheus

/// The job's metrics, recorded through swift-metrics into a registry of swift-prometheus's.
///
/// Names follow Prometheus's conventions: the `emfleet_` prefix, base units (seconds, bytes),
/// `_total` on counters, and labels only of few values (a worker state, a drop reason, a host).
/// The registry is this server's own rather than the process-wide `MetricsSystem`, so that
/// several servers (tests) live in one process and nothing else's metrics leak in.
final class StatusMetrics: Sendable {
    /// The registry `/metrics` prints.
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    let rounds: CoreMetrics.Counter
    let roundDuration: CoreMetrics.Timer
    let coordinatorRound: CoreMetrics.Timer
    let shardsComputed: CoreMetrics.Counter
    let shardsMoved: CoreMetrics.Counter
    let bytesSent: CoreMetrics.Counter
    let bytesReceived: CoreMetrics.Counter
    let iteration: CoreMetrics.Gauge
    let shards: CoreMetrics.Gauge

    /// The `# HELP` line of each family: swift-metrics has no place for one, and `promtool check
    /// metrics` wants it, so `/metrics` adds them before the `# TYPE` lines.
    static let help: [String: String] = [
        "emfleet_rounds_total": "Rounds started (one task over every shard).",
        "emfleet_round_duration_seconds": "Wall time of each round, from sending the task to the last shard's result.",
        "emfleet_round_coordinator_seconds": "The coordinator's own time in each round (the round less its waits for workers).",
        "emfleet_workers": "Workers known to the coordinator, by state.",
        "emfleet_shards_computed_total": "Shard results accepted by the coordinator.",
        "emfleet_shards_moved_total": "Shards given to another worker (rebalancing or a lost worker).",
        "emfleet_results_dropped_total": "Messages dropped because they failed a check, by reason.",
        "emfleet_bytes_sent_total": "Bytes the coordinator sent to workers (all frames).",
        "emfleet_bytes_received_total": "Bytes the coordinator received from workers (all frames).",
        "emfleet_iteration": "The current EM or k-means iteration, or training epoch.",
        "emfleet_shards": "Shards the job's rows are cut into.",
        "emfleet_log_likelihood": "Mean log-likelihood (or lower bound) per row after the last EM iteration.",
        "emfleet_inertia": "k-means inertia after the last iteration.",
        "emfleet_loss": "Training loss after the last epoch.",
        "emfleet_worker_compute_seconds_total": "Seconds workers reported computing, by host.",
        "emfleet_worker_rows_total": "Rows workers reported computing (once per round), by host.",
    ]

    /// The objective gauges' names, by the name a job reports its objective under.
    static let objectives = ["log_likelihood", "inertia", "loss"]

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Rounds take from milliseconds (training steps) to minutes (EM on many rows).
        let buckets: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100), .milliseconds(250),
                                   .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
                                   .seconds(60), .seconds(300)]
        factory.defaultDurationHistogramBuckets = buckets
        self.factory = factory
        rounds = Counter(label: "emfleet_rounds_total", factory: factory)
        roundDuration = Timer(label: "emfleet_round_duration_seconds", factory: factory)
        coordinatorRound = Timer(label: "emfleet_round_coordinator_seconds", factory: factory)
        shardsComputed = Counter(label: "emfleet_shards_computed_total", factory: factory)
        shardsMoved = Counter(label: "emfleet_shards_moved_total", factory: factory)
        bytesSent = Counter(label: "emfleet_bytes_sent_total", factory: factory)
        bytesReceived = Counter(label: "emfleet_bytes_received_total", factory: factory)
        iteration = Gauge(label: "emfleet_iteration", factory: factory)
        shards = Gauge(label: "emfleet_shards", factory: factory)
        for state in ["joining", "ready", "excluded", "lost"] { workers(state).record(0) }
        for reason in ["bad_result", "malformed", "handshake", "protocol_version", "unknown_worker"] { dropped(reason).increment(by: 0) }
    }

    /// Workers in `state`.
    func workers(_ state: String) -> CoreMetrics.Gauge { Gauge(label: "emfleet_workers", dimensions: [("state", state)], factory: factory) }
    /// Messages dropped for `reason`.
    func dropped(_ reason: String) -> CoreMetrics.Counter {
        Counter(label: "emfleet_results_dropped_total", dimensions: [("reason", reason)], factory: factory)
    }
    /// The gauge of the objective `name` (one of ``objectives``).
    func objective(_ name: String) -> CoreMetrics.Gauge { Gauge(label: "emfleet_\(name)", factory: factory) }
    /// Compute seconds reported by workers on `host`.
    func computeSeconds(host: String) -> CoreMetrics.FloatingPointCounter {
        FloatingPointCounter(label: "emfleet_worker_compute_seconds_total", dimensions: [("host", host)], factory: factory)
    }
    /// Rows reported by workers on `host`.
    func rows(host: String) -> CoreMetrics.Counter {
        Counter(label: "emfleet_worker_rows_total", dimensions: [("host", host)], factory: factory)
    }

    /// The text exposition format, with a `# HELP` line before each family's `# TYPE` line.
    func exposition() -> String {
        let text = registry.emitToString()
        var out = ""
        out.reserveCapacity(text.utf8.count + 2048)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE ") {
                let name = line.dropFirst("# TYPE ".count).prefix { $0 != " " }
                if let help = Self.help[String(name)] { out += "# HELP \(name) \(help)\n" }
            }
            if line.hasPrefix("# HELP ") { continue }  // ours replace any the registry wrote
            out += line
            out += "\n"
        }
        while out.hasSuffix("\n\n") { out.removeLast() }
        return out
    }
}
