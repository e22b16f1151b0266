import Foundation
import Mixture

/// A GMM→network pipeline as a file: the JSON format "emfleet.pipeline" of `docs/MODEL_FORMAT.md`,
/// both models and how they are joined.
public struct PipelineModelFile: Codable, Sendable {
    /// The value of `format`.
    public static let formatName = "emfleet.pipeline"
    /// Always ``formatName``.
    public var format = PipelineModelFile.formatName
    /// The format's version.
    public var version = 1
    /// "components" (the network predicts the mixture's component) or "labels".
    public var targets: String
    /// Whether the mixture's posteriors are appended to the network's inputs.
    public var posteriorsAsInputs: Bool
    /// The mixture, in its own file format.
    public var mixture: MixtureModelFile.Document
    /// The network, in its own file format.
    public var network: NetworkModelFile
    /// Held-out figures: agreement with the mixture, or accuracy with and without the posteriors.
    public var heldOut: [String: Double]

    enum CodingKeys: String, CodingKey {
        case format, version, targets, mixture, network
        case posteriorsAsInputs = "posteriors_as_inputs"
        case heldOut = "held_out"
    }

    /// Creates the file form of a pipeline.
    public init(targets: String, posteriorsAsInputs: Bool, mixture: MixtureModelFile.Document, network: NetworkModelFile, heldOut: [String: Double]) {
        self.targets = targets
        self.posteriorsAsInputs = posteriorsAsInputs
        self.mixture = mixture
        self.network = network
        self.heldOut = heldOut
    }

    /// Reads and checks a pipeline file: both models must load and fit together.
    ///
    /// - Throws: ``ModelFileError`` naming the file.
    public static func read(from path: String) throws -> PipelineModelFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(file: path, message: "cannot read the file (does it exist?)")
        }
        let file: PipelineModelFile
        do {
            file = try JSONDecoder().decode(PipelineModelFile.self, from: data)
        } catch {
            throw ModelFileError(file: path, message: "not an emfleet pipeline file (\(error.localizedDescription))")
        }
        guard file.format == formatName, file.version == 1 else {
            throw ModelFileError(file: path, message: "format \(file.format) version \(file.version), expected \(formatName) version 1")
        }
        do {
            let mixture = try file.mixture.model()
            _ = try file.network.parameters(extraInputs: file.posteriorsAsInputs ? mixture.parameters.components : 0)
        } catch {
            throw ModelFileError(file: path, message: "\(error)")
        }
        return file
    }

    /// Writes the file atomically, keys sorted.
    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The mixture's part in the network, prepared as in training.
    public func features() throws -> MixtureFeatures {
        MixtureFeatures(model: try mixture.model().prepared(), appendPosteriors: posteriorsAsInputs, componentTargets: targets == "components")
    }
}
