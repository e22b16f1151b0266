import Engine
import Foundation

/// What an aggregator sends: up to its coordinator, or down to one of its workers.
package enum AggregatorOutput {
    /// Frames for the coordinator.
    case up([[UInt8]])
    /// Frames for the worker whose socket identity is `identity`.
    case down(identity: [UInt8], [[UInt8]])
}

/// Why an aggregator stopped other than by being told to.
public struct AggregatorExit: Error, CustomStringConvertible, Sendable {
    /// What happened, as one line.
    public var description: String
}

/// An aggregator's logic, without sockets: messages in, messages out, on a clock.
///
/// Workers behind an aggregator speak the ordinary worker protocol to it. It relays what they
/// say to the coordinator (``MessageKind/relay``), except heartbeats, which it sums up in one
/// ``GroupState`` per period, and results: it checks each block result as the coordinator would,
/// keeps it, and once every shard of a maximal aligned block of the shards its workers were given
/// (split as a worker splits results that would not fit a message) has arrived, it adds them by
/// the shard tree and sends one ``GroupResult``. The coordinator adds those blocks by the same tree,
/// so the sum is the same bits as in a flat cluster or one process.
///
/// Ownership and failures stay with the coordinator: a worker that goes silent, lies or fails is
/// reported (``GroupLost``, or its failure relayed), and its results not yet sent are dropped,
/// so every shard of it is given out again by the coordinator.
package final class AggregatorCore {
    private let hello: Hello
    private let jobs: JobRegistry
    private let clock: RuntimeClock
    /// The coordinator's welcome: nil until admitted.
    private(set) var welcome: AggregatorWelcome?
    /// Set when told to shut down.
    package private(set) var stopped: String?
    /// Whether the last job ended cleanly (then a coordinator that goes away is no error).
    package private(set) var lastJobEnded = false
    /// When the coordinator was last heard.
    package private(set) var lastHeardUp: Double
    /// Messages from workers dropped because they failed a check.
    package private(set) var dropped = 0

    private var lastHello = -Double.infinity
    private var lastBeat = -Double.infinity

    private final class Link {
        let identity: [UInt8]
        let route: Route
        var lastSeen: Double
        var welcomed = false
        init(identity: [UInt8], route: Route, now: Double) { self.identity = identity; self.route = route; lastSeen = now }
    }
    private var links: [Route: Link] = [:]
    private var routeOf: [[UInt8]: Route] = [:]
    private var nextRoute: Route = 1
    /// Hellos that came before the coordinator admitted this aggregator.
    private var waitingHellos: [(identity: [UInt8], frames: [[UInt8]])] = []
    /// Identities told to rejoin that have not said hello since.
    private var toldToRejoin = Set<[UInt8]>()

    /// The job the coordinator runs (read from the job message it relays) and its id.
    private var spec: JobSpec?
    private var specJob: UInt64 = 0

    /// The round being folded.
    private var roundJob: UInt64 = 0
    private var round: UInt64 = 0
    private var fold: PreparedFold?
    private var assignment: [Int: Route] = [:]
    private var sent = Set<Int>()
    private struct Held {
        var route: Route
        var part: FoldPart
        var seconds: Double
        var rows: Int
        var bytesRead: Int
    }
    private var held: [Range<Int>: Held] = [:]
    private var targets: [Range<Int>] = []

    /// An aggregator that introduces itself as `hello` and folds the results of `jobs`.
    package init(hello: Hello, jobs: JobRegistry, clock: RuntimeClock) {
        self.hello = hello
        self.jobs = jobs
        self.clock = clock
        lastHeardUp = clock.now()
    }

    /// Workers connected, for tests and logs.
    package var workerCount: Int { links.count }

    // MARK: From the coordinator

    /// Handles a message from the coordinator.
    ///
    /// - Throws: ``AggregatorExit`` when refused or spoken to in another protocol version.
    package func fromCoordinator(_ frames: [[UInt8]]) throws -> [AggregatorOutput] {
        guard let first = frames.first else { return [] }
        let envelope: Envelope
        switch Envelope.decode(first) {
        case let .success(decoded):
            envelope = decoded
        case let .failure(.version(theirs)):
            throw AggregatorExit(description: "the coordinator speaks protocol version \(theirs); this aggregator speaks \(WireProtocol.version)")
        case .failure:
            return []
        }
        lastHeardUp = clock.now()
        let body = frames.count > 1 ? frames[1] : []
        do {
            switch envelope.kind {
            case .aggregatorWelcome:
                welcome = try AggregatorWelcome(body: body)
                let waiting = waitingHellos
                waitingHellos.removeAll()
                return waiting.flatMap { fromWorker(identity: $0.identity, $0.frames) }
            case .refuse:
                throw AggregatorExit(description: "the coordinator refused this aggregator: \((try? TextBody.decode(body, "refusal")) ?? "no reason given")")
            case .rejoin:
                // The coordinator does not know this aggregator (declared it dead, or restarted): every
                // worker behind it starts afresh too.
                var out = links.values.map { AggregatorOutput.down(identity: $0.identity, [Envelope(.rejoin).encoded]) }
                links.removeAll()
                routeOf.removeAll()
                resetRound()
                welcome = nil
                out.append(.up(message(.aggregatorHello, body: hello.body)))
                lastHello = clock.now()
                return out
            case .shutdown:
                stopped = "told to shut down by the coordinator"
                return []
            case .relay:
                return try relayDown(frames)
            case .groupTask:
                return try start(envelope: envelope, body: body)
            default:
                return []
            }
        } catch let error as WireError {
            dropped += 1
            _ = error
            return []
        }
    }

    private func relayDown(_ frames: [[UInt8]]) throws -> [AggregatorOutput] {
        guard frames.count >= 3, let route = RouteFrame.decode(frames[1]), let link = links[route],
              case let .success(inner) = Envelope.decode(frames[2]) else { return [] }
        let body = frames.count > 3 ? frames[3] : []
        switch inner.kind {
        case .welcome:
            link.welcomed = true
        case .job:
            spec = try JobSpec(body: body)
            specJob = inner.job
            lastJobEnded = false
        case .jobEnd:
            if inner.job == specJob { lastJobEnded = true }
        case .rejoin:
            link.welcomed = false
            discard(route)
        case .refuse, .shutdown:
            discard(route)
            forget(link)
        default:
            break
        }
        return [.down(identity: link.identity, Array(frames[2...]))]
    }

    /// A round's task (or more shards of it): each worker gets its order; the shards become this
    /// round's to fold.
    private func start(envelope: Envelope, body: [UInt8]) throws -> [AggregatorOutput] {
        guard let spec, envelope.job == specJob else { return [] }
        let group = try GroupTask(body: body, shardCount: spec.shards)
        var out = [AggregatorOutput]()
        if envelope.round != round || envelope.job != roundJob {
            resetRound()
            roundJob = envelope.job
            round = envelope.round
            let context = ShardContext(plan: spec.plan, dimension: spec.columns)
            fold = try jobs[group.job]?.prepareFold(group.task, context: context)
        }
        guard fold != nil else {
            // Workers behind it would compute, but nothing could be added: each one fails the task.
            let message = "its aggregator does not serve \(group.job) jobs (it serves: \(jobs.identifiers.joined(separator: ", ")))"
            return group.entries.map { entry in
                relayUp(entry.route, [Envelope(.failure, job: envelope.job, round: envelope.round).encoded,
                                      WorkerFailure(fatal: false, message: message).body])
            }
        }
        for entry in group.entries {
            guard let link = links[entry.route] else {
                out.append(.up(message(.groupLost, body: GroupLost(route: entry.route, reason: "no longer connected to its aggregator").body)))
                continue
            }
            for shard in entry.shards {
                assignment[shard] = entry.route
                sent.remove(shard)
                for block in held.keys where block.contains(shard) { held[block] = nil }
            }
            let order = TaskOrder(job: group.job, task: group.task, shards: entry.shards, release: entry.release)
            out.append(.down(identity: link.identity, [Envelope(.task, job: envelope.job, round: envelope.round).encoded] + order.frames))
        }
        retarget()
        return out + flush()
    }

    // MARK: From workers

    /// Handles a message from the worker whose socket identity is `identity`.
    package func fromWorker(identity: [UInt8], _ frames: [[UInt8]]) -> [AggregatorOutput] {
        guard let first = frames.first else { return [] }
        let envelope: Envelope
        switch Envelope.decode(first) {
        case let .success(decoded):
            envelope = decoded
        case let .failure(.version(theirs)):
            let reason = "this worker speaks emfleet protocol version \(theirs) but the aggregator speaks \(WireProtocol.version); run the same emfleet version on both"
            return [.down(identity: identity, [Envelope(.refuse).encoded, TextBody.encode(reason)])]
        case .failure:
            dropped += 1
            return []
        }
        let body = frames.count > 1 ? frames[1] : []
        let now = clock.now()
        if envelope.kind == .hello {
            guard welcome != nil else {
                // Not admitted yet: relayed once the coordinator has welcomed this aggregator.
                waitingHellos.removeAll { $0.identity == identity }
                waitingHellos.append((identity, frames))
                return []
            }
            toldToRejoin.remove(identity)
            let link: Link
            if let route = routeOf[identity], let known = links[route] {
                // A worker that says hello again has dropped its job, or repeats a hello whose
                // welcome is on its way: the coordinator tells which.
                link = known
                discard(route)
            } else {
                link = Link(identity: identity, route: nextRoute, now: now)
                nextRoute += 1
                links[link.route] = link
                routeOf[identity] = link.route
            }
            link.lastSeen = now
            return [relayUp(link.route, frames)]
        }
        guard let route = routeOf[identity], let link = links[route] else {
            // A worker of an earlier coordinator or incarnation of this aggregator: tell it once.
            if !toldToRejoin.contains(identity) {
                toldToRejoin.insert(identity)
                return [.down(identity: identity, [Envelope(.rejoin).encoded])]
            }
            return []
        }
        link.lastSeen = now
        switch envelope.kind {
        case .heartbeat:
            return []
        case .result:
            return take(result: frames.dropFirst(), envelope: envelope, from: link)
        case .failure:
            if envelope.job == roundJob { discard(route) }
            return [relayUp(route, frames)] + flush()
        case .ready, .rowsRequest:
            return [relayUp(route, frames)]
        default:
            dropped += 1
            return []
        }
    }

    private func take(result frames: ArraySlice<[UInt8]>, envelope: Envelope, from link: Link) -> [AggregatorOutput] {
        guard let spec, let fold, envelope.job == roundJob, envelope.round == round else { return [] }  // stale
        let result: ShardResult
        do {
            result = try ShardResult(frames: frames, shardCount: spec.shards)
        } catch {
            return lost(link, reason: "sent a malformed result: \(error)")
        }
        let shards = result.shards.clamped(to: 0..<spec.shards)
        // Only blocks whose every shard is still this worker's to do; anything else is stale.
        guard shards.allSatisfy({ assignment[$0] == link.route && !sent.contains($0) }),
              !held.keys.contains(where: { $0.overlaps(result.shards) }) else { return [] }
        do {
            let part = try fold.decode(result.shards, result.outcome)
            held[result.shards] = Held(route: link.route, part: part, seconds: result.computeSeconds, rows: result.rows, bytesRead: result.bytesRead)
        } catch {
            return lost(link, reason: "sent a bad result for shards \(shards.lowerBound)..<\(shards.upperBound): \(error)")
        }
        return flush()
    }

    /// Gives up on a worker: the coordinator is told (its shards move), the worker is told to say
    /// hello again, and what it sent this round is dropped.
    private func lost(_ link: Link, reason: String) -> [AggregatorOutput] {
        dropped += 1
        discard(link.route)
        forget(link)
        toldToRejoin.insert(link.identity)
        return [.up(message(.groupLost, body: GroupLost(route: link.route, reason: reason).body)),
                .down(identity: link.identity, [Envelope(.rejoin).encoded])] + flush()
    }

    // MARK: Time

    /// What is due now: a hello while not admitted, the period's state and heartbeats, and the
    /// report of workers silent for the coordinator's worker timeout.
    package func tick() -> [AggregatorOutput] {
        let now = clock.now()
        guard let welcome else {
            if now - lastHello > 2 {
                lastHello = now
                return [.up(message(.aggregatorHello, body: hello.body))]
            }
            return []
        }
        var out = [AggregatorOutput]()
        let timeout = Double(welcome.workerTimeoutMilliseconds) / 1000
        for link in links.values.sorted(by: { $0.route < $1.route }) where now - link.lastSeen > timeout {
            discard(link.route)
            forget(link)
            out.append(.up(message(.groupLost, body: GroupLost(
                route: link.route, reason: "silent for more than \(timeout) s at its aggregator (--worker-timeout)").body)))
        }
        if !out.isEmpty { out += flush() }
        if now - lastBeat >= Double(welcome.heartbeatMilliseconds) / 1000 {
            lastBeat = now
            let alive = links.values.filter(\.welcomed).map(\.route).sorted()
            out.append(.up(message(.groupState, body: GroupState(routes: alive).body)))
            for link in links.values { out.append(.down(identity: link.identity, [Envelope(.heartbeat).encoded])) }
        }
        return out
    }

    /// When the next ``tick()`` has something to do.
    package var nextTick: Double {
        guard let welcome else { return lastHello + 2 }
        let timeout = Double(welcome.workerTimeoutMilliseconds) / 1000
        // Just past the timeout: `tick` reports a worker silent for more than it.
        let silent = links.values.map { ($0.lastSeen + timeout).nextUp }.min() ?? .infinity
        return min(lastBeat + Double(welcome.heartbeatMilliseconds) / 1000, silent)
    }

    /// The first message: who this aggregator is.
    package func start() -> [AggregatorOutput] {
        lastHello = clock.now()
        return [.up(message(.aggregatorHello, body: hello.body))]
    }

    // MARK: Folding

    private func resetRound() {
        fold = nil
        assignment.removeAll()
        sent.removeAll()
        held.removeAll()
        targets.removeAll()
    }

    /// Drops a worker's part of the round: its shards not yet sent, and what it sent of them.
    private func discard(_ route: Route) {
        let before = assignment.count
        assignment = assignment.filter { $0.value != route || sent.contains($0.key) }
        held = held.filter { $0.value.route != route }
        if assignment.count != before { retarget() }
    }

    private func forget(_ link: Link) {
        links[link.route] = nil
        routeOf[link.identity] = nil
    }

    /// The blocks to send: the maximal aligned blocks of the shards given out and not yet sent,
    /// split as a worker splits a result that would not fit the coordinator's message limit.
    private func retarget() {
        guard let spec, let fold, let welcome else {
            targets = []
            return
        }
        let open = Set(assignment.keys).subtracting(sent)
        let limit = welcome.messageLimit - WireProtocol.resultOverhead
        targets = ShardTree.blocks(covering: open, shards: spec.shards).flatMap { block in
            ShardTree.split(block, shards: spec.shards) { fold.resultBytes($0) > limit }
        }
    }

    /// Sends every block whose shards have all arrived, added by the shard tree.
    private func flush() -> [AggregatorOutput] {
        guard let spec, let fold, !held.isEmpty else { return [] }
        var out = [AggregatorOutput]()
        for target in targets {
            let real = target.clamped(to: 0..<spec.shards)
            let parts = held.filter { target.contains($0.key.lowerBound) }
            guard parts.reduce(0, { $0 + $1.key.clamped(to: 0..<spec.shards).count }) == real.count else { continue }
            let outcome: [UInt8]
            do {
                outcome = try fold.combine(parts.map { ($0.key, $0.value.part) }, target)
            } catch {
                continue  // cannot happen for parts that each passed the job's checks
            }
            var contributions = [Route: GroupResult.Contribution]()
            for part in parts.values {
                contributions[part.route, default: GroupResult.Contribution(route: part.route, computeSeconds: 0, rows: 0, bytesRead: 0)]
                    .computeSeconds += part.seconds
                contributions[part.route]!.rows += part.rows
                contributions[part.route]!.bytesRead += part.bytesRead
            }
            let result = GroupResult(shards: target, outcome: outcome, contributions: contributions.values.sorted { $0.route < $1.route })
            out.append(.up([Envelope(.groupResult, job: roundJob, round: round).encoded, result.body]))
            for block in parts.keys { held[block] = nil }
            sent.formUnion(real)
        }
        return out
    }

    // MARK: Frames

    private func message(_ kind: MessageKind, body: [UInt8]?) -> [[UInt8]] {
        var frames = [Envelope(kind, job: specJob).encoded]
        if let body { frames.append(body) }
        return frames
    }

    private func relayUp(_ route: Route, _ frames: [[UInt8]]) -> AggregatorOutput {
        .up([Envelope(.relay).encoded, RouteFrame.encode(route)] + frames)
    }
}
