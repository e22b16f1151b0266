import Foundation
import Numerics

/// One fully connected layer of a ``LayerStack``: `fanIn × fanOut` weights, a bias, an activation.
public struct DenseLayer: Codable, Equatable, Sendable {
    /// Inputs per row.
    public var inputs: Int
    /// Units (outputs per row).
    public var outputs: Int
    /// The layer's non-linearity.
    public var activation: Activation

    /// Creates a layer; both widths must be at least 1.
    public init(inputs: Int, outputs: Int, activation: Activation) {
        precondition(inputs >= 1 && outputs >= 1, "a layer needs at least one input and one unit")
        self.inputs = inputs; self.outputs = outputs; self.activation = activation
    }
}

/// Fully connected layers, each with its own activation, run in double precision over a whole
/// batch: the pieces of models that join several networks and losses (DAGMM's compression and
/// estimation networks), where ``Network``'s one-activation, one-loss shape does not fit.
///
/// The parameters of a stack live in a caller's flat vector from some offset: for each layer in
/// order its weights (`inputs × outputs`, row-major) then its bias, as ``NetworkArchitecture``
/// lays them out. The passes are sequential BLAS products over the batch, so the same inputs
/// always give the same bits.
///
/// ```swift
/// let encoder = LayerStack(inputs: 9, widths: [60, 30, 10, 1], hidden: .tanh, last: .linear)
/// let pass = encoder.forward(parameters: weights, offset: 0, inputs: rows, rows: n)
/// let inputErrors = encoder.backward(parameters: weights, offset: 0, inputs: rows, pass: pass,
///                                    outputErrors: errors, gradient: &gradient)
/// ```
public struct LayerStack: Codable, Equatable, Sendable {
    /// The layers, first to last; each takes the previous one's outputs.
    public var layers: [DenseLayer]

    /// Creates a stack; each layer's inputs must be the previous layer's outputs.
    public init(layers: [DenseLayer]) {
        precondition(!layers.isEmpty, "a stack needs at least one layer")
        precondition(zip(layers, layers.dropFirst()).allSatisfy { $0.outputs == $1.inputs }, "each layer must take the previous one's outputs")
        self.layers = layers
    }

    /// A stack of `widths.count` layers from `inputs` features: `hidden` on every layer but the
    /// last, which has `last`.
    public init(inputs: Int, widths: [Int], hidden: Activation, last: Activation) {
        precondition(!widths.isEmpty, "a stack needs at least one layer")
        var fanIn = inputs, layers: [DenseLayer] = []
        for (index, width) in widths.enumerated() {
            layers.append(DenseLayer(inputs: fanIn, outputs: width, activation: index == widths.count - 1 ? last : hidden))
            fanIn = width
        }
        self.init(layers: layers)
    }

    /// Inputs per row.
    public var inputs: Int { layers[0].inputs }
    /// Outputs per row.
    public var outputs: Int { layers[layers.count - 1].outputs }

    /// Weights and biases of every layer.
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.inputs * $1.outputs + $1.outputs } }

    /// Where layer `layer`'s weights start, from the stack's first parameter (its bias follows them).
    public func weightOffset(_ layer: Int) -> Int {
        layers[..<layer].reduce(0) { $0 + $1.inputs * $1.outputs + $1.outputs }
    }

    /// Seeded Glorot-uniform weights (`U(±√(6/(fanIn+fanOut)))`) and zero biases; layer `l` draws
    /// from stream `stream + l` of `seed`, so two stacks given distinct streams draw apart.
    public func initialParameters(seed: UInt64, stream: UInt64) -> [Double] {
        var parameters = [Double](repeating: 0, count: parameterCount)
        for (l, layer) in layers.enumerated() {
            var generator = SeededGenerator(seed: seed, stream: stream &+ UInt64(l))
            let limit = (6.0 / Double(layer.inputs + layer.outputs)).squareRoot(), start = weightOffset(l)
            for i in start..<(start + layer.inputs * layer.outputs) { parameters[i] = (2 * generator.nextUniform() - 1) * limit }
        }
        return parameters
    }
}

/// What one forward pass of a ``LayerStack`` kept for its backward pass.
public struct StackPass: Sendable {
    /// Rows in the batch.
    public let rows: Int
    /// Each layer's outputs after its activation (and dropout), `rows × outputs` row-major.
    public fileprivate(set) var outputs: [[Double]]
    /// Per layer: the outputs before dropout, and the masks (empty for a layer without dropout).
    fileprivate var undropped: [[Double]]
    fileprivate var masks: [[Double]]

    /// The last layer's outputs.
    public var last: [Double] { outputs[outputs.count - 1] }
}

extension LayerStack {
    /// Runs the stack over `rows` rows of `inputs` with the parameters at `offset` of `parameters`.
    ///
    /// - Parameter dropout: units dropped after the activation of layer `l` with the rate
    ///   `dropout.rates[l]` (none past the rates given, and never in the last layer).
    public func forward(parameters: [Double], offset: Int, inputs: [Double], rows: Int, dropout: Dropout? = nil) -> StackPass {
        require(parameters.count >= offset + parameterCount, "the stack needs \(parameterCount) parameters from \(offset), got \(parameters.count)")
        require(inputs.count >= rows * self.inputs, "\(rows) rows need \(rows * self.inputs) inputs, got \(inputs.count)")
        var pass = StackPass(rows: rows, outputs: [], undropped: Array(repeating: [], count: layers.count), masks: Array(repeating: [], count: layers.count))
        parameters.withUnsafeBufferPointer { all in
            for (l, layer) in layers.enumerated() {
                let fanIn = layer.inputs, fanOut = layer.outputs
                let weights = all.baseAddress! + offset + weightOffset(l), bias = weights + fanIn * fanOut
                var z = [Double](repeating: 0, count: rows * fanOut)
                z.withUnsafeMutableBufferPointer { out in
                    for r in 0..<rows { (out.baseAddress! + r * fanOut).update(from: bias, count: fanOut) }
                    let source = l == 0 ? inputs : pass.outputs[l - 1]
                    source.withUnsafeBufferPointer { input in
                        guard rows > 0 else { return }
                        BLAS.gemm(transposeA: false, transposeB: false, m: rows, n: fanOut, k: fanIn, alpha: 1, a: input.baseAddress!, lda: fanIn,
                                  b: weights, ldb: fanOut, beta: 1, c: out.baseAddress!, ldc: fanOut)
                    }
                    Self.activate(layer.activation, out)
                }
                if let dropout, l < layers.count - 1, l < dropout.rates.count, dropout.rates[l] > 0 {
                    require(dropout.rowKeys.count >= rows, "dropout needs a key per row")
                    var mask = [Double](repeating: 0, count: rows * fanOut)
                    mask.withUnsafeMutableBufferPointer { m in
                        for r in 0..<rows { dropout.mask(layer: l, row: r, width: fanOut, into: m.baseAddress! + r * fanOut) }
                    }
                    pass.undropped[l] = z
                    for i in 0..<z.count { z[i] *= mask[i] }
                    pass.masks[l] = mask
                }
                pass.outputs.append(z)
            }
        }
        return pass
    }

    /// Back-propagates ∂loss/∂outputs of `pass` (rows × outputs), adds Σ_rows ∂loss/∂parameters
    /// to `gradient` at `offset` (the parameters' layout), and returns ∂loss/∂inputs (rows × inputs)
    /// when `inputErrors` (else an empty array).
    @discardableResult
    public func backward(
        parameters: [Double], offset: Int, inputs: [Double], pass: StackPass, outputErrors: [Double], gradient: inout [Double],
        inputErrors: Bool = true
    ) -> [Double] {
        let rows = pass.rows
        require(outputErrors.count == rows * outputs, "\(rows) rows need \(rows * outputs) output errors, got \(outputErrors.count)")
        require(gradient.count >= offset + parameterCount, "the gradient needs \(parameterCount) values from \(offset)")
        var delta = outputErrors
        Self.multiplyByDerivative(layers[layers.count - 1].activation, &delta, activations: pass.outputs[layers.count - 1])
        var result: [Double] = []
        parameters.withUnsafeBufferPointer { all in
            gradient.withUnsafeMutableBufferPointer { g in
                for l in stride(from: layers.count - 1, through: 0, by: -1) {
                    let fanIn = layers[l].inputs, fanOut = layers[l].outputs
                    let start = offset + weightOffset(l)
                    let input = l == 0 ? inputs : pass.outputs[l - 1]
                    guard rows > 0 else { break }
                    input.withUnsafeBufferPointer { a in
                        delta.withUnsafeBufferPointer { d in
                            BLAS.gemm(transposeA: true, transposeB: false, m: fanIn, n: fanOut, k: rows, alpha: 1, a: a.baseAddress!, lda: fanIn,
                                      b: d.baseAddress!, ldb: fanOut, beta: 1, c: g.baseAddress! + start, ldc: fanOut)
                        }
                    }
                    let bias = start + fanIn * fanOut
                    for r in 0..<rows {
                        for j in 0..<fanOut { g[bias + j] += delta[r * fanOut + j] }
                    }
                    guard l > 0 || inputErrors else { break }
                    var previous = [Double](repeating: 0, count: rows * fanIn)
                    delta.withUnsafeBufferPointer { d in
                        previous.withUnsafeMutableBufferPointer { p in
                            BLAS.gemm(transposeA: false, transposeB: true, m: rows, n: fanIn, k: fanOut, alpha: 1, a: d.baseAddress!, lda: fanOut,
                                      b: all.baseAddress! + start, ldb: fanOut, beta: 0, c: p.baseAddress!, ldc: fanIn)
                        }
                    }
                    if l == 0 {
                        result = previous
                        break
                    }
                    // a = f(z) ⊙ m: the error reaches f(z) through the mask, and f' is taken at the undropped value.
                    if !pass.masks[l - 1].isEmpty {
                        let mask = pass.masks[l - 1]
                        for i in 0..<previous.count { previous[i] *= mask[i] }
                        Self.multiplyByDerivative(layers[l - 1].activation, &previous, activations: pass.undropped[l - 1])
                    } else {
                        Self.multiplyByDerivative(layers[l - 1].activation, &previous, activations: pass.outputs[l - 1])
                    }
                    delta = previous
                }
            }
        }
        return result
    }

    private static func activate(_ activation: Activation, _ z: UnsafeMutableBufferPointer<Double>) {
        switch activation {
        case .relu: for i in z.indices { z[i] = max(z[i], 0) }
        case .tanh: for i in z.indices { z[i] = Foundation.tanh(z[i]) }
        case .sigmoid: for i in z.indices { z[i] = Network.sigmoid(z[i]) }
        case .linear: break
        }
    }

    /// `delta ⊙ f'(z)`, the derivative written in terms of the activation `a = f(z)`.
    private static func multiplyByDerivative(_ activation: Activation, _ delta: inout [Double], activations a: [Double]) {
        switch activation {
        case .relu: for i in delta.indices where a[i] <= 0 { delta[i] = 0 }
        case .tanh: for i in delta.indices { delta[i] *= 1 - a[i] * a[i] }
        case .sigmoid: for i in delta.indices { delta[i] *= a[i] * (1 - a[i]) }
        case .linear: break
        }
    }
}
