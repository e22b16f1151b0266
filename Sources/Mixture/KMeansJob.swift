import CKernels
import Datasets
import Engine
import Numerics

/// What a k-means assignment returns per row.
public enum KMeansRowOutput: UInt8, Sendable {
    /// Nothing per row: the inertia only.
    case none = 0
    /// The nearest centre's index.
    case labels = 1
    /// The Euclidean distance to every centre (K per row), as scikit-learn's `transform`.
    case distances = 2
}

/// One step of a k-means fit, evaluated on every shard. Centres are K×D, row-major, about
/// `anchor` (the data mean, as scikit-learn centres the data before Lloyd's algorithm).
public enum KMeansTask: Sendable, Equatable {
    /// One Lloyd iteration: each row's nearest of `centers`; per-cluster sums and weights of
    /// its rows, the inertia, and (with `previous`, the centres of the iteration before) how many
    /// rows changed cluster.
    case step(centers: [Double], previous: [Double]?, clusters: Int, anchor: [Double])
    /// The `count` rows farthest from their nearest of `centers` (for relocating empty clusters).
    case farthest(centers: [Double], clusters: Int, anchor: [Double], count: Int)
    /// Each row's nearest of `centers`: the exact inertia and, as asked, per-row output.
    case assign(centers: [Double], clusters: Int, anchor: [Double], output: KMeansRowOutput)
    /// Row count, Σ(x − anchor) and Σ(x − anchor)² per column, every row counted once whatever
    /// its weight (scikit-learn's tolerance is relative to the unweighted variances).
    case moments(anchor: [Double])

    var clusters: Int {
        switch self {
        case let .step(_, _, k, _), let .farthest(_, k, _, _), let .assign(_, k, _, _): k
        case .moments: 1
        }
    }
}

/// A row far from its nearest centre.
public struct DistantRow: Sendable, Equatable {
    /// The squared distance to its nearest centre, computed term by term.
    public var distance: Double
    /// The row's global index.
    public var index: Int
    /// Its nearest centre.
    public var label: Int
    /// The row, about the anchor.
    public var values: [Double]
    /// The row's sample weight (1 without weights).
    public var weight: Double = 1

    /// Orders rows farthest first, ties by row index, so the choice depends on no shard layout.
    static func isFarther(_ a: DistantRow, _ b: DistantRow) -> Bool {
        a.distance != b.distance ? a.distance > b.distance : a.index < b.index
    }
}

/// The answer to a ``KMeansTask`` from one shard, or consecutive shards added by the shard tree.
public enum KMeansResult: Sendable, Equatable {
    /// Per-cluster sums of rows (about the anchor, K×D) and weights, inertia (from the distance
    /// products), rows, and rows whose cluster changed since `previous` (all rows without it).
    case step(sums: [Double], weights: [Double], inertia: Double, rows: Int, changed: Int)
    /// The farthest rows, farthest first, at most the task's `count`.
    case farthest([DistantRow])
    /// Σ w‖x − c_label‖² computed term by term, rows, and the per-row output in row order.
    case assignment(inertia: Double, rows: Int, perRow: [Double])
    /// Rows, Σ(x − anchor) and Σ(x − anchor)² per column, unweighted.
    case moments(rows: Int, sums: [Double], squares: [Double])
}

/// Per-shard state: the labels of the last step and the centres they were computed with, so
/// the next step counts changed labels without a second distance product. A shard that moves
/// to another worker recomputes them from the task's `previous` centres, with the same bits.
public final class KMeansScratch: @unchecked Sendable {
    // @unchecked: used by the one thread that currently computes the shard.
    var centers: [Double] = []
    var labels: [Int32] = []
    /// A label buffer of the right length to reuse.
    var spare: [Int32] = []
    /// Σ‖x − a‖² over the shard's rows for the anchor `spreadAnchor`.
    var spread = 0.0
    var spreadAnchor: [Double] = []
    init() {}
}

/// k-means (Lloyd's algorithm, scikit-learn's `KMeans(algorithm="lloyd")`) as one shard job.
public enum KMeansJob: ShardJob {
    public typealias Task = KMeansTask
    public typealias Result = KMeansResult
    public typealias Scratch = KMeansScratch

    /// The job's name on the wire.
    public static let identifier = "kmeans"

    /// Rows per distance product: large enough for BLAS to run at speed, small enough to stay in cache.
    static let chunkRows = 2048

    /// Fresh per-shard state.
    public static func makeScratch() -> KMeansScratch { KMeansScratch() }

    /// Evaluates a k-means task on one shard.
    public static func evaluate(_ task: KMeansTask, on shard: ShardData, scratch: KMeansScratch) throws -> KMeansResult {
        switch task {
        case let .step(centers, previous, k, anchor):
            return step(shard, centers: centers, previous: previous, clusters: k, anchor: anchor, scratch: scratch)
        case let .farthest(centers, k, anchor, count):
            return farthest(shard, centers: centers, clusters: k, anchor: anchor, count: count)
        case let .assign(centers, k, anchor, output):
            return assign(shard, centers: centers, clusters: k, anchor: anchor, output: output)
        case let .moments(anchor):
            return moments(shard, anchor: anchor)
        }
    }

    /// Adds the result of the next shards: sums add, farthest rows merge, per-row parts concatenate.
    public static func combine(_ left: inout KMeansResult, _ right: KMeansResult) {
        let taken = left
        left = .farthest([])
        switch (consume taken, right) {
        case (.step(var sums, var weights, let inertia, let rows, let changed), let .step(s2, w2, i2, r2, c2)):
            precondition(sums.count == s2.count && weights.count == w2.count, "k-means sums of different shapes")
            for i in sums.indices { sums[i] += s2[i] }
            for i in weights.indices { weights[i] += w2[i] }
            left = .step(sums: sums, weights: weights, inertia: inertia + i2, rows: rows + r2, changed: changed + c2)
        case let (.farthest(a), .farthest(b)):
            // Both lists hold at most `count` rows; the merge keeps that many.
            left = .farthest(Array((a + b).sorted(by: DistantRow.isFarther).prefix(max(a.count, b.count))))
        case (.assignment(let inertia, let rows, var perRow), let .assignment(i2, r2, p2)):
            perRow += p2
            left = .assignment(inertia: inertia + i2, rows: rows + r2, perRow: perRow)
        case (.moments(let rows, var sums, var squares), let .moments(r2, s2, q2)):
            precondition(sums.count == s2.count, "k-means moments of different shapes")
            for j in sums.indices { sums[j] += s2[j]; squares[j] += q2[j] }
            left = .moments(rows: rows + r2, sums: sums, squares: squares)
        default:
            preconditionFailure("results of different k-means tasks cannot be added")
        }
    }

    /// The task's bytes.
    public static func encode(task: KMeansTask) -> [UInt8] {
        var w = WireWriter(capacity: 256)
        switch task {
        case let .step(centers, previous, k, anchor):
            w.u8(0); w.int(k); w.doubles(anchor); w.doubles(centers)
            w.bool(previous != nil)
            if let previous { w.doubles(previous) }
        case let .farthest(centers, k, anchor, count):
            w.u8(1); w.int(k); w.doubles(anchor); w.doubles(centers); w.int(count)
        case let .assign(centers, k, anchor, output):
            w.u8(2); w.int(k); w.doubles(anchor); w.doubles(centers); w.u8(output.rawValue)
        case let .moments(anchor):
            w.u8(3); w.int(1); w.doubles(anchor); w.doubles(anchor)
        }
        return w.bytes
    }

    /// Decodes a task for data of `context`'s width, refusing any other shape or a non-finite centre.
    public static func decodeTask(_ bytes: [UInt8], context: ShardContext) throws -> KMeansTask {
        var r = WireReader(bytes, context: "k-means task")
        let d = context.dimension
        let tag = try r.u8("task kind")
        let k = try r.int("clusters", in: 1...(1 << 20))
        let anchor = try r.doubles("anchor", expected: d)
        let centers = try r.doubles("centres", expected: k * d)
        guard VectorMath.allFinite(anchor), VectorMath.allFinite(centers) else { throw WireError("k-means task: centres hold NaN or infinite numbers") }
        let task: KMeansTask
        switch tag {
        case 0:
            let previous = try r.bool("previous present") ? try r.doubles("previous centres", expected: k * d) : nil
            if let previous, !VectorMath.allFinite(previous) { throw WireError("k-means task: centres hold NaN or infinite numbers") }
            task = .step(centers: centers, previous: previous, clusters: k, anchor: anchor)
        case 1:
            task = .farthest(centers: centers, clusters: k, anchor: anchor, count: try r.int("count", in: 1...k))
        case 2:
            let code = try r.u8("row output")
            guard let output = KMeansRowOutput(rawValue: code) else { throw WireError("k-means task: unknown row output \(code)") }
            task = .assign(centers: centers, clusters: k, anchor: anchor, output: output)
        case 3:
            task = .moments(anchor: anchor)
        default:
            throw WireError("k-means task: unknown kind \(tag)")
        }
        try r.finish()
        return task
    }

    /// The result's bytes.
    public static func encode(result: KMeansResult) -> [UInt8] {
        var w = WireWriter(capacity: 256)
        switch result {
        case let .step(sums, weights, inertia, rows, changed):
            w.u8(0); w.doubles(sums); w.doubles(weights); w.double(inertia); w.int(rows); w.int(changed)
        case let .farthest(distant):
            w.u8(1); w.u32(UInt32(distant.count))
            for row in distant { w.double(row.distance); w.int(row.index); w.int(row.label); w.double(row.weight); w.doubles(row.values) }
        case let .assignment(inertia, rows, perRow):
            w.u8(2); w.double(inertia); w.int(rows); w.doubles(perRow)
        case let .moments(rows, sums, squares):
            w.u8(3); w.int(rows); w.doubles(sums); w.doubles(squares)
        }
        return w.bytes
    }

    /// Decodes the result of `task` over `shards`, checking its shapes, ranges and finiteness.
    public static func decodeResult(_ bytes: [UInt8], of task: KMeansTask, shards: Range<Int>, context: ShardContext) throws -> KMeansResult {
        var r = WireReader(bytes, context: "k-means result")
        let d = context.dimension, k = task.clusters, rows = context.rows(in: shards)
        let tag = try r.u8("result kind")
        let result: KMeansResult
        switch (tag, task) {
        case (0, .step):
            let sums = try r.doubles("sums", expected: k * d)
            let weights = try r.doubles("weights", expected: k)
            let inertia = try r.double("inertia")
            let counted = try r.int("rows", in: rows...rows)
            let changed = try r.int("changed rows", in: 0...rows)
            guard VectorMath.allFinite(sums), VectorMath.allFinite(weights), inertia.isFinite, inertia >= 0,
                  weights.allSatisfy({ $0 >= 0 })
            else { throw WireError("k-means result: sums or weights are negative, NaN or infinite") }
            result = .step(sums: sums, weights: weights, inertia: inertia, rows: counted, changed: changed)
        case let (1, .farthest(_, _, _, count)):
            let n = Int(try r.u32("rows"))
            guard n <= min(count, rows) else { throw WireError("k-means result: \(n) far rows, at most \(min(count, rows)) asked") }
            let held = context.plan.ranges[shards.clamped(to: 0..<context.plan.count)]
            let first = held.first?.lowerBound ?? 0, last = held.last?.upperBound ?? 0
            var distant = [DistantRow]()
            for _ in 0..<n {
                let distance = try r.double("distance")
                let index = try r.int("row index", in: first...max(first, last - 1))
                let label = try r.int("label", in: 0...(k - 1))
                let weight = try r.double("weight")
                let values = try r.doubles("row", expected: d)
                guard distance.isFinite, distance >= 0, weight.isFinite, weight >= 0, VectorMath.allFinite(values) else {
                    throw WireError("k-means result: a far row holds NaN, infinite or negative numbers")
                }
                distant.append(DistantRow(distance: distance, index: index, label: label, values: values, weight: weight))
            }
            result = .farthest(distant)
        case let (2, .assign(_, _, _, output)):
            let inertia = try r.double("inertia")
            let counted = try r.int("rows", in: rows...rows)
            let width = switch output { case .none: 0; case .labels: 1; case .distances: k }
            let perRow = try r.doubles("per-row output", expected: rows * width)
            guard inertia.isFinite, inertia >= 0, VectorMath.allFinite(perRow) else {
                throw WireError("k-means result: inertia or distances are negative, NaN or infinite")
            }
            if output == .labels, !perRow.allSatisfy({ $0 >= 0 && $0 < Double(k) && $0.rounded() == $0 }) {
                throw WireError("k-means result: a label is outside 0..<\(k)")
            }
            result = .assignment(inertia: inertia, rows: counted, perRow: perRow)
        case (3, .moments):
            let counted = try r.int("rows", in: rows...rows)
            let sums = try r.doubles("sums", expected: d), squares = try r.doubles("squares", expected: d)
            guard VectorMath.allFinite(sums), VectorMath.allFinite(squares), squares.allSatisfy({ $0 >= 0 }) else {
                throw WireError("k-means result: column moments hold NaN, infinite or negative numbers")
            }
            result = .moments(rows: counted, sums: sums, squares: squares)
        default:
            throw WireError("k-means result: kind \(tag) does not answer this task")
        }
        try r.finish()
        return result
    }

    /// The most bytes a result of `task` over `rows` rows can take.
    public static func largestResultBytes(of task: KMeansTask, rows: Int, context: ShardContext) -> Int {
        let d = context.dimension
        let body: Int = switch task {
        case let .step(_, _, k, _): 8 * (k * d + k) + 64
        case let .farthest(_, _, _, count): min(count, rows) * (40 + 8 * d)
        case let .assign(_, k, _, output):
            switch output {
            case .none: 0
            case .labels: 8 * rows
            case .distances: 8 * rows * k
            }
        case .moments: 16 * d
        }
        return body + 128
    }

    /// The message limit a coordinator of k-means jobs over this data needs: the sums of up to
    /// 4,096 clusters, or the distances of the largest shard's rows to up to 256 centres; at least 8 MiB.
    public static func messageLimit(largestShard rows: Int, columns: Int) -> Int {
        max(8 << 20, 4096 * (columns + 1) * 8 + 4096, rows * 256 * 8 + 4096)
    }

    // MARK: - Arithmetic

    /// What every pass over a shard's rows shares: the centres about the anchor, and buffers for one chunk.
    ///
    /// The nearest centre is the first least score ‖c′‖² − 2(x − a)·c′ (c′ the centre about the
    /// anchor a), so ‖x − c‖² = ‖x − a‖² + that score; `emfleet_kmeans_nearest` computes it in
    /// blocks of rows, with the same bits on every instruction set and CPU (no BLAS kernel choice).
    private final class Pass {
        let dimension: Int
        let clusters: Int
        let anchor: [Double]
        let centers: [Double]
        /// ‖c′‖² per centre.
        let norms: [Double]
        /// The centres as the kernel reads them (groups stored feature by feature, times -2).
        let grouped: [Double]
        /// Rows of the chunk when they must be converted (float32 storage).
        let converted: UnsafeMutablePointer<Double>
        /// Kernel scratch: one block of rows, transposed.
        let transposed: UnsafeMutablePointer<Double>
        /// One row about the anchor.
        let centred: UnsafeMutablePointer<Double>
        /// Per chunk row: its least score, and its label.
        let best: UnsafeMutablePointer<Double>
        let labels: UnsafeMutablePointer<Int32>
        /// The clusters' sums of rows about the anchor (k × d, zero at first), 64-byte aligned:
        /// the kernel adds a row to them as whole vectors, and split vectors cost a tenth of its time.
        let sums: UnsafeMutablePointer<Double>

        init(dimension d: Int, clusters k: Int, centers: [Double], anchor: [Double]) {
            dimension = d
            clusters = k
            self.anchor = anchor
            self.centers = centers
            norms = (0..<k).map { c in
                var norm = 0.0
                for j in 0..<d { norm += centers[c * d + j] * centers[c * d + j] }
                return norm
            }
            grouped = [Double](unsafeUninitializedCapacity: k * d) { buffer, count in
                centers.withUnsafeBufferPointer { emfleet_kmeans_group_centers($0.baseAddress!, k, d, buffer.baseAddress!) }
                count = k * d
            }
            converted = .allocate(capacity: KMeansJob.chunkRows * d)
            transposed = .allocate(capacity: 8 * d)
            centred = .allocate(capacity: d)
            best = .allocate(capacity: KMeansJob.chunkRows)
            labels = .allocate(capacity: KMeansJob.chunkRows)
            sums = UnsafeMutableRawPointer.allocate(byteCount: max(1, k * d) * MemoryLayout<Double>.stride, alignment: 64)
                .initializeMemory(as: Double.self, repeating: 0, count: max(1, k * d))
        }

        deinit {
            converted.deallocate(); transposed.deallocate(); centred.deallocate(); best.deallocate(); labels.deallocate()
            sums.deallocate()
        }

        /// Runs `body(first local row, rows, the rows as doubles)` on each chunk of the shard's
        /// rows, after labelling them (and, with `sums`, adding them to their clusters); `total`
        /// receives the sum of the least scores.
        func forEachChunk(
            _ shard: ShardData, labelling: Bool = true, sums: UnsafeMutablePointer<Double>? = nil,
            weights: UnsafeMutablePointer<Double>? = nil, total: UnsafeMutablePointer<Double>? = nil,
            _ body: (Int, Int, UnsafePointer<Double>) -> Void = { _, _, _ in }
        ) {
            let d = dimension
            var start = 0
            while start < shard.rows {
                let n = min(KMeansJob.chunkRows, shard.rows - start)
                let first = shard.positions.lowerBound + start
                func run(_ rows: UnsafePointer<Double>) {
                    if labelling {
                        let scores = anchor.withUnsafeBufferPointer { a in
                            grouped.withUnsafeBufferPointer { c in
                                norms.withUnsafeBufferPointer { norms in
                                    withRowWeights(shard, from: start) { rowWeights in
                                        emfleet_kmeans_nearest(rows, n, d, a.baseAddress!, c.baseAddress!, norms.baseAddress!, clusters,
                                                               transposed, rowWeights, best, labels, sums, weights)
                                    }
                                }
                            }
                        }
                        total?.pointee += scores
                    }
                    body(start, n, rows)
                }
                switch shard.features.storage {
                case let .float64(values):
                    values.withUnsafeBufferPointer { run($0.baseAddress! + first * d) }
                case .float32, .file:
                    shard.features.copyRows(first..<(first + n), into: converted)
                    run(converted)
                }
                start += n
            }
        }

        /// Σ w‖x − a‖² over the shard's rows, in row order.
        func squaredDistanceSum(_ shard: ShardData) -> Double {
            var total = 0.0
            anchor.withUnsafeBufferPointer { a in
                forEachChunk(shard, labelling: false) { start, n, rows in
                    total += withRowWeights(shard, from: start) { emfleet_squared_distance_sum(rows, n, dimension, a.baseAddress!, $0) }
                }
            }
            return total
        }

        /// The weights of the shard's rows from local row `start` on, or nil without weights.
        func withRowWeights<T>(_ shard: ShardData, from start: Int, _ body: (UnsafePointer<Double>?) -> T) -> T {
            guard let weights = shard.weights else { return body(nil) }
            return weights.withUnsafeBufferPointer { body($0.baseAddress! + start) }
        }

        /// Writes `x − a` to `centred` and returns ‖x − a‖².
        @inline(__always)
        func centre(_ x: UnsafePointer<Double>) -> Double {
            var norm = 0.0
            anchor.withUnsafeBufferPointer { a in
                for j in 0..<dimension {
                    let value = x[j] - a[j]
                    centred[j] = value
                    norm += value * value
                }
            }
            return norm
        }

        /// ‖(x − a) − c′‖² term by term, for the row last given to ``centre(_:)``.
        @inline(__always)
        func exactDistance(toCenter label: Int) -> Double {
            var sum = 0.0
            centers.withUnsafeBufferPointer { c in
                let center = c.baseAddress! + label * dimension
                for j in 0..<dimension {
                    let difference = centred[j] - center[j]
                    sum += difference * difference
                }
            }
            return sum
        }
    }

    static func step(
        _ shard: ShardData, centers: [Double], previous: [Double]?, clusters k: Int, anchor: [Double], scratch: KMeansScratch
    ) -> KMeansResult {
        let d = shard.features.columns
        var sums = [Double](repeating: 0, count: k * d), weights = [Double](repeating: 0, count: k)
        var inertia = 0.0, changed = 0
        // Labels under `previous`: the cached ones when they were computed with it, else recomputed.
        var before: [Int32]? = nil
        if let previous {
            if scratch.centers == previous && scratch.labels.count == shard.rows {
                before = scratch.labels
            } else {
                var recomputed = [Int32](repeating: 0, count: shard.rows)
                let pass = Pass(dimension: d, clusters: k, centers: previous, anchor: anchor)
                recomputed.withUnsafeMutableBufferPointer { out in
                    pass.forEachChunk(shard) { start, n, _ in (out.baseAddress! + start).update(from: pass.labels, count: n) }
                }
                before = recomputed
            }
        }
        // The label buffer of two steps ago is reused rather than allocated again.
        var labels = scratch.spare.count == shard.rows ? scratch.spare : [Int32](repeating: 0, count: shard.rows)
        scratch.spare = []
        let pass = Pass(dimension: d, clusters: k, centers: centers, anchor: anchor)
        // The inertia is Σ‖x − a‖² (fixed for the fit, so kept) plus the nearest scores.
        if scratch.spreadAnchor != anchor {
            scratch.spread = pass.squaredDistanceSum(shard)
            scratch.spreadAnchor = anchor
        }
        var scores = 0.0
        weights.withUnsafeMutableBufferPointer { weights in
            labels.withUnsafeMutableBufferPointer { labels in
                pass.forEachChunk(shard, sums: pass.sums, weights: weights.baseAddress!, total: &scores) { start, n, _ in
                    (labels.baseAddress! + start).update(from: pass.labels, count: n)
                }
            }
        }
        sums.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: pass.sums, count: k * d) }
        inertia = max(0, scratch.spread + scores)
        if let before {
            labels.withUnsafeBufferPointer { now in
                before.withUnsafeBufferPointer { was in
                    for r in 0..<shard.rows where now[r] != was[r] { changed += 1 }
                }
            }
        } else {
            changed = shard.rows
        }
        scratch.spare = before ?? []
        scratch.centers = centers
        scratch.labels = labels
        return .step(sums: sums, weights: weights, inertia: inertia, rows: shard.rows, changed: changed)
    }

    static func farthest(_ shard: ShardData, centers: [Double], clusters k: Int, anchor: [Double], count: Int) -> KMeansResult {
        var kept = [DistantRow]()
        let pass = Pass(dimension: shard.features.columns, clusters: k, centers: centers, anchor: anchor)
        pass.forEachChunk(shard) { start, n, rows in
            for r in 0..<n {
                _ = pass.centre(rows + r * pass.dimension)
                let label = Int(pass.labels[r])
                let row = DistantRow(distance: pass.exactDistance(toCenter: label), index: shard.firstRow + start + r, label: label, values: [],
                                     weight: shard.weights?[start + r] ?? 1)
                guard kept.count < count || DistantRow.isFarther(row, kept[kept.count - 1]) else { continue }
                var withValues = row
                withValues.values = Array(UnsafeBufferPointer(start: pass.centred, count: pass.dimension))
                let place = kept.firstIndex { DistantRow.isFarther(withValues, $0) } ?? kept.count
                kept.insert(withValues, at: place)
                if kept.count > count { kept.removeLast() }
            }
        }
        return .farthest(kept)
    }

    static func assign(_ shard: ShardData, centers: [Double], clusters k: Int, anchor: [Double], output: KMeansRowOutput) -> KMeansResult {
        let width = switch output { case .none: 0; case .labels: 1; case .distances: k }
        var perRow = [Double](repeating: 0, count: shard.rows * width)
        var inertia = 0.0
        let pass = Pass(dimension: shard.features.columns, clusters: k, centers: centers, anchor: anchor)
        perRow.withUnsafeMutableBufferPointer { out in
            pass.forEachChunk(shard) { start, n, rows in
                for r in 0..<n {
                    _ = pass.centre(rows + r * pass.dimension)
                    let label = Int(pass.labels[r])
                    let distance = pass.exactDistance(toCenter: label)
                    inertia += shard.weights.map { $0[start + r] * distance } ?? distance
                    switch output {
                    case .none: break
                    case .labels: out[start + r] = Double(label)
                    case .distances:
                        let target = out.baseAddress! + (start + r) * k
                        for c in 0..<k { target[c] = pass.exactDistance(toCenter: c).squareRoot() }
                    }
                }
            }
        }
        return .assignment(inertia: inertia, rows: shard.rows, perRow: perRow)
    }

    static func moments(_ shard: ShardData, anchor: [Double]) -> KMeansResult {
        let d = shard.features.columns
        var sums = [Double](repeating: 0, count: d), squares = sums
        let pass = Pass(dimension: d, clusters: 1, centers: anchor.map { _ in 0 }, anchor: anchor)
        pass.forEachChunk(shard, labelling: false) { _, n, rows in
            for r in 0..<n {
                _ = pass.centre(rows + r * d)
                for j in 0..<d {
                    sums[j] += pass.centred[j]
                    squares[j] += pass.centred[j] * pass.centred[j]
                }
            }
        }
        return .moments(rows: shard.rows, sums: sums, squares: squares)
    }
}
