import Foundation
import Neural
import Numerics

/// Seeded standard-normal values.
func normals(_ count: Int, seed: UInt64) -> [Double] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in generator.nextNormal() }
}

/// The result of comparing an analytic gradient with central differences.
struct GradientCheckResult {
    /// max over parameters of |a − f| / max(|a|, |f|, 1e-8).
    var worstError: Double
    /// The parameter with the worst error.
    var worstIndex: Int
    /// Parameters compared.
    var checked: Int
    /// Whether every parameter is within the tolerance.
    var passed: Bool
}

/// Compares `analytic` with central differences `(f(w + h) − f(w − h)) / 2h` of `loss` on every parameter.
///
/// The denominator is the step actually taken, `(w + h) − (w − h)` in floating point.
func checkGradient(
    analytic: [Double], at parameters: [Double], h: Double = 1e-6, tolerance: Double = 1e-6,
    loss: ([Double]) -> Double
) -> GradientCheckResult {
    precondition(analytic.count == parameters.count)
    var worst = 0.0, worstIndex = 0
    var probe = parameters
    for i in parameters.indices {
        let plus = parameters[i] + h, minus = parameters[i] - h
        probe[i] = plus
        let upper = loss(probe)
        probe[i] = minus
        let lower = loss(probe)
        probe[i] = parameters[i]
        let numeric = (upper - lower) / (plus - minus)
        let error = abs(analytic[i] - numeric) / max(abs(analytic[i]), abs(numeric), 1e-8)
        if error > worst || error.isNaN { worst = error; worstIndex = i }
    }
    return GradientCheckResult(worstError: worst, worstIndex: worstIndex, checked: parameters.count, passed: worst <= tolerance)
}

/// A plain-loop forward pass, independent of the library's: every layer's pre-activations
/// (`rows × width`) and the per-row loss sum.
struct ReferenceNetwork {
    let architecture: NetworkArchitecture

    func preActivations(parameters: [Double], inputs: [Double], rows: Int) -> [[Double]] {
        let sizes = architecture.layerSizes
        var layerInput = inputs, result: [[Double]] = []
        for l in 0..<(sizes.count - 1) {
            let fanIn = sizes[l], fanOut = sizes[l + 1]
            let w = Array(parameters[architecture.weightRange(layer: l)])
            let b = Array(parameters[architecture.biasRange(layer: l)])
            var z = [Double](repeating: 0, count: rows * fanOut)
            for r in 0..<rows {
                for j in 0..<fanOut {
                    var sum = b[j]
                    for i in 0..<fanIn { sum += layerInput[r * fanIn + i] * w[i * fanOut + j] }
                    z[r * fanOut + j] = sum
                }
            }
            result.append(z)
            layerInput = z.map { apply(architecture.activation, $0) }
        }
        return result
    }

    func lossSum(parameters: [Double], inputs: [Double], rows: Int, targets: Targets) -> Double {
        let k = architecture.outputs
        let z = preActivations(parameters: parameters, inputs: inputs, rows: rows).last!
        var total = 0.0
        for r in 0..<rows {
            let logits = Array(z[(r * k)..<((r + 1) * k)])
            switch (architecture.loss, targets) {
            case let (.softmaxCrossEntropy, .classes(labels)):
                total += LogSpace.logSumExp(logits) - logits[labels[r]]
            case let (.binaryCrossEntropy, .classes(labels)):
                let p = 1 / (1 + exp(-logits[0]))
                total -= labels[r] == 1 ? log(p) : log(1 - p)
            case let (.binaryCrossEntropy, .values(t)):
                for j in 0..<k {
                    let p = 1 / (1 + exp(-logits[j]))
                    total -= t[r * k + j] * log(p) + (1 - t[r * k + j]) * log(1 - p)
                }
            case let (.meanSquaredError, .values(t)):
                for j in 0..<k { total += 0.5 * (logits[j] - t[r * k + j]) * (logits[j] - t[r * k + j]) }
            default:
                fatalError("no reference for this combination")
            }
        }
        return total
    }

    private func apply(_ activation: Activation, _ z: Double) -> Double {
        switch activation {
        case .relu: max(0, z)
        case .tanh: tanh(z)
        case .sigmoid: 1 / (1 + exp(-z))
        case .linear: z
        }
    }
}

/// Element-wise relative difference, with a floor on the scale.
func maximumRelativeDifference(_ a: [Double], _ b: [Double], floor: Double = 1e-12) -> Double {
    precondition(a.count == b.count)
    var worst = 0.0
    for i in a.indices { worst = max(worst, abs(a[i] - b[i]) / max(abs(a[i]), abs(b[i]), floor)) }
    return worst
}
