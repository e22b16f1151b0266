import CLAPACK

/// A failure reported by LAPACK, with the routine and its `info` code.
public struct LinearAlgebraError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The LAPACK routine that failed, for example `dpotrf`.
    public var routine: String
    /// LAPACK's `info`: negative for a bad argument, positive for a numerical failure
    /// (for `dpotrf`, the order of the leading minor that is not positive definite).
    public var info: Int

    /// Creates an error for `routine` with LAPACK's `info`.
    public init(routine: String, info: Int) {
        self.routine = routine
        self.info = info
    }

    public var description: String {
        info > 0
            ? "\(routine): the leading minor of order \(info) is not positive definite"
            : "\(routine): argument \(-info) had an illegal value"
    }
}

/// Thin, typed wrappers over OpenBLAS and LAPACKE.
///
/// Matrices are row-major `Double` buffers. Pointer-taking entry points are `package`
/// so the other emfleet targets can call BLAS in their hot loops without copying, while
/// the public surface stays pointer-free.
public enum BLAS {
    /// Sets how many threads OpenBLAS itself may use.
    ///
    /// emfleet parallelises over shards with its own threads and keeps BLAS at one thread,
    /// so that every shard's arithmetic, and therefore every fitted model, is the same
    /// whatever the thread count.
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The CPU kernel family OpenBLAS selected at start-up (for example `SkylakeX`).
    ///
    /// Bit-identical results across machines need the same kernel family.
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// `C = alpha · op(A) · op(B) + beta · C` on row-major buffers.
    package static func gemm(
        transposeA: Bool, transposeB: Bool,
        m: Int, n: Int, k: Int,
        alpha: Double,
        a: UnsafePointer<Double>, lda: Int,
        b: UnsafePointer<Double>, ldb: Int,
        beta: Double,
        c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc)
        )
    }

    /// `B ← B·U` for a row-major `rows × order` B (leading dimension `ldb`) and an upper-triangular,
    /// row-major `order × order` U (`dtrmm`): half the work of a general product, the zeros skipped.
    package static func multiplyByUpperTriangular(
        rows m: Int, order n: Int, upper: UnsafePointer<Double>, ldu: Int, b: UnsafeMutablePointer<Double>, ldb: Int
    ) {
        cblas_dtrmm(CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, Int32(m), Int32(n), 1, upper, Int32(ldu), b, Int32(ldb))
    }

    /// `C ← alpha·AᵀA + beta·C` for a row-major `rows × order` matrix A (`dsyrk`): only the upper
    /// triangle of the row-major `order × order` C (`C[i·ldc + j]`, j ≥ i) is written, in half
    /// the work of the product by ``gemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``.
    package static func gramUpper(
        order n: Int, rows k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
    }

    /// `C ← alpha·op(A)·op(B) + beta·C` in single precision (`sgemm`), row-major, as ``gemm(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``.
    package static func gemm(
        transposeA: Bool, transposeB: Bool,
        m: Int, n: Int, k: Int,
        alpha: Float,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc)
        )
    }

    /// Measures `dgemm`'s speed on this machine: the best of `repeats` products of two
    /// `order`×`order` matrices with `threads` OpenBLAS threads, in GFLOP/s (2·n³ per product).
    ///
    /// The benchmark scripts compare the EM engine's throughput with this peak.
    public static func measuredPeakGFLOPS(order n: Int = 1024, threads: Int, repeats: Int = 5) -> Double {
        var generator = SeededGenerator(seed: 1)
        let a = (0..<(n * n)).map { _ in Double.random(in: -1...1, using: &generator) }
        let b = (0..<(n * n)).map { _ in Double.random(in: -1...1, using: &generator) }
        setThreadCount(threads)
        defer { setThreadCount(1) }
        var best = Double.infinity
        for _ in 0..<max(1, repeats) {
            let start = ContinuousClock.now
            _ = multiply(a, rows: n, inner: n, b, columns: n)
            let elapsed = ContinuousClock.now - start
            best = min(best, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
        }
        return 2 * Double(n) * Double(n) * Double(n) / best / 1e9
    }

    /// `C = alpha · A · B + beta · C` for arrays, returning the product (convenience for small matrices).
    public static func multiply(
        _ a: [Double], rows m: Int, inner k: Int, _ b: [Double], columns n: Int,
        transposeA: Bool = false, transposeB: Bool = false
    ) -> [Double] {
        precondition(a.count == m * k && b.count == k * n, "matrix sizes do not match")
        var c = [Double](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    gemm(
                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1,
                        a: pa.baseAddress!, lda: transposeA ? m : k,
                        b: pb.baseAddress!, ldb: transposeB ? k : n,
                        beta: 0, c: pc.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }
}

/// Cholesky factorisations and triangular inverses through LAPACK.
public enum Cholesky {
    /// The lower-triangular factor `L` with `A = L·Lᵀ` of a symmetric positive-definite
    /// `n × n` row-major matrix; the strict upper triangle of the result is zero.
    ///
    /// - Throws: `LinearAlgebraError` (routine `dpotrf`) when `A` is not positive definite.
    public static func lowerFactor(of matrix: [Double], order n: Int) throws -> [Double] {
        precondition(matrix.count == n * n, "matrix is not \(n)×\(n)")
        var factor = matrix
        let info = factor.withUnsafeMutableBufferPointer { buffer in
            LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(n), buffer.baseAddress, Int32(n))
        }
        guard info == 0 else { throw LinearAlgebraError(routine: "dpotrf", info: Int(info)) }
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { factor[i * n + j] = 0 } }
        return factor
    }

    /// The inverse of a lower-triangular `n × n` row-major matrix (itself lower triangular).
    ///
    /// - Throws: `LinearAlgebraError` (routine `dtrtri`) when a diagonal entry is zero.
    public static func invertLowerTriangular(_ matrix: [Double], order n: Int) throws -> [Double] {
        precondition(matrix.count == n * n, "matrix is not \(n)×\(n)")
        var inverse = matrix
        let info = inverse.withUnsafeMutableBufferPointer { buffer in
            LAPACKE_dtrtri(
                LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int8(UInt8(ascii: "N")), Int32(n),
                buffer.baseAddress, Int32(n))
        }
        guard info == 0 else { throw LinearAlgebraError(routine: "dtrtri", info: Int(info)) }
        for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { inverse[i * n + j] = 0 } }
        return inverse
    }
}
