import Foundation
import Numerics

/// The non-linearity applied to every hidden layer.
public enum Activation: String, Codable, CaseIterable, Sendable {
    /// `max(0, z)`.
    case relu
    /// The hyperbolic tangent.
    case tanh
    /// The logistic function `1 / (1 + e^(−z))`.
    case sigmoid
    /// The identity (the network is then linear up to its output layer).
    case linear
}

/// The training loss, which also fixes the output layer's transformation.
public enum LossFunction: String, Codable, CaseIterable, Sendable {
    /// Class labels; the output layer is a softmax over `outputs` classes.
    case softmaxCrossEntropy = "cross-entropy"
    /// Targets in {0, 1}, one independent sigmoid per output (one output for a binary problem,
    /// several for multi-label).
    case binaryCrossEntropy = "binary-cross-entropy"
    /// Regression; the outputs are linear.
    case meanSquaredError = "mse"
}

/// The shape of a fully connected network: layer widths, hidden activation and loss.
///
/// Parameters live in one flat vector: for each layer in order, its weight matrix
/// (`fanIn × fanOut`, row-major, `W[i, j]` connects input `i` to unit `j`) followed by its
/// bias vector (`fanOut` values).
///
/// ```swift
/// let architecture = NetworkArchitecture(inputs: 32, hidden: [128, 64], outputs: 10,
///                                        activation: .relu, loss: .softmaxCrossEntropy)
/// architecture.parameterCount            // 32·128+128 + 128·64+64 + 64·10+10 = 13 258
/// ```
public struct NetworkArchitecture: Codable, Equatable, Sendable {
    /// Features per input row.
    public var inputs: Int
    /// Widths of the hidden layers, first to last (may be empty).
    public var hidden: [Int]
    /// Output units: classes (cross-entropy), labels (binary cross-entropy) or targets (MSE).
    public var outputs: Int
    /// The activation of the hidden layers; the output layer's follows from `loss`.
    public var activation: Activation
    /// The training loss.
    public var loss: LossFunction

    /// Creates an architecture; every width must be at least 1.
    public init(inputs: Int, hidden: [Int], outputs: Int, activation: Activation, loss: LossFunction) {
        precondition(inputs >= 1 && outputs >= 1 && hidden.allSatisfy { $0 >= 1 }, "every layer needs at least one unit")
        self.inputs = inputs
        self.hidden = hidden
        self.outputs = outputs
        self.activation = activation
        self.loss = loss
    }

    private enum CodingKeys: String, CodingKey { case inputs, hidden, outputs, activation, loss }

    /// Decodes an architecture, rejecting layers without units.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        inputs = try container.decode(Int.self, forKey: .inputs)
        hidden = try container.decode([Int].self, forKey: .hidden)
        outputs = try container.decode(Int.self, forKey: .outputs)
        activation = try container.decode(Activation.self, forKey: .activation)
        loss = try container.decode(LossFunction.self, forKey: .loss)
        guard inputs >= 1, outputs >= 1, hidden.allSatisfy({ $0 >= 1 }) else {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath,
                debugDescription: "every layer needs at least one unit, got \(layerSizes)"))
        }
    }

    /// `[inputs] + hidden + [outputs]`.
    public var layerSizes: [Int] { [inputs] + hidden + [outputs] }

    /// The number of weight layers (`hidden.count + 1`).
    public var layerCount: Int { hidden.count + 1 }

    /// Weights and biases of all layers together.
    public var parameterCount: Int {
        var count = 0, fanIn = inputs
        for fanOut in hidden + [outputs] {
            count += fanIn * fanOut + fanOut
            fanIn = fanOut
        }
        return count
    }

    /// Offsets of layer `layer`'s weight matrix in the flat parameter vector.
    ///
    /// The matrix is `fanIn × fanOut`, row-major: `W[i, j]` connects input `i` to unit `j`.
    /// Layers come in order, each its weights then its bias.
    public func weightRange(layer: Int) -> Range<Int> {
        let (start, fanIn, fanOut) = layerOffset(layer)
        return start..<(start + fanIn * fanOut)
    }

    /// Offsets of layer `layer`'s bias vector (`fanOut` values) in the flat parameter vector.
    public func biasRange(layer: Int) -> Range<Int> {
        let (start, fanIn, fanOut) = layerOffset(layer)
        return (start + fanIn * fanOut)..<(start + fanIn * fanOut + fanOut)
    }

    /// Width of layer `index` of `layerSizes` without building the array.
    func width(_ index: Int) -> Int {
        index == 0 ? inputs : (index <= hidden.count ? hidden[index - 1] : outputs)
    }

    private func layerOffset(_ layer: Int) -> (start: Int, fanIn: Int, fanOut: Int) {
        precondition(layer >= 0 && layer < layerCount, "layer \(layer) is out of range 0..<\(layerCount)")
        var start = 0
        for l in 0..<layer { start += width(l) * width(l + 1) + width(l + 1) }
        return (start, width(layer), width(layer + 1))
    }
}

/// How initial weights are drawn.
public enum WeightInitialisation: String, Codable, CaseIterable, Sendable {
    /// Glorot (Xavier) uniform: `U(−a, a)` with `a = √(6 / (fanIn + fanOut))`.
    case glorot
    /// He normal: `N(0, 2 / fanIn)`.
    case he
}

public extension NetworkArchitecture {
    /// Seeded initial parameters; biases are zero.
    ///
    /// Glorot-uniform weights lie in `±√(6/(fanIn+fanOut))`; He-normal weights have standard
    /// deviation `√(2/fanIn)`. Each layer draws from its own sub-stream of `seed`, so a
    /// layer's weights depend only on the seed, its index and its shape.
    ///
    /// - Parameters:
    ///   - seed: The seed; the same seed gives the same bits.
    ///   - scheme: The scheme; `nil` picks `.he` for ReLU networks and `.glorot` otherwise.
    /// - Returns: `parameterCount` values in the layout of `weightRange(layer:)` and `biasRange(layer:)`.
    func initialParameters(seed: UInt64, scheme: WeightInitialisation? = nil) -> [Double] {
        let scheme = scheme ?? (activation == .relu ? .he : .glorot)
        var parameters = [Double](repeating: 0, count: parameterCount)
        for layer in 0..<layerCount {
            let fanIn = width(layer), fanOut = width(layer + 1)
            var generator = SeededGenerator(seed: seed, stream: UInt64(layer))
            let range = weightRange(layer: layer)
            switch scheme {
            case .glorot:
                let limit = (6.0 / Double(fanIn + fanOut)).squareRoot()
                for i in range { parameters[i] = (2 * generator.nextUniform() - 1) * limit }
            case .he:
                let deviation = (2.0 / Double(fanIn)).squareRoot()
                for i in range { parameters[i] = generator.nextNormal() * deviation }
            }
        }
        return parameters
    }
}
