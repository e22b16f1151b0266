import Foundation
import Neural

/// The shape of a deep autoencoding Gaussian mixture (DAGMM, Zong et al., ICLR 2018).
///
/// - The compression network: an encoder `inputs → encoder[0] → … → encoder.last` (the code,
///   linear; the other layers `activation`) and its mirror, the decoder `code → … → inputs`
///   (linear output).
/// - Each row's latent features: the code, the relative reconstruction error `‖x − x′‖/‖x‖`
///   and the cosine similarity of `x` and `x′`.
/// - The estimation network: `features → estimator[…]` (`activation`, dropout) `→ components`,
///   a softmax giving each row's membership in the mixture's components.
///
/// Parameters live in one flat vector: the encoder's, the decoder's, then the estimator's
/// layers, each as ``LayerStack`` lays them out.
public struct DAGMMArchitecture: Codable, Equatable, Sendable {
    /// Features per input row.
    public var inputs: Int
    /// Widths of the encoder's layers; the last is the code's size.
    public var encoder: [Int]
    /// Widths of the estimation network's hidden layers.
    public var estimator: [Int]
    /// Mixture components.
    public var components: Int
    /// The activation of every layer but the code, the reconstruction and the memberships.
    public var activation: Activation

    /// Creates an architecture; every width must be at least 1 and there must be at least one component.
    public init(inputs: Int, encoder: [Int], estimator: [Int], components: Int, activation: Activation = .tanh) {
        precondition(inputs >= 1 && !encoder.isEmpty && encoder.allSatisfy { $0 >= 1 } && estimator.allSatisfy { $0 >= 1 } && components >= 1,
                     "every layer needs at least one unit and the mixture one component")
        self.inputs = inputs; self.encoder = encoder; self.estimator = estimator; self.components = components
        self.activation = activation
    }

    /// Size of the code.
    public var codeSize: Int { encoder[encoder.count - 1] }
    /// Size of the latent features the mixture is fitted to: the code and two reconstruction errors.
    public var latentSize: Int { codeSize + 2 }

    /// The encoder: inputs to code.
    public var encoderStack: LayerStack { LayerStack(inputs: inputs, widths: encoder, hidden: activation, last: .linear) }
    /// The decoder: code to reconstruction, the encoder's widths in reverse.
    public var decoderStack: LayerStack {
        LayerStack(inputs: codeSize, widths: Array(encoder.dropLast().reversed()) + [inputs], hidden: activation, last: .linear)
    }
    /// The estimation network: latent features to membership logits.
    public var estimatorStack: LayerStack { LayerStack(inputs: latentSize, widths: estimator + [components], hidden: activation, last: .linear) }

    /// Where the decoder's parameters start.
    public var decoderOffset: Int { encoderStack.parameterCount }
    /// Where the estimator's parameters start.
    public var estimatorOffset: Int { decoderOffset + decoderStack.parameterCount }
    /// Every weight and bias.
    public var parameterCount: Int { estimatorOffset + estimatorStack.parameterCount }

    /// The positions of every layer's weights (not its bias) in the parameters, for weight penalties.
    public var weightRanges: [Range<Int>] {
        [(encoderStack, 0), (decoderStack, decoderOffset), (estimatorStack, estimatorOffset)].flatMap { stack, offset in
            stack.layers.indices.map { l in
                let start = offset + stack.weightOffset(l)
                return start..<(start + stack.layers[l].inputs * stack.layers[l].outputs)
            }
        }
    }

    /// Seeded Glorot-uniform weights and zero biases for every layer.
    public func initialParameters(seed: UInt64) -> [Double] {
        encoderStack.initialParameters(seed: seed, stream: 0) + decoderStack.initialParameters(seed: seed, stream: 1000)
            + estimatorStack.initialParameters(seed: seed, stream: 2000)
    }
}

/// The loss's weights and the stabilisers of a DAGMM.
public struct DAGMMSettings: Codable, Equatable, Sendable {
    /// λ1: the weight of the mean energy in the loss.
    public var energyWeight: Double
    /// λ2: the weight of Σ_k Σ_j 1/Σ̂_k,jj, which keeps the covariances from collapsing.
    public var covariancePenalty: Double
    /// Added to the diagonal of each batch covariance Σ̂_k before it is factorised.
    public var covarianceRidge: Double
    /// The dropout rate of the estimation network's hidden layers in training steps.
    public var estimatorDropout: Double

    /// The paper's defaults: λ1 = 0.1, λ2 = 0.005, dropout 0.5, and a ridge of 1e-6.
    public init(energyWeight: Double = 0.1, covariancePenalty: Double = 0.005, covarianceRidge: Double = 1e-6, estimatorDropout: Double = 0.5) {
        self.energyWeight = energyWeight; self.covariancePenalty = covariancePenalty
        self.covarianceRidge = covarianceRidge; self.estimatorDropout = estimatorDropout
    }
}

/// A Gaussian mixture over the latent features, with full covariances.
public struct LatentMixture: Codable, Equatable, Sendable {
    /// φ_k, summing to 1.
    public var weights: [Double]
    /// μ_k, each `dimension` values.
    public var means: [[Double]]
    /// Σ_k, each `dimension × dimension`, row-major.
    public var covariances: [[Double]]

    /// Creates a mixture from its parts.
    public init(weights: [Double], means: [[Double]], covariances: [[Double]]) {
        self.weights = weights; self.means = means; self.covariances = covariances
    }

    /// Components.
    public var components: Int { weights.count }
    /// Features per row.
    public var dimension: Int { means.first?.count ?? 0 }
}

/// A latent mixture ready for energies: the Cholesky factor of each covariance and each
/// component's log normaliser `log φ_k − Σ_j log L_k,jj − (d/2)·log 2π`.
struct PreparedLatentMixture: Sendable {
    let mixture: LatentMixture
    /// Lower factors, row-major.
    let factors: [[Double]]
    let logNormalisers: [Double]

    /// Prepares `mixture`; nil when a covariance is not positive definite.
    init?(_ mixture: LatentMixture) {
        let d = mixture.dimension
        var factors: [[Double]] = [], normalisers: [Double] = []
        for k in 0..<mixture.components {
            guard let factor = SmallMatrix.cholesky(mixture.covariances[k], order: d), mixture.weights[k] > 0 else { return nil }
            var logDeterminantHalf = 0.0
            for j in 0..<d { logDeterminantHalf += Foundation.log(factor[j * d + j]) }
            factors.append(factor)
            normalisers.append(Foundation.log(mixture.weights[k]) - logDeterminantHalf - 0.5 * Double(d) * Foundation.log(2 * Double.pi))
        }
        self.mixture = mixture; self.factors = factors; logNormalisers = normalisers
    }

    /// The energy `−log Σ_k φ_k N(z | μ_k, Σ_k)` of one row, the posterior `w_k` of each
    /// component (into `posteriors`), and each component's whitened residual `y = L_k⁻¹(z − μ_k)`
    /// (into `whitened`, `K × d`).
    func energy(_ z: UnsafePointer<Double>, posteriors: inout [Double], whitened: inout [Double]) -> Double {
        let d = mixture.dimension, k = mixture.components
        var maximum = -Double.infinity
        for c in 0..<k {
            var squares = 0.0
            factors[c].withUnsafeBufferPointer { l in
                for i in 0..<d {
                    var value = z[i] - mixture.means[c][i]
                    for j in 0..<i { value -= l[i * d + j] * whitened[c * d + j] }
                    value /= l[i * d + i]
                    whitened[c * d + i] = value
                    squares += value * value
                }
            }
            posteriors[c] = logNormalisers[c] - 0.5 * squares
            maximum = max(maximum, posteriors[c])
        }
        var sum = 0.0
        for c in 0..<k { posteriors[c] = Foundation.exp(posteriors[c] - maximum); sum += posteriors[c] }
        for c in 0..<k { posteriors[c] /= sum }
        return -(maximum + Foundation.log(sum))
    }

    /// `Σ_k⁻¹ (z − μ_k) = L_k⁻ᵀ y` from a whitened residual `y` of component `c`.
    func precisionTimesResidual(component c: Int, whitened: ArraySlice<Double>, into out: inout [Double]) {
        let d = mixture.dimension, l = factors[c], base = whitened.startIndex
        for i in stride(from: d - 1, through: 0, by: -1) {
            var value = whitened[base + i]
            for j in (i + 1)..<max(i + 1, d) { value -= l[j * d + i] * out[j] }
            out[i] = value / l[i * d + i]
        }
    }
}

/// Dense linear algebra on the few-by-few matrices of a latent mixture, in plain sequential
/// arithmetic (the same bits on every CPU).
enum SmallMatrix {
    /// The lower Cholesky factor of a symmetric `n × n` row-major matrix; nil when it is not
    /// positive definite.
    static func cholesky(_ a: [Double], order n: Int) -> [Double]? {
        var l = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var sum = a[i * n + j]
                for p in 0..<j { sum -= l[i * n + p] * l[j * n + p] }
                if i == j {
                    guard sum > 0, sum.isFinite else { return nil }
                    l[i * n + i] = sum.squareRoot()
                } else {
                    l[i * n + j] = sum / l[j * n + j]
                }
            }
        }
        return l
    }

    /// `A⁻¹ = L⁻ᵀ L⁻¹` from the lower factor `L` of `A`.
    static func inverse(fromFactor l: [Double], order n: Int) -> [Double] {
        // Columns of L⁻¹ by forward substitution, then A⁻¹ = (L⁻¹)ᵀ L⁻¹.
        var inverseFactor = [Double](repeating: 0, count: n * n)
        for column in 0..<n {
            for i in column..<n {
                var value = i == column ? 1.0 : 0.0
                for p in column..<i { value -= l[i * n + p] * inverseFactor[p * n + column] }
                inverseFactor[i * n + column] = value / l[i * n + i]
            }
        }
        var result = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0..<n {
                var sum = 0.0
                for p in max(i, j)..<n { sum += inverseFactor[p * n + i] * inverseFactor[p * n + j] }
                result[i * n + j] = sum
            }
        }
        return result
    }

    /// `A·B` of two `n × n` row-major matrices.
    static func multiply(_ a: [Double], _ b: [Double], order n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for p in 0..<n {
                let value = a[i * n + p]
                for j in 0..<n { c[i * n + j] += value * b[p * n + j] }
            }
        }
        return c
    }
}
