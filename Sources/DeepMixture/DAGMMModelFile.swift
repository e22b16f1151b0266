import Foundation
import Mixture
import Numerics
import Training

/// Reads and writes DAGMM model files: JSON of format `emfleet.dagmm`, version 1, described in
/// `docs/MODEL_FORMAT.md`.
public enum DAGMMModelFile {
    /// The value of the file's `format` field.
    public static let format = "emfleet.dagmm"
    /// The current format version.
    public static let version = 1

    /// The file's JSON document.
    struct Document: Codable {
        var format: String
        var version: Int
        var nFeatures: Int
        var architecture: DAGMMArchitecture
        var options: DAGMMOptions
        var parameters: [Double]
        var standardisation: Standardisation
        var mixture: LatentMixture
        var history: [DAGMMEpoch]
        var trainingRows: Int
        var trainingEnergyQuantiles: [Double]
        var featureColumns: [String]?
        var imputationMeans: [Double]?

        enum CodingKeys: String, CodingKey {
            case format, version, architecture, options, parameters, standardisation, mixture, history
            case nFeatures = "n_features", trainingRows = "training_rows", trainingEnergyQuantiles = "training_energy_quantiles"
            case featureColumns = "feature_columns", imputationMeans = "imputation_means"
        }
    }

    /// The model as JSON bytes: sorted keys, the same bytes for the same model; every double
    /// reads back to the same bits.
    public static func encode(_ model: DAGMMModel) throws -> Data {
        let document = Document(
            format: format, version: version, nFeatures: model.architecture.inputs, architecture: model.architecture, options: model.options,
            parameters: model.parameters, standardisation: model.standardisation, mixture: model.mixture, history: model.history,
            trainingRows: model.trainingRows, trainingEnergyQuantiles: model.trainingEnergyQuantiles, featureColumns: model.featureColumns,
            imputationMeans: model.imputationMeans)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(document)
    }

    /// Decodes a model file's bytes, checking that every part fits the architecture; `source`
    /// names the file in error messages.
    public static func decode(_ data: Data, source: String) throws -> DAGMMModel {
        func fail(_ message: String) -> ModelFileError { ModelFileError(file: source, message: message) }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch let error as DecodingError {
            throw fail("not a DAGMM model file (\(ModelFileError.describing(error)))")
        } catch {
            throw fail("not valid JSON (\(error.localizedDescription))")
        }
        guard document.format == format else { throw fail("is a \(document.format) file, not an \(format) model") }
        guard document.version == version else {
            throw fail("is \(format) version \(document.version); this emfleet reads version \(version)")
        }
        let a = document.architecture
        // Widths are bounded before the parameter count is formed, so a damaged file cannot overflow it.
        let widest = 1 << 20
        guard (1...widest).contains(a.inputs), a.inputs == document.nFeatures, !a.encoder.isEmpty, a.encoder.count <= 64,
              a.encoder.allSatisfy({ (1...widest).contains($0) }), a.encoder.last! <= 256, a.estimator.count <= 64,
              a.estimator.allSatisfy({ (1...widest).contains($0) }), (1...widest).contains(a.components), a.parameterCount < Int(Int32.max) else {
            throw fail("architecture does not describe a network of n_features \(document.nFeatures) inputs")
        }
        let o = document.options
        guard o.encoder == a.encoder, o.estimator == a.estimator, o.components == a.components, o.activation == a.activation else {
            throw fail("options name other networks than architecture")
        }
        guard document.parameters.count == a.parameterCount else {
            throw fail("parameters holds \(document.parameters.count) numbers; the architecture has \(a.parameterCount) weights and biases")
        }
        guard VectorMath.allFinite(document.parameters) else { throw fail("parameters hold NaN or infinite numbers") }
        let s = document.standardisation
        guard s.mean.count == a.inputs, s.scale.count == a.inputs, VectorMath.allFinite(s.mean), VectorMath.allFinite(s.scale) else {
            throw fail("standardisation must hold n_features finite means and scales")
        }
        let mixture = document.mixture, m = a.latentSize
        guard mixture.weights.count == a.components, mixture.means.count == a.components, mixture.covariances.count == a.components,
              mixture.means.allSatisfy({ $0.count == m }), mixture.covariances.allSatisfy({ $0.count == m * m }) else {
            throw fail("mixture must hold \(a.components) weights, means of \(m) values and \(m)×\(m) covariances")
        }
        guard PreparedLatentMixture(mixture) != nil else {
            throw fail("mixture has a covariance that is not positive definite, or weights that are not positive")
        }
        guard document.trainingEnergyQuantiles.count >= 2, VectorMath.allFinite(document.trainingEnergyQuantiles),
              zip(document.trainingEnergyQuantiles, document.trainingEnergyQuantiles.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw fail("training_energy_quantiles must be at least 2 finite numbers in increasing order")
        }
        if let means = document.imputationMeans, means.count != a.inputs || !VectorMath.allFinite(means) {
            throw fail("imputation_means must hold n_features finite numbers")
        }
        if let columns = document.featureColumns, columns.count != a.inputs {
            throw fail("feature_columns names \(columns.count) columns; n_features is \(a.inputs)")
        }
        return DAGMMModel(
            architecture: a, options: document.options, parameters: document.parameters, standardisation: s, mixture: mixture,
            history: document.history, trainingRows: document.trainingRows, trainingEnergyQuantiles: document.trainingEnergyQuantiles,
            featureColumns: document.featureColumns, imputationMeans: document.imputationMeans)
    }

    /// Writes `model` to `path` atomically.
    public static func write(_ model: DAGMMModel, to path: String) throws {
        try encode(model).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads the model file at `path`.
    public static func read(from path: String) throws -> DAGMMModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(file: path, message: "cannot read the file (does it exist?)")
        }
        return try decode(data, source: path)
    }
}
