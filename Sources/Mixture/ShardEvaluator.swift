import Datasets
import Foundation
import Numerics

/// Per-shard state kept between tasks of one job (k-means++'s closest distances).
// @unchecked: a shard's scratch is used by one thread at a time (the one running that shard).
public final class ShardScratch: @unchecked Sendable {
    var closestDistances: [Double] = []
    /// The centres `closestDistances` covers, in the order they were committed.
    var committedCenters: [[Double]] = []
    /// The shard's potential after the last commit.
    var potential = 0.0
    /// Stepwise EM: this pass's order of the shard's rows, and the (seed, pass) it belongs to.
    var minibatchOrder: [Int] = []
    var minibatchOrderKey: (seed: UInt64, pass: Int)? = nil
    /// Stepwise EM on a shard read from its file: the rows of this pass's steps
    /// `stagedSteps` read ahead together (one matrix per step), for the (seed, pass) of the order.
    var stagedRows: [FeatureMatrix] = []
    var stagedSteps: Range<Int> = 0..<0
    /// The stage after `stagedSteps`, being read on another thread while this one is computed.
    var nextStage: PendingStage?
    /// Creates empty scratch state.
    public init() {}
}

/// A stage of minibatch rows read on another thread (``FileBackedRows/stage(_:)``) for the
/// steps `steps` of pass `pass` of seed `seed`.
final class PendingStage: @unchecked Sendable {
    // @unchecked: `rows` is written once on the reading thread before `done` is signalled, and
    // read only after waiting on it.
    let seed: UInt64, pass: Int, steps: Range<Int>
    private let done = DispatchSemaphore(value: 0)
    private var rows: [FeatureMatrix] = []

    /// Starts `read` on another thread.
    init(seed: UInt64, pass: Int, steps: Range<Int>, read: @escaping @Sendable () -> [FeatureMatrix]) {
        self.seed = seed; self.pass = pass; self.steps = steps
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            rows = read()
            done.signal()
        }
    }

    /// The rows, once read.
    func wait() -> [FeatureMatrix] {
        done.wait()
        return rows
    }
}

/// The rows of one shard: positions `range` of `data`, whose first row is global row `firstGlobalRow`.
public struct ShardView {
    /// The matrix holding the shard's rows (the whole dataset in-process, the shard's own rows on a worker).
    public var data: FeatureMatrix
    /// The positions in `data` that make up the shard.
    public var range: Range<Int>
    /// The global index of `data`'s row `range.lowerBound`.
    public var firstGlobalRow: Int
    /// The rows' sample weights (`weights[i]` for position `range.lowerBound + i`), or nil when
    /// every row counts once: then every task gives the bits it gives without weights.
    public var weights: [Double]?

    /// Creates a view of a shard.
    public init(data: FeatureMatrix, range: Range<Int>, firstGlobalRow: Int, weights: [Double]? = nil) {
        precondition(weights.map { $0.count == range.count } ?? true, "one weight per row")
        self.data = data
        self.range = range
        self.firstGlobalRow = firstGlobalRow
        self.weights = weights
    }

    func globalIndex(ofLocal position: Int) -> Int { firstGlobalRow + position - range.lowerBound }

    /// Calls `body` with a pointer to the weights (nil without weights), indexed like `range`
    /// from its start.
    func withWeights<R>(_ body: (UnsafePointer<Double>?) throws -> R) rethrows -> R {
        guard let weights else { return try body(nil) }
        return try weights.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// The weights of `chunk` (positions in `range`) from the pointer `withWeights` gave.
    func weights(_ base: UnsafePointer<Double>?, of chunk: Range<Int>) -> UnsafePointer<Double>? {
        base.map { $0 + (chunk.lowerBound - range.lowerBound) }
    }
}

/// Evaluates `ShardTask`s on one shard's rows: the arithmetic of every mixture job.
public enum ShardEvaluator {
    /// Runs `task` on `shard`, updating `scratch` where the task keeps state.
    public static func evaluate(_ task: ShardTask, on shard: ShardView, scratch: ShardScratch) -> ShardOutcome {
        switch task {
        case let .columnMoments(shift):
            return columnMoments(shard, shift: shift)
        case let .gatherRows(indices):
            return .rows(gather(shard, indices: indices))
        case let .seedingCommit(centers):
            if centers.isEmpty { return .shardPotentials([weightSum(shard)]) }
            return .shardPotentials([commitCenters(shard, centers, scratch: scratch)])
        case let .seedingLocate(centers, targets):
            if centers.isEmpty { return .located(locateByWeight(shard, targets: targets[shardKey(shard)] ?? [])) }
            _ = commitCenters(shard, centers, scratch: scratch)
            return .located(seedingLocate(shard, targets: targets[shardKey(shard)] ?? [], scratch: scratch))
        case let .seedingCandidatePotentials(centers, candidates):
            _ = commitCenters(shard, centers, scratch: scratch)
            return .potentials(candidates.map { candidatePotential(shard, candidate: $0, scratch: scratch) })
        case let .lloyd(centers, clusters, anchor):
            return lloyd(shard, centers: centers, clusters: clusters, anchor: anchor)
        case let .hardAssignmentStatistics(centers, clusters, anchor, type):
            return .statistics(hardStatistics(shard, centers: centers, clusters: clusters, anchor: anchor, type: type))
        case let .randomStatistics(seed, components, anchor, type):
            return .statistics(randomStatistics(shard, seed: seed, components: components, anchor: anchor, type: type))
        case let .expectation(model):
            return .statistics(expectation(shard, model: model))
        case let .score(model, output):
            return score(shard, model: model, output: output)
        case let .minibatchExpectation(model, batch):
            return .statistics(minibatchExpectation(shard, model: model, batch: batch, scratch: scratch))
        }
    }

    /// The key a shard's targets are filed under in `seedingLocate`: its first global row.
    static func shardKey(_ shard: ShardView) -> Int { shard.firstGlobalRow }

    // MARK: - Data summaries

    static func columnMoments(_ shard: ShardView, shift: [Double]) -> ShardOutcome {
        let d = shard.data.columns
        let workspace = ChunkWorkspace(dimension: d, components: 1, covarianceType: .diag)
        var sums = [Double](repeating: 0, count: d), squares = sums
        var weightTotal = 0.0
        shard.withWeights { weights in
            for chunk in workspace.chunks(of: shard.range) {
                shard.data.copyRows(chunk, subtracting: shift, into: workspace.shifted)
                if let w = shard.weights(weights, of: chunk) {
                    for r in 0..<chunk.count {
                        let x = workspace.shifted + r * d
                        weightTotal += w[r]
                        for j in 0..<d {
                            sums[j] += w[r] * x[j]
                            squares[j] += w[r] * x[j] * x[j]
                        }
                    }
                } else {
                    for r in 0..<chunk.count {
                        let x = workspace.shifted + r * d
                        for j in 0..<d {
                            sums[j] += x[j]
                            squares[j] += x[j] * x[j]
                        }
                    }
                }
            }
        }
        return .columnMoments(count: shard.range.count, weight: shard.weights == nil ? nil : weightTotal, sums: sums, squares: squares)
    }

    /// Σ of the shard's weights (its row count without weights): every row's potential before
    /// any centre is chosen, so that the first k-means++ centre is drawn in proportion to weight.
    static func weightSum(_ shard: ShardView) -> Double {
        shard.weights.map { $0.reduce(0, +) } ?? Double(shard.range.count)
    }

    /// For each target, the first row whose running sum of weights reaches it (a row of positive weight).
    static func locateByWeight(_ shard: ShardView, targets: [Double]) -> [(index: Int, values: [Double])] {
        guard shard.range.count > 0 else { return [] }
        let weights = shard.weights ?? [Double](repeating: 1, count: shard.range.count)
        let lastPositive = weights.lastIndex(where: { $0 > 0 }) ?? weights.count - 1
        return targets.map { target in
            var running = 0.0
            var chosen = lastPositive
            for (r, w) in weights.enumerated() where w > 0 {
                running += w
                if running >= target { chosen = r; break }
            }
            let position = shard.range.lowerBound + chosen
            return (shard.globalIndex(ofLocal: position), shard.data.rows(position..<(position + 1)).doubles())
        }
    }

    static func gather(_ shard: ShardView, indices: [Int]) -> [(index: Int, values: [Double])] {
        let first = shard.firstGlobalRow, last = first + shard.range.count
        return indices.filter { $0 >= first && $0 < last }.map { index in
            let position = shard.range.lowerBound + index - first
            return (index, shard.data.rows(position..<(position + 1)).doubles())
        }
    }

    // MARK: - k-means++ seeding

    static func squaredDistances(_ shard: ShardView, to center: [Double], _ body: (Int, Double) -> Void) {
        let d = shard.data.columns
        let workspace = ChunkWorkspace(dimension: d, components: 1, covarianceType: .diag)
        var offset = 0
        for chunk in workspace.chunks(of: shard.range) {
            // Shifting by the centre itself makes each distance a plain sum of squares.
            shard.data.copyRows(chunk, subtracting: center, into: workspace.shifted)
            for r in 0..<chunk.count {
                let x = workspace.shifted + r * d
                var distance = 0.0
                for j in 0..<d { distance += x[j] * x[j] }
                body(offset + r, distance)
            }
            offset += chunk.count
        }
    }

    /// Brings the closest distances up to date with `centers`, committing only the centres
    /// not yet seen (all of them when the scratch holds another sequence); returns the potential.
    /// Committing one centre at a time or all at once gives the same bits: each step is a min.
    static func commitCenters(_ shard: ShardView, _ centers: [[Double]], scratch: ShardScratch) -> Double {
        let known = scratch.committedCenters
        let isPrefix = known.count <= centers.count && zip(known, centers).allSatisfy { $0 == $1 }
        if !isPrefix || scratch.closestDistances.count != shard.range.count {
            scratch.closestDistances = [Double](repeating: .infinity, count: shard.range.count)
            scratch.committedCenters = []
        }
        for center in centers.dropFirst(scratch.committedCenters.count) {
            scratch.potential = seedingCommit(shard, center: center, scratch: scratch)
            scratch.committedCenters.append(center)
        }
        return scratch.potential
    }

    /// Commits one centre; returns the shard's potential Σ w·D² (Σ D² without weights).
    static func seedingCommit(_ shard: ShardView, center: [Double], scratch: ShardScratch) -> Double {
        var potential = 0.0
        scratch.closestDistances.withUnsafeMutableBufferPointer { closest in
            if let weights = shard.weights {
                squaredDistances(shard, to: center) { r, distance in
                    if distance < closest[r] { closest[r] = distance }
                    potential += weights[r] * closest[r]
                }
            } else {
                squaredDistances(shard, to: center) { r, distance in
                    if distance < closest[r] { closest[r] = distance }
                    potential += closest[r]
                }
            }
        }
        return potential
    }

    static func seedingLocate(_ shard: ShardView, targets: [Double], scratch: ShardScratch) -> [(index: Int, values: [Double])] {
        guard !targets.isEmpty, !scratch.closestDistances.isEmpty else { return [] }
        var located = [(index: Int, values: [Double])]()
        for target in targets {
            var running = 0.0
            var chosen = scratch.closestDistances.count - 1
            if let weights = shard.weights {
                // Candidates are drawn in proportion to w·D²: a row of zero weight is never one.
                let closest = scratch.closestDistances
                chosen = closest.indices.last(where: { weights[$0] * closest[$0] > 0 }) ?? chosen
                for (r, distance) in scratch.closestDistances.enumerated() where weights[r] * distance > 0 {
                    running += weights[r] * distance
                    if running >= target { chosen = r; break }
                }
            } else {
                for (r, distance) in scratch.closestDistances.enumerated() {
                    running += distance
                    if running >= target { chosen = r; break }
                }
            }
            let position = shard.range.lowerBound + chosen
            located.append((shard.globalIndex(ofLocal: position), shard.data.rows(position..<(position + 1)).doubles()))
        }
        return located
    }

    static func candidatePotential(_ shard: ShardView, candidate: [Double], scratch: ShardScratch) -> Double {
        var potential = 0.0
        scratch.closestDistances.withUnsafeBufferPointer { closest in
            if let weights = shard.weights {
                squaredDistances(shard, to: candidate) { r, distance in potential += weights[r] * min(closest[r], distance) }
            } else {
                squaredDistances(shard, to: candidate) { r, distance in potential += min(closest[r], distance) }
            }
        }
        return potential
    }

    // MARK: - Lloyd iterations and hard assignments

    /// Nearest centre of each loaded row (squared distances via one matrix product).
    static func assignNearest(
        _ workspace: ChunkWorkspace, rowCount n: Int, centers: [Double], centerNorms: [Double],
        labels: UnsafeMutablePointer<Int>, distances: UnsafeMutablePointer<Double>
    ) {
        let k = workspace.components, d = workspace.dimension
        centers.withUnsafeBufferPointer { c in
            BLAS.gemm(
                transposeA: false, transposeB: true, m: n, n: k, k: d, alpha: -2,
                a: workspace.shifted, lda: d, b: c.baseAddress!, ldb: d, beta: 0, c: workspace.scores, ldc: k)
        }
        for r in 0..<n {
            let x = workspace.shifted + r * d
            var norm = 0.0
            for j in 0..<d { norm += x[j] * x[j] }
            let row = workspace.scores + r * k
            var best = 0
            var bestDistance = Double.infinity
            for c in 0..<k {
                let distance = row[c] + centerNorms[c]
                if distance < bestDistance { bestDistance = distance; best = c }
            }
            labels[r] = best
            distances[r] = max(0, bestDistance + norm)
        }
    }

    static func norms(_ centers: [Double], clusters k: Int, dimension d: Int) -> [Double] {
        (0..<k).map { c in (0..<d).reduce(0.0) { $0 + centers[c * d + $1] * centers[c * d + $1] } }
    }

    static func lloyd(_ shard: ShardView, centers: [Double], clusters k: Int, anchor: [Double]) -> ShardOutcome {
        let d = shard.data.columns
        let workspace = ChunkWorkspace(dimension: d, components: k, covarianceType: .diag)
        let centerNorms = norms(centers, clusters: k, dimension: d)
        var sums = [Double](repeating: 0, count: k * d), counts = [Double](repeating: 0, count: k)
        var inertia = 0.0
        let labels = UnsafeMutablePointer<Int>.allocate(capacity: workspace.chunkRows)
        let distances = UnsafeMutablePointer<Double>.allocate(capacity: workspace.chunkRows)
        defer { labels.deallocate(); distances.deallocate() }
        shard.withWeights { weights in
            for chunk in workspace.chunks(of: shard.range) {
                shard.data.copyRows(chunk, subtracting: anchor, into: workspace.shifted)
                assignNearest(workspace, rowCount: chunk.count, centers: centers, centerNorms: centerNorms,
                              labels: labels, distances: distances)
                if let w = shard.weights(weights, of: chunk) {
                    for r in 0..<chunk.count {
                        let c = labels[r]
                        counts[c] += w[r]
                        inertia += w[r] * distances[r]
                        let x = workspace.shifted + r * d
                        for j in 0..<d { sums[c * d + j] += w[r] * x[j] }
                    }
                } else {
                    for r in 0..<chunk.count {
                        let c = labels[r]
                        counts[c] += 1
                        inertia += distances[r]
                        let x = workspace.shifted + r * d
                        for j in 0..<d { sums[c * d + j] += x[j] }
                    }
                }
            }
        }
        return .lloyd(sums: sums, counts: counts, inertia: inertia)
    }

    static func hardStatistics(
        _ shard: ShardView, centers: [Double], clusters k: Int, anchor: [Double], type: CovarianceType
    ) -> MixtureStatistics {
        let d = shard.data.columns
        let workspace = ChunkWorkspace(dimension: d, components: k, covarianceType: type)
        let centerNorms = norms(centers, clusters: k, dimension: d)
        var statistics = MixtureStatistics(covarianceType: type, components: k, dimension: d)
        let labels = UnsafeMutablePointer<Int>.allocate(capacity: workspace.chunkRows)
        let distances = UnsafeMutablePointer<Double>.allocate(capacity: workspace.chunkRows)
        defer { labels.deallocate(); distances.deallocate() }
        shard.withWeights { weights in
            for chunk in workspace.chunks(of: shard.range) {
                workspace.load(shard.data, rows: chunk, anchor: anchor)
                assignNearest(workspace, rowCount: chunk.count, centers: centers, centerNorms: centerNorms,
                              labels: labels, distances: distances)
                workspace.setOneHot(labels, rowCount: chunk.count)
                workspace.accumulate(rowCount: chunk.count, weights: shard.weights(weights, of: chunk), into: &statistics)
            }
        }
        workspace.finish(into: &statistics)
        return statistics
    }

    static func randomStatistics(
        _ shard: ShardView, seed: UInt64, components k: Int, anchor: [Double], type: CovarianceType
    ) -> MixtureStatistics {
        let d = shard.data.columns
        let workspace = ChunkWorkspace(dimension: d, components: k, covarianceType: type)
        var statistics = MixtureStatistics(covarianceType: type, components: k, dimension: d)
        shard.withWeights { weights in
            for chunk in workspace.chunks(of: shard.range) {
                workspace.load(shard.data, rows: chunk, anchor: anchor)
                for r in 0..<chunk.count {
                    let global = UInt64(shard.globalIndex(ofLocal: chunk.lowerBound + r))
                    let row = workspace.responsibilities + r * k
                    var sum = 0.0
                    for c in 0..<k {
                        // A counter-based draw: the value depends on (seed, row, component) only,
                        // never on the shard layout.
                        var generator = SeededGenerator(seed: seed, stream: global &* UInt64(k) &+ UInt64(c))
                        row[c] = generator.nextUniform()
                        sum += row[c]
                    }
                    for c in 0..<k { row[c] /= sum }
                }
                workspace.accumulate(rowCount: chunk.count, weights: shard.weights(weights, of: chunk), into: &statistics)
            }
        }
        workspace.finish(into: &statistics)
        return statistics
    }

    // MARK: - EM and scoring

    /// The E-step's statistics of `shard` under `model`, computed in `form` (by default the one
    /// the shape chooses): the seam the tests use to hold the two forms against each other.
    package static func expectation(_ shard: ShardView, model: PreparedMixture, form: EStepForm? = nil) -> MixtureStatistics {
        let parameters = model.parameters
        let workspace = ChunkWorkspace(
            dimension: parameters.dimension, components: parameters.components, covarianceType: parameters.covarianceType,
            form: form)
        var statistics = MixtureStatistics(
            covarianceType: parameters.covarianceType, components: parameters.components, dimension: parameters.dimension)
        shard.withWeights { weights in
            for chunk in workspace.chunks(of: shard.range) {
                let w = shard.weights(weights, of: chunk)
                workspace.load(shard.data, rows: chunk, anchor: model.anchor)
                workspace.computeScores(model, rowCount: chunk.count)
                statistics.logLikelihoodSum += workspace.normalizeScores(rowCount: chunk.count, weights: w)
                workspace.accumulate(rowCount: chunk.count, weights: w, into: &statistics)
            }
        }
        workspace.finish(into: &statistics)
        return statistics
    }

    /// The E-step over the shard's rows in one minibatch (see ``Minibatch``), in ascending row order.
    static func minibatchExpectation(_ shard: ShardView, model: PreparedMixture, batch: Minibatch, scratch: ShardScratch) -> MixtureStatistics {
        let parameters = model.parameters
        if scratch.minibatchOrderKey.map({ $0.seed != batch.seed || $0.pass != batch.pass }) ?? true
            || scratch.minibatchOrder.count != shard.range.count {
            scratch.minibatchOrder = batch.order(rows: shard.range.count, firstGlobalRow: shard.firstGlobalRow)
            scratch.minibatchOrderKey = (batch.seed, batch.pass)
            scratch.stagedRows = []
            scratch.stagedSteps = 0..<0
            scratch.nextStage = nil
        }
        let positions = batch.positions(in: scratch.minibatchOrder)
        let staged = stagedMinibatch(shard, batch: batch, scratch: scratch)
        let workspace = ChunkWorkspace(
            dimension: parameters.dimension, components: parameters.components, covarianceType: parameters.covarianceType)
        var statistics = MixtureStatistics(
            covarianceType: parameters.covarianceType, components: parameters.components, dimension: parameters.dimension)
        var chunkWeights = [Double](repeating: 0, count: workspace.chunkRows)
        for start in stride(from: 0, to: positions.count, by: workspace.chunkRows) {
            let chunk = positions[start..<min(start + workspace.chunkRows, positions.count)]
            if let staged {
                workspace.load(staged, rows: start..<(start + chunk.count), anchor: model.anchor)
            } else {
                workspace.load(shard.data, positions: chunk.map { shard.range.lowerBound + $0 }, anchor: model.anchor)
            }
            if let weights = shard.weights { for (r, local) in chunk.enumerated() { chunkWeights[r] = weights[local] } }
            chunkWeights.withUnsafeBufferPointer { buffer in
                let w = shard.weights == nil ? nil : buffer.baseAddress
                workspace.computeScores(model, rowCount: chunk.count)
                statistics.logLikelihoodSum += workspace.normalizeScores(rowCount: chunk.count, weights: w)
                workspace.accumulate(rowCount: chunk.count, weights: w, into: &statistics)
            }
        }
        workspace.finish(into: &statistics)
        return statistics
    }

    /// A shard read from its file gives a minibatch's rows from rows staged for several steps
    /// at once (``FileBackedRows/stage(_:)``, as many steps as half the shard's part of the
    /// staging memory holds), or nil (rows in memory, or no room for two steps): read them one by
    /// one. While a stage is computed, the next is read on another thread into the other half, so
    /// the steps do not wait for the file. The matrix holds the step's rows in ascending
    /// position, as the minibatch takes them.
    private static func stagedMinibatch(_ shard: ShardView, batch: Minibatch, scratch: ShardScratch) -> FeatureMatrix? {
        guard let source = shard.data.fileBackedRows else { return nil }
        let expected = batch.rows(ofShardWith: shard.range.count)
        // A step asked again (a task sent twice) after its rows were handed out is staged afresh.
        if !scratch.stagedSteps.contains(batch.step)
            || scratch.stagedRows[batch.step - scratch.stagedSteps.lowerBound].rows != expected {
            scratch.stagedRows = []  // released before the next stage is read
            let stepBytes = max(1, expected * shard.data.columns * 8)
            let steps = min(batch.steps - batch.step, source.stagingBytes / 2 / stepBytes)
            guard steps >= 2 else {
                scratch.stagedSteps = 0..<0
                scratch.nextStage = nil
                return nil
            }
            let order = scratch.minibatchOrder, first = shard.range.lowerBound
            let groups: @Sendable (Range<Int>) -> [[Int]] = { stage in
                stage.map { step in
                    Minibatch(seed: batch.seed, pass: batch.pass, step: step, steps: batch.steps).positions(in: order).map { first + $0 }
                }
            }
            if let next = scratch.nextStage, next.seed == batch.seed, next.pass == batch.pass, next.steps.lowerBound == batch.step {
                scratch.stagedRows = next.wait()
                scratch.stagedSteps = next.steps
            } else {
                let stage = batch.step..<(batch.step + steps)
                scratch.stagedRows = source.stage(groups(stage))
                scratch.stagedSteps = stage
            }
            scratch.nextStage = nil
            let following = scratch.stagedSteps.upperBound..<min(batch.steps, scratch.stagedSteps.upperBound + steps)
            if following.count >= 2 {
                scratch.nextStage = PendingStage(seed: batch.seed, pass: batch.pass, steps: following) { source.stage(groups(following)) }
            }
        }
        let index = batch.step - scratch.stagedSteps.lowerBound
        let staged = scratch.stagedRows[index]
        if expected > 0 { scratch.stagedRows[index] = FeatureMatrix(rows: 0, columns: staged.columns, values: []) }
        if batch.step == scratch.stagedSteps.upperBound - 1 {
            scratch.stagedRows = []
            scratch.stagedSteps = 0..<0
        }
        return staged
    }

    static func score(_ shard: ShardView, model: PreparedMixture, output: RowOutput) -> ShardOutcome {
        let parameters = model.parameters
        let k = parameters.components
        let workspace = ChunkWorkspace(
            dimension: parameters.dimension, components: k, covarianceType: parameters.covarianceType)
        var perRow = [Double]()
        switch output {
        case .none: break
        case .labels, .logLikelihoods: perRow.reserveCapacity(shard.range.count)
        case .probabilities: perRow.reserveCapacity(shard.range.count * k)
        }
        var total = 0.0
        let rowLogLikelihoods = UnsafeMutablePointer<Double>.allocate(capacity: workspace.chunkRows)
        defer { rowLogLikelihoods.deallocate() }
        shard.withWeights { weights in
            for chunk in workspace.chunks(of: shard.range) {
                workspace.load(shard.data, rows: chunk, anchor: model.anchor)
                workspace.computeScores(model, rowCount: chunk.count)
                total += workspace.normalizeScores(
                    rowCount: chunk.count, weights: shard.weights(weights, of: chunk), rowLogLikelihoods: rowLogLikelihoods)
                for r in 0..<chunk.count {
                    switch output {
                    case .none: break
                    case .logLikelihoods: perRow.append(rowLogLikelihoods[r])
                    case .labels:
                        // argmax of the weighted log-densities, as scikit-learn's predict.
                        let row = workspace.scores + r * k
                        var best = 0
                        for c in 1..<max(1, k) where row[c] > row[best] { best = c }
                        perRow.append(Double(best))
                    case .probabilities:
                        perRow.append(contentsOf: UnsafeBufferPointer(start: workspace.responsibilities + r * k, count: k))
                    }
                }
            }
        }
        return .scores(logLikelihoodSum: total, rows: shard.range.count, weight: weightSum(shard), perRow: perRow)
    }
}
