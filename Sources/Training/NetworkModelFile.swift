import Foundation
import Neural

/// A trained network as a file: the JSON format "emfleet.mlp" of `docs/MODEL_FORMAT.md`.
///
/// Doubles are written by `JSONEncoder`, shortest round-trip form: weights reload bit-exact.
public struct NetworkModelFile: Codable, Equatable, Sendable {
    /// The value of `format`.
    public static let formatName = "emfleet.mlp"
    public var format = NetworkModelFile.formatName
    public var version = 1
    /// "classification" or "regression".
    public var task: String
    public var architecture: NetworkArchitecture
    /// Per layer, the weights (fan-in rows of fan-out numbers) and the biases.
    public var layers: [Layer]
    public var standardisation: Standardisation
    /// The class names, in output order (classification).
    public var classes: [String]?
    public var history: [EpochRecord]
    public var bestEpoch: Int
    public var options: TrainingOptions
    public var training: Training

    /// One dense layer.
    public struct Layer: Codable, Equatable, Sendable {
        public var weights: [[Double]]
        public var biases: [Double]
    }

    /// Facts about the training data.
    public struct Training: Codable, Equatable, Sendable {
        public var rows: Int
        public var shards: Int
        /// The data's feature columns, in the network's input order: header names, or 0-based
        /// positions for files without names; absent in files of earlier emfleet versions.
        public var featureColumns: [String]?
        /// With `--missing mean`: each feature's mean over the training rows, which filled the
        /// training data's gaps and fills those of the rows the network is applied to; absent otherwise.
        public var imputationMeans: [Double]?

        enum CodingKeys: String, CodingKey {
            case rows, shards
            case featureColumns = "feature_columns"
            case imputationMeans = "imputation_means"
        }
    }

    enum CodingKeys: String, CodingKey {
        case format, version, task, architecture, layers, standardisation, classes, history, options, training
        case bestEpoch = "best_epoch"
    }

    /// The file form of a trained network.
    public init(_ network: TrainedNetwork, classes: [String]?) {
        let a = network.architecture
        task = a.loss == .meanSquaredError ? "regression" : "classification"
        architecture = a
        let sizes = a.layerSizes
        layers = (0..<(sizes.count - 1)).map { layer in
            let w = Array(network.parameters[a.weightRange(layer: layer)])
            let fanOut = sizes[layer + 1]
            return Layer(
                weights: (0..<sizes[layer]).map { Array(w[($0 * fanOut)..<(($0 + 1) * fanOut)]) },
                biases: Array(network.parameters[a.biasRange(layer: layer)]))
        }
        standardisation = network.standardisation
        self.classes = classes
        history = network.history
        bestEpoch = network.bestEpoch
        options = network.options
        training = Training(rows: network.rows, shards: network.shards)
    }

    /// The flat parameter vector, checked against the architecture.
    ///
    /// - Parameter extraInputs: inputs that come after the standardised features (a pipeline's posteriors).
    public func parameters(extraInputs: Int = 0) throws -> [Double] {
        let sizes = architecture.layerSizes
        guard layers.count == sizes.count - 1 else {
            throw NetworkModelError("has \(layers.count) layers; the architecture needs \(sizes.count - 1)")
        }
        var values = [Double](repeating: 0, count: architecture.parameterCount)
        for (index, layer) in layers.enumerated() {
            guard layer.weights.count == sizes[index], layer.weights.allSatisfy({ $0.count == sizes[index + 1] }),
                  layer.biases.count == sizes[index + 1]
            else { throw NetworkModelError("layer \(index + 1) is not \(sizes[index]) × \(sizes[index + 1]) weights and \(sizes[index + 1]) biases") }
            values.replaceSubrange(architecture.weightRange(layer: index), with: layer.weights.flatMap { $0 })
            values.replaceSubrange(architecture.biasRange(layer: index), with: layer.biases)
        }
        guard values.allSatisfy(\.isFinite) else { throw NetworkModelError("holds a NaN or infinite weight") }
        let features = architecture.inputs - extraInputs
        guard standardisation.mean.count == features, standardisation.scale.count == features else {
            throw NetworkModelError("the standardisation does not have \(features) columns")
        }
        if task == "classification", let classes, architecture.loss == .softmaxCrossEntropy, classes.count != architecture.outputs {
            throw NetworkModelError("has \(classes.count) classes but \(architecture.outputs) outputs")
        }
        return values
    }

    /// Writes the file atomically.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads and checks a model file.
    public static func read(from path: String, extraInputs: Int = 0) throws -> NetworkModelFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw NetworkModelError("\(path): cannot read the file (does it exist?)")
        }
        let model: NetworkModelFile
        do {
            model = try JSONDecoder().decode(NetworkModelFile.self, from: data)
        } catch {
            throw NetworkModelError("\(path): not an emfleet network model (\(error.localizedDescription))")
        }
        guard model.format == formatName, model.version == 1 else {
            throw NetworkModelError("\(path): format \(model.format) version \(model.version), expected \(formatName) version 1")
        }
        do {
            _ = try model.parameters(extraInputs: extraInputs)
        } catch let error as NetworkModelError {
            throw NetworkModelError("\(path): \(error.description)")
        }
        return model
    }
}

/// A network model file that cannot be used.
public struct NetworkModelError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
