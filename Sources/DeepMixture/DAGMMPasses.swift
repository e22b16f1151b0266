import Foundation
import Neural

/// Sums over some rows of a DAGMM task: they add up over shards by the shard tree.
///
/// A batch's membership statistics (`statistics` tasks: `Σγ_k`, `Σγ_k z`, `Σγ_k zzᵀ` of the
/// estimator's memberships γ and the latent features z), or the moments of the energy's own
/// posteriors w about each component's mean (`energies` tasks: `Σw_k`, `Σw_k r`, `Σw_k rrᵀ`,
/// `r = z − μ_k`), which give the gradient of the mean energy with respect to the mixture.
public struct LatentMoments: Sendable, Equatable {
    /// Rows summed.
    public var rows: Int
    /// Σ ‖x − x′‖² over the rows.
    public var reconstruction: Double
    /// Σ of the rows' energies (energy tasks; 0 otherwise).
    public var energy: Double
    /// Per component, `K` values.
    public var counts: [Double]
    /// Per component, `K × d` values.
    public var first: [Double]
    /// Per component, `K × d × d` values (row-major matrices).
    public var second: [Double]

    /// Zero sums for `components` components of `dimension` latent features.
    public init(components: Int, dimension: Int) {
        rows = 0; reconstruction = 0; energy = 0
        counts = Array(repeating: 0, count: components)
        first = Array(repeating: 0, count: components * dimension)
        second = Array(repeating: 0, count: components * dimension * dimension)
    }

    /// Adds the sums of the rows after these.
    public mutating func add(_ other: LatentMoments) {
        rows += other.rows
        reconstruction += other.reconstruction
        energy += other.energy
        for i in counts.indices { counts[i] += other.counts[i] }
        for i in first.indices { first[i] += other.first[i] }
        for i in second.indices { second[i] += other.second[i] }
    }

    /// Whether every sum is finite.
    public var isFinite: Bool {
        reconstruction.isFinite && energy.isFinite && (counts + first + second).allSatisfy(\.isFinite)
    }
}

/// The derivatives of a step's loss with respect to its batch's membership statistics (as
/// ``LatentMoments`` holds them), and the scales of the per-row terms: what every shard needs to
/// back-propagate the loss through its rows.
public struct MixtureChain: Sendable, Equatable {
    /// ∂loss/∂Σγ_k.
    public var counts: [Double]
    /// ∂loss/∂Σγ_k z.
    public var first: [Double]
    /// ∂loss/∂Σγ_k zzᵀ (symmetric).
    public var second: [Double]
    /// λ1 / N: the weight of each row's energy in the loss.
    public var energyScale: Double
    /// 1 / N: the weight of each row's squared reconstruction error in the loss.
    public var reconstructionScale: Double

    /// Creates the derivatives.
    public init(counts: [Double], first: [Double], second: [Double], energyScale: Double, reconstructionScale: Double) {
        self.counts = counts; self.first = first; self.second = second
        self.energyScale = energyScale; self.reconstructionScale = reconstructionScale
    }
}

/// One forward pass of a DAGMM over some rows, kept for the tasks of one step.
struct DAGMMForward {
    let rows: Int
    /// The standardised rows, `rows × inputs`.
    let inputs: [Double]
    let encoder: StackPass
    let decoder: StackPass
    let estimator: StackPass
    /// `rows × latentSize`: the code, the relative reconstruction error, the cosine similarity.
    let latent: [Double]
    /// `rows × components`: the softmax of the estimator's outputs.
    let memberships: [Double]
    /// Per row: `‖x‖`, `‖x − x′‖`, `‖x′‖` (each with ``DAGMMPasses/normFloor`` added in
    /// quadrature, so that a zero row gives finite errors) and `x·x′`.
    let inputNorms: [Double], errorNorms: [Double], reconstructionNorms: [Double], dots: [Double]
}

/// The arithmetic of a DAGMM over a batch of rows: the forward pass, the sums of each task and
/// the backward pass, in double precision.
enum DAGMMPasses {
    /// Added in quadrature to every norm of the error features.
    static let normFloor = 1e-8

    static func forward(_ architecture: DAGMMArchitecture, parameters: [Double], inputs: [Double], rows: Int, dropout: Dropout?) -> DAGMMForward {
        let d = architecture.inputs, c = architecture.codeSize, m = architecture.latentSize, k = architecture.components
        let encoder = architecture.encoderStack.forward(parameters: parameters, offset: 0, inputs: inputs, rows: rows)
        let code = encoder.last
        let decoder = architecture.decoderStack.forward(parameters: parameters, offset: architecture.decoderOffset, inputs: code, rows: rows)
        let reconstruction = decoder.last
        var latent = [Double](repeating: 0, count: rows * m)
        var inputNorms = [Double](repeating: 0, count: rows), errorNorms = inputNorms, reconstructionNorms = inputNorms, dots = inputNorms
        let floor = normFloor * normFloor
        for r in 0..<rows {
            var xx = 0.0, ee = 0.0, pp = 0.0, xp = 0.0
            for j in 0..<d {
                let x = inputs[r * d + j], p = reconstruction[r * d + j], e = x - p
                xx += x * x; ee += e * e; pp += p * p; xp += x * p
            }
            let nx = (xx + floor).squareRoot(), ne = (ee + floor).squareRoot(), np = (pp + floor).squareRoot()
            inputNorms[r] = nx; errorNorms[r] = ne; reconstructionNorms[r] = np; dots[r] = xp
            for j in 0..<c { latent[r * m + j] = code[r * c + j] }
            latent[r * m + c] = ne / nx
            latent[r * m + c + 1] = xp / (nx * np)
        }
        let estimator = architecture.estimatorStack.forward(
            parameters: parameters, offset: architecture.estimatorOffset, inputs: latent, rows: rows, dropout: dropout)
        var memberships = estimator.last
        for r in 0..<rows {
            var maximum = -Double.infinity
            for j in 0..<k { maximum = max(maximum, memberships[r * k + j]) }
            var sum = 0.0
            for j in 0..<k { memberships[r * k + j] = Foundation.exp(memberships[r * k + j] - maximum); sum += memberships[r * k + j] }
            for j in 0..<k { memberships[r * k + j] /= sum }
        }
        return DAGMMForward(rows: rows, inputs: inputs, encoder: encoder, decoder: decoder, estimator: estimator, latent: latent,
                            memberships: memberships, inputNorms: inputNorms, errorNorms: errorNorms,
                            reconstructionNorms: reconstructionNorms, dots: dots)
    }

    /// Σ ‖x − x′‖² of the pass's rows.
    static func reconstructionSum(_ pass: DAGMMForward) -> Double {
        var sum = 0.0
        for r in 0..<pass.rows { sum += (pass.errorNorms[r] * pass.errorNorms[r] - normFloor * normFloor) }
        return sum
    }

    /// The membership statistics of the rows (and their reconstruction error).
    static func statistics(_ pass: DAGMMForward, architecture: DAGMMArchitecture) -> LatentMoments {
        let m = architecture.latentSize, k = architecture.components
        var sums = LatentMoments(components: k, dimension: m)
        sums.rows = pass.rows
        sums.reconstruction = reconstructionSum(pass)
        for r in 0..<pass.rows {
            for c in 0..<k {
                let g = pass.memberships[r * k + c]
                sums.counts[c] += g
                for i in 0..<m {
                    let gz = g * pass.latent[r * m + i]
                    sums.first[c * m + i] += gz
                    for j in 0..<m { sums.second[(c * m + i) * m + j] += gz * pass.latent[r * m + j] }
                }
            }
        }
        return sums
    }

    /// The rows' energy sum and the moments of the energy's posteriors about each mean.
    static func energyMoments(_ pass: DAGMMForward, architecture: DAGMMArchitecture, mixture: PreparedLatentMixture) -> LatentMoments {
        let m = architecture.latentSize, k = architecture.components
        var sums = LatentMoments(components: k, dimension: m)
        sums.rows = pass.rows
        sums.reconstruction = reconstructionSum(pass)
        var posteriors = [Double](repeating: 0, count: k), whitened = [Double](repeating: 0, count: k * m)
        var residual = [Double](repeating: 0, count: m)
        pass.latent.withUnsafeBufferPointer { latent in
            for r in 0..<pass.rows {
                sums.energy += mixture.energy(latent.baseAddress! + r * m, posteriors: &posteriors, whitened: &whitened)
                for c in 0..<k {
                    let w = posteriors[c]
                    sums.counts[c] += w
                    for i in 0..<m { residual[i] = latent[r * m + i] - mixture.mixture.means[c][i] }
                    for i in 0..<m {
                        let wr = w * residual[i]
                        sums.first[c * m + i] += wr
                        for j in 0..<m { sums.second[(c * m + i) * m + j] += wr * residual[j] }
                    }
                }
            }
        }
        return sums
    }

    /// Each row's energy under `mixture`.
    static func energies(_ pass: DAGMMForward, architecture: DAGMMArchitecture, mixture: PreparedLatentMixture) -> [Double] {
        let m = architecture.latentSize, k = architecture.components
        var posteriors = [Double](repeating: 0, count: k), whitened = [Double](repeating: 0, count: k * m)
        return pass.latent.withUnsafeBufferPointer { latent in
            (0..<pass.rows).map { r in mixture.energy(latent.baseAddress! + r * m, posteriors: &posteriors, whitened: &whitened) }
        }
    }

    /// Σ over the rows of ∂loss/∂parameters, for the batch mixture `mixture` and the loss's
    /// derivatives `chain` with respect to the batch's statistics.
    static func gradient(
        _ pass: DAGMMForward, architecture: DAGMMArchitecture, parameters: [Double], mixture: PreparedLatentMixture, chain: MixtureChain
    ) -> [Double] {
        let d = architecture.inputs, c = architecture.codeSize, m = architecture.latentSize, k = architecture.components
        let n = pass.rows
        var gradient = [Double](repeating: 0, count: architecture.parameterCount)
        guard n > 0 else { return gradient }
        // ∂loss/∂z (direct: the row's energy and the statistics' dependence on z) and ∂loss/∂logits.
        var latentErrors = [Double](repeating: 0, count: n * m)
        var logitErrors = [Double](repeating: 0, count: n * k)
        var posteriors = [Double](repeating: 0, count: k), whitened = [Double](repeating: 0, count: k * m)
        var precisionResidual = [Double](repeating: 0, count: m), membershipErrors = [Double](repeating: 0, count: k)
        pass.latent.withUnsafeBufferPointer { latent in
            for r in 0..<n {
                let z = latent.baseAddress! + r * m
                _ = mixture.energy(z, posteriors: &posteriors, whitened: &whitened)
                for comp in 0..<k {
                    // The energy: ∂E/∂z = Σ_k w_k Σ_k⁻¹(z − μ_k).
                    mixture.precisionTimesResidual(component: comp, whitened: whitened[(comp * m)..<(comp * m + m)], into: &precisionResidual)
                    let w = posteriors[comp] * chain.energyScale
                    // The statistics: ∂/∂γ_k = G0 + G1·z + zᵀG2z; ∂/∂z = γ_k (G1 + 2·G2 z).
                    let g = pass.memberships[r * k + comp]
                    var membershipError = chain.counts[comp]
                    for i in 0..<m {
                        var g2z = 0.0
                        for j in 0..<m { g2z += chain.second[(comp * m + i) * m + j] * z[j] }
                        membershipError += (chain.first[comp * m + i] + g2z) * z[i]
                        latentErrors[r * m + i] += w * precisionResidual[i] + g * (chain.first[comp * m + i] + 2 * g2z)
                    }
                    membershipErrors[comp] = membershipError
                }
                // Through the softmax: ∂/∂h_j = γ_j (g_j − Σ_k γ_k g_k).
                var mean = 0.0
                for comp in 0..<k { mean += pass.memberships[r * k + comp] * membershipErrors[comp] }
                for comp in 0..<k { logitErrors[r * k + comp] = pass.memberships[r * k + comp] * (membershipErrors[comp] - mean) }
            }
        }
        let throughEstimator = architecture.estimatorStack.backward(
            parameters: parameters, offset: architecture.estimatorOffset, inputs: pass.latent, pass: pass.estimator,
            outputErrors: logitErrors, gradient: &gradient)
        for i in 0..<(n * m) { latentErrors[i] += throughEstimator[i] }
        // ∂loss/∂x′: the reconstruction term and the two error features.
        let reconstruction = pass.decoder.last
        var reconstructionErrors = [Double](repeating: 0, count: n * d)
        for r in 0..<n {
            let nx = pass.inputNorms[r], ne = pass.errorNorms[r], np = pass.reconstructionNorms[r], xp = pass.dots[r]
            let relativeError = latentErrors[r * m + c], cosine = latentErrors[r * m + c + 1]
            let squareScale = 2 * chain.reconstructionScale
            let errorScale = -relativeError / (ne * nx)
            let inputScale = cosine / (nx * np), reconstructionScale = -cosine * xp / (nx * np * np * np)
            for j in 0..<d {
                let x = pass.inputs[r * d + j], p = reconstruction[r * d + j]
                reconstructionErrors[r * d + j] = squareScale * (p - x) + errorScale * (x - p) + inputScale * x + reconstructionScale * p
            }
        }
        let code = pass.encoder.last
        let throughDecoder = architecture.decoderStack.backward(
            parameters: parameters, offset: architecture.decoderOffset, inputs: code, pass: pass.decoder,
            outputErrors: reconstructionErrors, gradient: &gradient)
        var codeErrors = throughDecoder
        for r in 0..<n {
            for j in 0..<c { codeErrors[r * c + j] += latentErrors[r * m + j] }
        }
        architecture.encoderStack.backward(
            parameters: parameters, offset: 0, inputs: pass.inputs, pass: pass.encoder, outputErrors: codeErrors, gradient: &gradient,
            inputErrors: false)
        return gradient
    }
}
