import CKernels
import Foundation
import Numerics

/// The update rule.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    case sgd
    /// Adam (Kingma & Ba), with bias correction.
    case adam
}

/// Optimizer settings; the learning rate is passed to each update (it follows a schedule).
public struct OptimizerSettings: Codable, Equatable, Sendable {
    /// The update rule.
    public var kind: OptimizerKind
    /// SGD momentum μ (0 for plain SGD).
    public var momentum: Double
    /// SGD: use Nesterov's momentum.
    public var nesterov: Bool
    /// Adam: decay of the first-moment estimate.
    public var beta1: Double
    /// Adam: decay of the second-moment estimate.
    public var beta2: Double
    /// Adam: added to `√v` in the denominator.
    public var epsilon: Double

    /// Creates settings; the fields of the other kind are kept but unused.
    public init(kind: OptimizerKind, momentum: Double = 0.9, nesterov: Bool = false,
                beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8) {
        self.kind = kind
        self.momentum = momentum
        self.nesterov = nesterov
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }
}

/// The optimizer's state between updates: SGD's velocity, or Adam's moments and step count.
///
/// Codable for checkpoints: `JSONEncoder` writes each double's shortest round-trip form, so a
/// resumed run continues with the same bits.
public struct OptimizerState: Codable, Equatable, Sendable {
    /// Updates applied so far.
    public var step: Int
    /// SGD's velocity, or Adam's first moment `m`.
    public var first: [Double]
    /// Adam's second moment `v`; empty for SGD.
    public var second: [Double]

    /// A fresh state (zero moments, step 0) for `parameterCount` parameters.
    public init(parameterCount: Int, settings: OptimizerSettings) {
        step = 0
        first = [Double](repeating: 0, count: parameterCount)
        second = settings.kind == .adam ? [Double](repeating: 0, count: parameterCount) : []
    }

    /// Applies one update with the mean gradient.
    ///
    /// SGD: `v = μv − lr·g; w += v` (Nesterov: `w += μv − lr·g` with the new `v`). Adam, as in
    /// scikit-learn's `AdamOptimizer`: `m = β₁m + (1−β₁)g`, `v = β₂v + (1−β₂)g²`,
    /// `lr_t = lr·√(1−β₂ᵗ)/(1−β₁ᵗ)`, `w −= lr_t·m/(√v + ε)`.
    ///
    /// - Parameters:
    ///   - parameters: The parameters, updated in place.
    ///   - gradient: The mean gradient over the batch, one value per parameter.
    ///   - learningRate: This step's learning rate.
    ///   - settings: The settings the state was made for.
    ///   - gradientScale: Multiplies every gradient value first (a caller passing gradient sums
    ///     gives 1/rows), in the same pass.
    public mutating func update(
        parameters: inout [Double], gradient: [Double], learningRate: Double, settings: OptimizerSettings, gradientScale: Double = 1
    ) {
        let n = parameters.count
        require(gradient.count == n && first.count == n,
                "optimizer update: \(n) parameters, \(gradient.count) gradient values, state for \(first.count)")
        step += 1
        let scale = gradientScale
        switch settings.kind {
        case .sgd:
            let mu = settings.momentum, nesterov = settings.nesterov
            parameters.withUnsafeMutableBufferPointer { w in
                first.withUnsafeMutableBufferPointer { velocityBuffer in
                    gradient.withUnsafeBufferPointer { gradientBuffer in
                        for i in 0..<n {
                            let g = gradientBuffer[i] * scale
                            let velocity = mu * velocityBuffer[i] - learningRate * g
                            velocityBuffer[i] = velocity
                            w[i] += nesterov ? mu * velocity - learningRate * g : velocity
                        }
                    }
                }
            }
        case .adam:
            require(second.count == n, "optimizer update: Adam state has \(second.count) second moments for \(n) parameters")
            let beta1 = settings.beta1, beta2 = settings.beta2, epsilon = settings.epsilon
            let rate = adamRate(learningRate, settings)
            parameters.withUnsafeMutableBufferPointer { w in
                first.withUnsafeMutableBufferPointer { m in
                    second.withUnsafeMutableBufferPointer { v in
                        gradient.withUnsafeBufferPointer { g in
                            // Vectorised in C; the same operations in the same order as the definition above.
                            Self.inParts(of: n) { part in
                                emfleet_adam_update(
                                    w.baseAddress! + part.lowerBound, m.baseAddress! + part.lowerBound, v.baseAddress! + part.lowerBound,
                                    g.baseAddress! + part.lowerBound, part.count, scale, beta1, beta2, rate, epsilon)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adam's bias-corrected rate at the current step, `lr·√(1−β₂ᵗ)/(1−β₁ᵗ)`.
    private func adamRate(_ learningRate: Double, _ settings: OptimizerSettings) -> Double {
        let t = Double(step)
        return learningRate * (1 - pow(settings.beta2, t)).squareRoot() / (1 - pow(settings.beta1, t))
    }

    /// ``update(parameters:gradient:learningRate:settings:gradientScale:)`` from a gradient
    /// computed in single precision, also writing the new parameters rounded to `Float` into
    /// `narrowParameters` (the next step's weights for single-precision passes).
    ///
    /// The same bits as widening the gradient first and rounding the parameters after, without
    /// the two extra passes over every parameter: for Adam it is one pass.
    public mutating func update(
        parameters: inout [Double], narrowGradient: [Float], learningRate: Double, settings: OptimizerSettings, gradientScale: Double = 1,
        narrowParameters: inout [Float]
    ) {
        let n = parameters.count
        guard settings.kind == .adam else {
            update(parameters: &parameters, gradient: narrowGradient.map { Double($0) }, learningRate: learningRate, settings: settings,
                   gradientScale: gradientScale)
            narrowParameters = parameters.map { Float($0) }
            return
        }
        require(narrowGradient.count == n && first.count == n && second.count == n,
                "optimizer update: \(n) parameters, \(narrowGradient.count) gradient values, state for \(first.count)")
        if narrowParameters.count != n { narrowParameters = [Float](repeating: 0, count: n) }
        step += 1
        let beta1 = settings.beta1, beta2 = settings.beta2, epsilon = settings.epsilon, scale = gradientScale
        let rate = adamRate(learningRate, settings)
        parameters.withUnsafeMutableBufferPointer { w in
            first.withUnsafeMutableBufferPointer { m in
                second.withUnsafeMutableBufferPointer { v in
                    narrowGradient.withUnsafeBufferPointer { g in
                        narrowParameters.withUnsafeMutableBufferPointer { narrow in
                            Self.inParts(of: n) { part in
                                let i = part.lowerBound
                                emfleet_adam_update_narrow(
                                    w.baseAddress! + i, m.baseAddress! + i, v.baseAddress! + i, g.baseAddress! + i, part.count, scale,
                                    beta1, beta2, rate, epsilon, narrow.baseAddress! + i)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Runs `body` over consecutive parts of `0..<n` on up to all cores. Each parameter's update
    /// depends on its own values alone, so the parts change nothing in the result; a large
    /// network's update is memory-bound and a serial step of every training round.
    private static func inParts(of n: Int, _ body: (Range<Int>) -> Void) {
        // The pool's size, read once (Foundation's activeProcessorCount reads the cgroup's files
        // on every call, about 14 µs: 3.6% of a small network's training when each update read it).
        let parts = min(ParallelLanes.shared.threads, 8, max(1, n / (1 << 15)))
        guard parts > 1 else { return body(0..<n) }
        ParallelLanes.shared.run(lanes: parts) { p in body((p * n / parts)..<((p + 1) * n / parts)) }
    }
}

