import Datasets
import Foundation
import Numerics

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

    init(dimension: Int, components: Int, covarianceType: CovarianceType) {
        self.dimension = dimension
        self.components = components
        layout = FeatureLayout(covarianceType: covarianceType, dimension: dimension)
        // 64 to 256 rows: about 256 KiB of features for small D, so the expansion stays in
        // L2, and at least 64 rows so the matrix products stay efficient for large D
        // (measured on both benchmark shapes). The chunk size fixes the summation order,
        // so it depends on the layout only, never on threads.
        chunkRows = max(64, min(256, (1 << 15) / layout.count))
        shifted = .allocate(capacity: chunkRows * dimension)
        features = .allocate(capacity: chunkRows * layout.count)
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
    }

    /// Chunks of `range`, each at most `chunkRows` long.
    func chunks(of range: Range<Int>) -> [Range<Int>] {
        stride(from: range.lowerBound, to: range.upperBound, by: chunkRows).map {
            $0..<min($0 + chunkRows, range.upperBound)
        }
    }

    /// Loads rows, shifts them by `anchor` and expands their quadratic features.
    func load(_ data: FeatureMatrix, rows: Range<Int>, anchor: [Double]) {
        data.copyRows(rows, subtracting: anchor, into: shifted)
        layout.expand(shifted, rows: rows.count, into: features)
    }

    /// Per-row, per-component weighted log-densities of the loaded chunk into `scores`.
    func computeScores(_ model: PreparedMixture, rowCount n: Int) {
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

    /// Sets one-hot responsibilities from `labels` (one per loaded row).
    func setOneHot(_ labels: UnsafePointer<Int>, rowCount n: Int) {
        let k = components
        responsibilities.update(repeating: 0, count: n * k)
        for r in 0..<n { responsibilities[r * k + labels[r]] = 1 }
    }
}
