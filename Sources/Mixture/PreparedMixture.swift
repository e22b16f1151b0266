import Foundation
import Numerics

/// A mixture made ready for the E-step: precision Cholesky factors, log-determinants and
/// the coefficients that turn a row's quadratic features into per-component log-densities.
///
/// All arithmetic is relative to an `anchor` point (the data mean during a fit). Rows are
/// shifted by it before anything else, so that adding a large constant to the data changes
/// nothing but the anchor; this is how emfleet avoids the cancellation of raw second
/// moments that scikit-learn's diagonal M-step suffers from (scikit-learn issue #30382).
///
/// The log-density of row `x` under component `k`, with `xc = x − anchor`, is
/// `const_k + Σ_f F(xc)_f · coef_{f,k}` where `F` lists the products `xc_i·xc_j` (i ≤ j, or
/// i = j only for diagonal shapes) followed by `xc` itself. One matrix product over a chunk
/// of rows therefore yields every log-density, and the same features, weighted by the
/// responsibilities, yield the M-step's statistics.
public struct PreparedMixture: Sendable {
    /// The parameters this was prepared from.
    public let parameters: MixtureParameters
    /// The shift applied to every row.
    public let anchor: [Double]
    /// Precision Cholesky factors in scikit-learn's layout (`precisions_cholesky_`).
    public let precisionCholesky: [Double]
    /// The layout of the quadratic features.
    let layout: FeatureLayout
    /// Coefficients, `layout.count × K`, row-major.
    let coefficients: [Double]
    /// Per-component constants: `log w_k − ½ D log 2π + log|P_k| − ½ μcᵀΛμc`.
    let constants: [Double]
    /// For the whitened form of the E-step (full and tied shapes; empty otherwise): per component,
    /// `(μ_k − a)·P_k`, so that a row's `(x − a)·P_k` less this is `(x − μ_k)·P_k`.
    let whitenedMeans: [Double]
    /// Per component, `log w_k − ½ D log 2π + log|P_k|`: the log-density is this less ½‖(x − μ_k)·P_k‖².
    let whitenedConstants: [Double]

    /// Prepares `parameters` for evaluation with rows shifted by `anchor` (default: the mixture's overall mean).
    ///
    /// - Throws: `MixtureError.notPositiveDefinite` naming the component whose covariance fails.
    public init(_ parameters: MixtureParameters, anchor: [Double]? = nil) throws {
        let k = parameters.components, d = parameters.dimension
        let anchor = anchor ?? parameters.overallMean
        precondition(anchor.count == d, "anchor has the wrong length")
        self.parameters = parameters
        self.anchor = anchor
        let layout = FeatureLayout(covarianceType: parameters.covarianceType, dimension: d)
        self.layout = layout

        var coefficients = [Double](repeating: 0, count: layout.count * k)
        var constants = [Double](repeating: 0, count: k)
        let logTwoPi = log(2 * Double.pi)
        var centred = [Double](repeating: 0, count: d)

        switch parameters.covarianceType {
        case .full, .tied:
            let shared = parameters.covarianceType == .tied
            let factorCount = shared ? 1 : k
            var precisionFactors = [Double]()
            precisionFactors.reserveCapacity(factorCount * d * d)
            var precisions = [[Double]]()
            var logDeterminants = [Double]()
            for f in 0..<factorCount {
                let covariance = Array(parameters.covariances[(f * d * d)..<((f + 1) * d * d)])
                let lower: [Double]
                do {
                    lower = try Cholesky.lowerFactor(of: covariance, order: d)
                } catch {
                    throw MixtureError.notPositiveDefinite(component: shared ? nil : f, covarianceType: parameters.covarianceType)
                }
                let lowerInverse = try Cholesky.invertLowerTriangular(lower, order: d)
                // scikit-learn's precision Cholesky is inv(L)ᵀ (upper triangular); Λ = inv(L)ᵀ·inv(L).
                var upper = [Double](repeating: 0, count: d * d)
                var logDeterminant = 0.0
                for i in 0..<d {
                    logDeterminant += log(lowerInverse[i * d + i])
                    for j in 0..<d { upper[i * d + j] = lowerInverse[j * d + i] }
                }
                precisionFactors += upper
                precisions.append(BLAS.multiply(lowerInverse, rows: d, inner: d, lowerInverse, columns: d, transposeA: true))
                logDeterminants.append(logDeterminant)
            }
            self.precisionCholesky = precisionFactors
            var whitenedMeans = [Double](repeating: 0, count: k * d), whitenedConstants = [Double](repeating: 0, count: k)
            for c in 0..<k {
                let f = shared ? 0 : c
                for j in 0..<d {
                    var value = 0.0
                    for i in 0...j { value += (parameters.means[c * d + i] - anchor[i]) * precisionFactors[f * d * d + i * d + j] }
                    whitenedMeans[c * d + j] = value
                }
                whitenedConstants[c] = log(parameters.weights[c]) - 0.5 * Double(d) * logTwoPi + logDeterminants[f]
            }
            self.whitenedMeans = whitenedMeans
            self.whitenedConstants = whitenedConstants
            for c in 0..<k {
                let lambda = precisions[shared ? 0 : c]
                for j in 0..<d { centred[j] = parameters.means[c * d + j] - anchor[j] }
                var quadratic = 0.0
                var feature = 0
                for i in 0..<d {
                    for j in i..<d {
                        coefficients[feature * k + c] = i == j ? -0.5 * lambda[i * d + i] : -lambda[i * d + j]
                        feature += 1
                    }
                }
                for i in 0..<d {
                    var lambdaMean = 0.0
                    for j in 0..<d { lambdaMean += lambda[i * d + j] * centred[j] }
                    coefficients[(feature + i) * k + c] = lambdaMean
                    quadratic += centred[i] * lambdaMean
                }
                constants[c] = log(parameters.weights[c]) - 0.5 * Double(d) * logTwoPi
                    + logDeterminants[shared ? 0 : c] - 0.5 * quadratic
            }
        case .diag, .spherical:
            let spherical = parameters.covarianceType == .spherical
            var factors = [Double](repeating: 0, count: spherical ? k : k * d)
            for c in 0..<k {
                var logDeterminant = 0.0
                var quadratic = 0.0
                for j in 0..<d {
                    let variance = spherical ? parameters.covariances[c] : parameters.covariances[c * d + j]
                    guard variance > 0 else {
                        throw MixtureError.notPositiveDefinite(component: c, covarianceType: parameters.covarianceType)
                    }
                    let factor = 1 / variance.squareRoot()
                    if spherical { factors[c] = factor } else { factors[c * d + j] = factor }
                    logDeterminant += log(factor)
                    let precision = factor * factor
                    let mean = parameters.means[c * d + j] - anchor[j]
                    coefficients[j * k + c] = -0.5 * precision
                    coefficients[(d + j) * k + c] = precision * mean
                    quadratic += precision * mean * mean
                }
                constants[c] = log(parameters.weights[c]) - 0.5 * Double(d) * logTwoPi + logDeterminant - 0.5 * quadratic
            }
            self.precisionCholesky = factors
            whitenedMeans = []
            whitenedConstants = []
        }
        self.coefficients = coefficients
        self.constants = constants
    }
}

/// Which products of a shifted row the E-step and M-step work with.
struct FeatureLayout: Sendable, Equatable {
    let dimension: Int
    /// `true` for full and tied shapes (all products `x_i·x_j`, i ≤ j), `false` for diagonal ones (`x_i²`).
    let crossProducts: Bool

    init(covarianceType: CovarianceType, dimension: Int) {
        self.dimension = dimension
        self.crossProducts = covarianceType == .full || covarianceType == .tied
    }

    /// Number of quadratic features.
    var quadraticCount: Int { crossProducts ? dimension * (dimension + 1) / 2 : dimension }
    /// Total features: quadratic, then linear.
    var count: Int { quadraticCount + dimension }

    /// Fills `features` (rows × count) from shifted rows `shifted` (rows × dimension).
    func expand(_ shifted: UnsafePointer<Double>, rows: Int, into features: UnsafeMutablePointer<Double>) {
        VectorMath.expandQuadratic(
            shifted, rowCount: rows, dimension: dimension, crossProducts: crossProducts, into: features, stride: count)

    }
}
