import CKernels

/// Vectorised element-wise kernels for the E-step's hot loop (implemented in C, see `CKernels`).
public enum VectorMath {
    /// The index of the largest value of each row of a row-major matrix `width` wide; the first
    /// one wins a tie, as numpy's `argmax` (the class a network or a mixture predicts).
    public static func argmaxOfRows(_ values: [Double], width: Int) -> [Int] {
        precondition(width >= 1 && values.count % width == 0, "values do not make rows of \(width)")
        return (0..<(values.count / width)).map { row in
            let base = row * width
            var best = 0
            for c in 1..<width where values[base + c] > values[base + best] { best = c }
            return best
        }
    }

    /// Exponents at or below this give exactly zero from `exponentiate`.
    public static let underflowCutoff = -700.0

    /// Whether no value is NaN or infinite (a vectorised scan, for checking messages).
    public static func allFinite(_ values: [Double]) -> Bool {
        values.withUnsafeBufferPointer { emfleet_all_finite_f64($0.baseAddress, $0.count) != 0 }
    }

    /// Whether no value is NaN or infinite.
    public static func allFinite(_ values: [Float]) -> Bool {
        values.withUnsafeBufferPointer { emfleet_all_finite_f32($0.baseAddress, $0.count) != 0 }
    }

    /// Replaces each of `count` values by its exponential.
    ///
    /// Range reduction `x = n·ln2 + r` with `|r| ≤ ln2/2`, then a degree-13 Taylor polynomial
    /// (truncation error below 5e-18 relative) scaled by `2ⁿ`: accurate to about one unit in
    /// the last place for inputs in (−700, 700]. Inputs at or below `underflowCutoff` give 0:
    /// they are far below anything that can change a sum of responsibilities, and keeping the
    /// subnormal results would slow every later product by orders of magnitude.
    package static func exponentiate(_ values: UnsafeMutablePointer<Double>, count: Int) {
        emfleet_exp_inplace(values, count)
    }

    /// Writes each row's quadratic features: all products `xᵢ·xⱼ` (i ≤ j) when `crossProducts`,
    /// else the squares, followed by the row itself; `stride` doubles per output row.
    package static func expandQuadratic(
        _ rows: UnsafePointer<Double>, rowCount: Int, dimension: Int, crossProducts: Bool,
        into features: UnsafeMutablePointer<Double>, stride: Int
    ) {
        emfleet_expand_quadratic(rows, rowCount, dimension, crossProducts ? 1 : 0, features, stride)
    }

    /// `exp(x)` for one value, by the same kernel (for tests).
    public static func exp(_ x: Double) -> Double {
        var value = x
        emfleet_exp_inplace(&value, 1)
        return value
    }
}
