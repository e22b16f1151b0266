import Datasets
import Foundation
import Numerics

/// How the E-step turns a chunk of rows into log-densities and M-step statistics. Both give the
/// same numbers up to rounding; the form depends on the shape only (never on threads or workers),
/// so a fit's bits do not change with the cluster.
package enum EStepForm: Sendable, Equatable, CaseIterable {
    /// One product of the rows' quadratic features (D(D+1)/2 + D per row) with K columns of
    /// coefficients, and one product of the same features with the responsibilities: the least
    /// arithmetic, but the expansion outgrows the caches as D grows.
    case quadratic
    /// Whitened residuals: the rows times each component's upper-triangular precision Cholesky
    /// factor (`dtrmm`) give (x − μ_k)·P_k, and the second moments come from one rank-n update
    /// (`dsyrk`) per component of the rows scaled by √r. The arithmetic of the quadratic form, all
    /// of it in large, cache-friendly BLAS calls, and no D² buffer per row.
    case whitened

    /// The dimension from which full and tied fits use ``whitened`` (measured: docs/BENCHMARKS.md, "Wide data").
    package static let whitenedFromDimension = 64

    /// The form for a covariance type and dimension.
    package static func choose(_ type: CovarianceType, dimension: Int) -> EStepForm {
        guard type == .full || type == .tied else { return .quadratic }
        return benchmarkOverride ?? (dimension >= whitenedFromDimension ? .whitened : .quadratic)
    }

    /// `EMFLEET_ESTEP_FORM=quadratic|whitened` forces the form of full and tied fits in this process,
    /// for `scripts/bench-wide.sh` to time both forms at every D. A benchmark's knob only: workers on
    /// other machines do not see it, and a cluster whose processes disagree gives other bits.
    private static let benchmarkOverride: EStepForm? = {
        switch ProcessInfo.processInfo.environment["EMFLEET_ESTEP_FORM"] {
        case "quadratic": .quadratic
        case "whitened": .whitened
        default: nil
        }
    }()
}

/// Scratch buffers for walking one shard in chunks of rows; one per thread.
///
/// Nothing here is shared: a workspace belongs to the thread that made it. The largest
/// buffer is the chunk's quadratic features, sized to stay in cache, so a fit never holds an
/// N×K responsibility matrix.
final class ChunkWorkspace {
    let dimension: Int
    let components: Int
    let layout: FeatureLayout
    let chunkRows: Int
    let shifted: UnsafeMutablePointer<Double>
    let features: UnsafeMutablePointer<Double>
    let scores: UnsafeMutablePointer<Double>
    let responsibilities: UnsafeMutablePointer<Double>
    let ones: UnsafeMutablePointer<Double>
    let rowMaxima: UnsafeMutablePointer<Double>
    let form: EStepForm
    let covarianceType: CovarianceType
    /// Whitened form only: the chunk's rows times each precision factor, side by side (rows × F·D).
    let whitened: UnsafeMutablePointer<Double>
    /// Whitened form only: the chunk's rows scaled by √r for one component (rows × D).
    let scaled: UnsafeMutablePointer<Double>
    /// Whitened form only: second moments, upper triangle (D × D): every component's (F of them),
    /// summed over the shard's chunks until ``finish(into:)`` adds them to the statistics, when
    /// that takes at most ``persistentGramBytes``; otherwise one component's, for one chunk.
    let gram: UnsafeMutablePointer<Double>
    /// Whether ``gram`` holds every component's sums across chunks.
    let persistentGrams: Bool
    /// Responsibilities (or weights) at most this small leave a row out of a component's
    /// second moments in the whitened form: 2⁻¹⁰⁰⁰.
    static let negligibleWeight = 0x1p-1000
    /// The most memory the persistent sums may take (8 components at D = 784 take 39 MB).
    static let persistentGramBytes = 64 << 20
    /// Whether ``gram`` holds sums not yet in the statistics.
    private var gramsPending = false

    /// The bytes a workspace for these shapes allocates (the sizes `init` uses).
    static func bytes(dimension: Int, components: Int, covarianceType: CovarianceType, form: EStepForm? = nil) -> Int {
        let layout = FeatureLayout(covarianceType: covarianceType, dimension: dimension)
        let form = form ?? EStepForm.choose(covarianceType, dimension: dimension)
        let rows = form == .whitened ? 512 : max(64, min(256, (1 << 15) / layout.count))
        let factors = covarianceType == .tied ? 1 : components
        var doubles = rows * dimension + rows * (2 * components + 2)
        if form == .whitened {
            let grams = factors * dimension * dimension * 8 <= persistentGramBytes ? factors * dimension * dimension : dimension * dimension
            doubles += rows * factors * dimension + rows * dimension + grams
        } else {
            doubles += rows * layout.count
        }
        return doubles * 8
    }

    init(dimension: Int, components: Int, covarianceType: CovarianceType, form: EStepForm? = nil) {
        self.dimension = dimension
        self.components = components
        self.covarianceType = covarianceType
        layout = FeatureLayout(covarianceType: covarianceType, dimension: dimension)
        let form = form ?? EStepForm.choose(covarianceType, dimension: dimension)
        self.form = form
        switch form {
        case .quadratic:
            // 64 to 256 rows: about 256 KiB of features for small D, so the expansion stays in
            // L2, and at least 64 rows so the matrix products stay efficient for large D
            // (measured on both benchmark shapes). The chunk size fixes the summation order,
            // so it depends on the layout only, never on threads.
            chunkRows = max(64, min(256, (1 << 15) / layout.count))
        case .whitened:
            // Enough rows for the products (dtrmm, dsyrk) to run near the BLAS peak.
            chunkRows = 512
        }
        let factors = covarianceType == .tied ? 1 : components
        let whitenedForm = form == .whitened
        whitened = .allocate(capacity: whitenedForm ? chunkRows * factors * dimension : 1)
        scaled = .allocate(capacity: whitenedForm ? chunkRows * dimension : 1)
        persistentGrams = whitenedForm && factors * dimension * dimension * 8 <= Self.persistentGramBytes
        let gramCount = !whitenedForm ? 1 : persistentGrams ? factors * dimension * dimension : dimension * dimension
        gram = .allocate(capacity: gramCount)
        gram.initialize(repeating: 0, count: gramCount)
        shifted = .allocate(capacity: chunkRows * dimension)
        features = .allocate(capacity: whitenedForm ? 1 : chunkRows * layout.count)
        scores = .allocate(capacity: chunkRows * components)
        responsibilities = .allocate(capacity: chunkRows * components)
        ones = .allocate(capacity: chunkRows)
        ones.initialize(repeating: 1, count: chunkRows)
        rowMaxima = .allocate(capacity: chunkRows)
    }

    deinit {
        shifted.deallocate()
        features.deallocate()
        scores.deallocate()
        responsibilities.deallocate()
        ones.deallocate()
        rowMaxima.deallocate()
        whitened.deallocate()
        scaled.deallocate()
        gram.deallocate()
    }

    /// Chunks of `range`, each at most `chunkRows` long.
    func chunks(of range: Range<Int>) -> [Range<Int>] {
        stride(from: range.lowerBound, to: range.upperBound, by: chunkRows).map {
            $0..<min($0 + chunkRows, range.upperBound)
        }
    }

    /// Loads rows, shifts them by `anchor` and (quadratic form) expands their quadratic features.
    func load(_ data: FeatureMatrix, rows: Range<Int>, anchor: [Double]) {
        data.copyRows(rows, subtracting: anchor, into: shifted)
        if form == .quadratic { layout.expand(shifted, rows: rows.count, into: features) }
    }

    /// Loads the rows at `positions` (at most `chunkRows` of them) as ``load(_:rows:anchor:)`` does a range.
    func load(_ data: FeatureMatrix, positions: [Int], anchor: [Double]) {
        data.copyRows(at: positions, subtracting: anchor, into: shifted)
        if form == .quadratic { layout.expand(shifted, rows: positions.count, into: features) }
    }

    /// Per-row, per-component weighted log-densities of the loaded chunk into `scores`.
    func computeScores(_ model: PreparedMixture, rowCount n: Int) {
        if form == .whitened, !model.whitenedMeans.isEmpty { return computeWhitenedScores(model, rowCount: n) }
        let k = components, m = layout.count
        model.coefficients.withUnsafeBufferPointer { coefficients in
            BLAS.gemm(
                transposeA: false, transposeB: false, m: n, n: k, k: m, alpha: 1,
                a: features, lda: m, b: coefficients.baseAddress!, ldb: k,
                beta: 0, c: scores, ldc: k)
        }
        model.constants.withUnsafeBufferPointer { constants in
            for r in 0..<n {
                let row = scores + r * k
                for c in 0..<k { row[c] += constants[c] }
            }
        }
    }

    /// ``computeScores(_:rowCount:)`` in the whitened form: log w_k − ½D log 2π + log|P_k| − ½‖(x − μ_k)·P_k‖².
    private func computeWhitenedScores(_ model: PreparedMixture, rowCount n: Int) {
        let k = components, d = dimension
        let factors = covarianceType == .tied ? 1 : k
        let width = factors * d
        // Per factor, the rows times its upper-triangular P (dtrmm: half a general product's work).
        model.precisionCholesky.withUnsafeBufferPointer { factors in
            for f in 0..<factors.count / (d * d) {
                for r in 0..<n { (whitened + r * width + f * d).update(from: shifted + r * d, count: d) }
                BLAS.multiplyByUpperTriangular(
                    rows: n, order: d, upper: factors.baseAddress! + f * d * d, ldu: d, b: whitened + f * d, ldb: width)
            }
        }
        model.whitenedMeans.withUnsafeBufferPointer { means in
            model.whitenedConstants.withUnsafeBufferPointer { constants in
                for r in 0..<n {
                    let row = scores + r * k
                    for c in 0..<k {
                        let y = whitened + r * width + (factors == 1 ? 0 : c * d)
                        let b = means.baseAddress! + c * d
                        var squares = 0.0
                        for j in 0..<d {
                            let residual = y[j] - b[j]
                            squares += residual * residual
                        }
                        row[c] = constants[c] - 0.5 * squares
                    }
                }
            }
        }
    }

    /// Turns `scores` into responsibilities; returns Σ over rows of log Σ_k exp(score), each
    /// row's term times its weight when `weights` are given.
    /// Writes each row's log-normaliser into `rowLogLikelihoods` when given.
    func normalizeScores(
        rowCount n: Int, weights: UnsafePointer<Double>? = nil, rowLogLikelihoods: UnsafeMutablePointer<Double>? = nil
    ) -> Double {
        let k = components
        // First pass: each row's maximum, and the shifted scores.
        for r in 0..<n {
            let row = scores + r * k
            let out = responsibilities + r * k
            var maximum = -Double.infinity
            for c in 0..<k where row[c] > maximum { maximum = row[c] }
            rowMaxima[r] = maximum
            for c in 0..<k { out[c] = row[c] - maximum }
        }
        VectorMath.exponentiate(responsibilities, count: n * k)
        // Second pass: normalise; exp(score − lse) = exp(score − max) / Σ exp(score − max).
        var total = 0.0
        for r in 0..<n {
            let out = responsibilities + r * k
            var sum = 0.0
            for c in 0..<k { sum += out[c] }
            let logNormalizer = rowMaxima[r] + log(sum)
            let inverse = 1 / sum
            for c in 0..<k { out[c] *= inverse }
            if let weights { total += weights[r] * logNormalizer } else { total += logNormalizer }
            rowLogLikelihoods?[r] = logNormalizer
        }
        return total
    }

    /// Adds the loaded chunk's features, weighted by `responsibilities`, into `statistics`.
    ///
    /// With sample `weights` (one per loaded row), each row's responsibilities are first
    /// multiplied by its weight (in place), and the weights count the rows; without, every
    /// row counts once and no multiplication happens.
    func accumulate(rowCount n: Int, weights: UnsafePointer<Double>? = nil, into statistics: inout MixtureStatistics) {
        let k = components, m = layout.count, d = dimension
        statistics.rows += n
        if let weights {
            for r in 0..<n {
                let w = weights[r]
                let row = responsibilities + r * k
                for c in 0..<k { row[c] *= w }
                statistics.weightTotal += w
            }
        } else {
            statistics.weightTotal += Double(n)
        }
        statistics.responsibilitySums.withUnsafeMutableBufferPointer { sums in
            for r in 0..<n {
                let row = responsibilities + r * k
                for c in 0..<k { sums[c] += row[c] }
            }
        }
        if form == .whitened { return accumulateWhitened(rowCount: n, weights: weights, into: &statistics) }
        statistics.moments.withUnsafeMutableBufferPointer { moments in
            let base = moments.baseAddress!
            if statistics.covarianceType == .tied {
                BLAS.gemm(
                    transposeA: true, transposeB: false, m: k, n: d, k: n, alpha: 1,
                    a: responsibilities, lda: k, b: features + layout.quadraticCount, ldb: m,
                    beta: 1, c: base, ldc: d)
                BLAS.gemm(
                    transposeA: true, transposeB: false, m: 1, n: layout.quadraticCount, k: n, alpha: 1,
                    a: weights ?? UnsafePointer(ones), lda: 1, b: features, ldb: m,
                    beta: 1, c: base + k * d, ldc: layout.quadraticCount)
            } else {
                BLAS.gemm(
                    transposeA: true, transposeB: false, m: k, n: m, k: n, alpha: 1,
                    a: responsibilities, lda: k, b: features, ldb: m,
                    beta: 1, c: base, ldc: m)
            }
        }
    }

    /// The moments of ``accumulate(rowCount:weights:into:)`` without the quadratic features: the
    /// linear ones by one product with the responsibilities, the second ones by a rank-n update per
    /// component (per fit, tied) of the rows scaled by √r (√w), added into the packed upper triangle.
    private func accumulateWhitened(rowCount n: Int, weights: UnsafePointer<Double>?, into statistics: inout MixtureStatistics) {
        let k = components, d = dimension, m = layout.count
        let tied = statistics.covarianceType == .tied
        statistics.moments.withUnsafeMutableBufferPointer { moments in
            let base = moments.baseAddress!
            // Σ r·x per component: row c of the product at c·m + Q (full) or c·d (tied).
            BLAS.gemm(
                transposeA: true, transposeB: false, m: k, n: d, k: n, alpha: 1,
                a: responsibilities, lda: k, b: shifted, ldb: d,
                beta: 1, c: tied ? base : base + layout.quadraticCount, ldc: tied ? d : m)
            for c in 0..<(tied ? 1 : k) {
                // Only the rows that carry weight for this component enter its rank-n update: in
                // wide data the responsibilities are nearly one-hot (log-density gaps of hundreds),
                // so most are below 2⁻¹⁰⁰⁰ and the update shrinks from n rows to about n/K. What is
                // left out is below 2⁻¹⁰⁰⁰·‖x‖² a row: nothing any double can show.
                var kept = 0
                for r in 0..<n {
                    // Tied: each row once, with its weight; full: with its (weighted) responsibility.
                    let factor = tied ? (weights.map { $0[r] } ?? 1) : responsibilities[r * k + c]
                    guard factor > Self.negligibleWeight else { continue }
                    let root = factor.squareRoot()
                    let x = shifted + r * d, out = scaled + kept * d
                    for j in 0..<d { out[j] = root * x[j] }
                    kept += 1
                }
                guard kept > 0 else { continue }
                if persistentGrams {
                    BLAS.gramUpper(order: d, rows: kept, alpha: 1, a: scaled, lda: d, beta: 1, c: gram + c * d * d, ldc: d)
                    gramsPending = true
                } else {
                    BLAS.gramUpper(order: d, rows: kept, alpha: 1, a: scaled, lda: d, beta: 0, c: gram, ldc: d)
                    Self.addUpper(gram, order: d, to: tied ? base + k * d : base + c * m)
                }
            }
        }
    }

    /// Adds what the chunks left in the workspace to `statistics` (the whitened form's second
    /// moments, summed over the shard's chunks); call after a shard's last ``accumulate(rowCount:weights:into:)``.
    func finish(into statistics: inout MixtureStatistics) {
        guard gramsPending else { return }
        gramsPending = false
        let k = components, d = dimension, m = layout.count
        let tied = statistics.covarianceType == .tied
        statistics.moments.withUnsafeMutableBufferPointer { moments in
            for c in 0..<(tied ? 1 : k) {
                Self.addUpper(gram + c * d * d, order: d, to: tied ? moments.baseAddress! + k * d : moments.baseAddress! + c * m)
            }
        }
        gram.update(repeating: 0, count: (tied ? 1 : k) * d * d)
    }

    /// Adds the upper triangle of the row-major `order × order` matrix to `packed`, row by row.
    private static func addUpper(_ matrix: UnsafePointer<Double>, order d: Int, to packed: UnsafeMutablePointer<Double>) {
        var q = 0
        for i in 0..<d {
            let row = matrix + i * d
            for j in i..<d {
                packed[q] += row[j]
                q += 1
            }
        }
    }

    /// Sets one-hot responsibilities from `labels` (one per loaded row).
    func setOneHot(_ labels: UnsafePointer<Int>, rowCount n: Int) {
        let k = components
        responsibilities.update(repeating: 0, count: n * k)
        for r in 0..<n { responsibilities[r * k + labels[r]] = 1 }
    }
}
