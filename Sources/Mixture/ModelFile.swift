import Datasets
import Foundation

/// Reads and writes mixture model files: the JSON format of `docs/MODEL_FORMAT.md`.
///
/// Numbers are written by `JSONEncoder`, whose shortest round-trip representation of each
/// double reads back to the same bits, so a saved model reloads exactly.
public enum MixtureModelFile {
    /// The value of the file's `format` field.
    public static let format = "emfleet.gaussian-mixture"
    /// The current format version of Gaussian mixtures fitted by EM.
    public static let version = 1
    /// The format version of variational mixtures (version 1 and the `variational` object).
    public static let variationalVersion = 2

    /// The model as JSON bytes: sorted keys, one value per line, the same bytes for the same model
    /// (and the bytes `JSONEncoder` gives for its ``Document`` with `.prettyPrinted, .sortedKeys`).
    public static func encode(_ model: GaussianMixture) throws -> Data {
        var bytes = Data()
        try encode(model) { bytes.append($0) }
        return bytes
    }

    /// Hands the model's JSON bytes to `sink` piece by piece. `JSONEncoder` builds a tree of every
    /// number before writing, about 80 bytes each: 450 MB for eight full 784 × 784 covariances.
    /// So the covariances, all but a few hundred of the numbers of a wide model, are written here
    /// in its format (two spaces per level, a number's `description` without a final ".0"),
    /// spliced into the rest of the document, which `JSONEncoder` writes.
    static func encode(_ model: GaussianMixture, into sink: (Data) throws -> Void) throws {
        var document = Document(model)
        document.covariances = .spliced
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let rest = try encoder.encode(document)
        let marker = Data("\"covariances\" : \"\(CovarianceValues.splicedMarker)\"".utf8)
        guard let found = rest.range(of: marker) else { preconditionFailure("the covariances' marker is missing") }
        // The key's indentation: the spaces that begin its line.
        let lineStart = rest[..<found.lowerBound].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? rest.startIndex
        let indent = rest[lineStart...].prefix(while: { $0 == UInt8(ascii: " ") }).count
        let valueStart = found.lowerBound + marker.count - CovarianceValues.splicedMarker.utf8.count - 2
        try sink(rest[..<valueStart])
        let p = model.parameters, k = p.components, d = p.dimension
        let shape: [Int] = switch p.covarianceType {
        case .full: [k, d, d]
        case .tied: [d, d]
        case .diag: [k, d]
        case .spherical: [k]
        }
        var text = ""
        text.reserveCapacity(1 << 20)
        try p.covariances.withUnsafeBufferPointer { values in
            var next = 0
            func array(level: Int, indent: Int) throws {
                text += "[\n"
                let pad = String(repeating: " ", count: indent + 2)
                for i in 0..<shape[level] {
                    text += pad
                    if level == shape.count - 1 {
                        let value = values[next].description
                        text += value.hasSuffix(".0") ? String(value.dropLast(2)) : value
                        next += 1
                    } else {
                        try array(level: level + 1, indent: indent + 2)
                    }
                    text += i == shape[level] - 1 ? "\n" : ",\n"
                    if text.utf8.count >= 1 << 20 {
                        try sink(Data(text.utf8))
                        text.removeAll(keepingCapacity: true)
                    }
                }
                text += String(repeating: " ", count: indent) + "]"
            }
            try array(level: 0, indent: indent)
        }
        try sink(Data(text.utf8))
        try sink(rest[found.upperBound...])
    }

    /// Decodes a model file's bytes; `source` names the file in error messages.
    public static func decode(_ data: Data, source: String) throws -> GaussianMixture {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch let error as DecodingError {
            throw ModelFileError(file: source, message: ModelFileError.describing(error))
        } catch {
            throw ModelFileError(file: source, message: "not valid JSON (\(error.localizedDescription))")
        }
        do {
            return try document.model()
        } catch let error as ModelFileError {
            throw ModelFileError(file: source, message: error.message)
        } catch {
            throw ModelFileError(file: source, message: "\(error)")
        }
    }

    /// Writes `model` to `path` atomically (a failed write never leaves half a file), a piece at a
    /// time, so a wide model never stands whole in memory as text.
    ///
    /// - Throws: `DatasetError` naming `path` when it cannot be created or written (a full disk included).
    public static func write(_ model: GaussianMixture, to path: String) throws {
        try AtomicFileWriter.write(to: path) { file in
            try encode(model) { piece in try piece.withUnsafeBytes { try file.write($0) } }
        }
    }

    /// Reads the model file at `path`.
    public static func read(from path: String) throws -> GaussianMixture {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(file: path, message: "cannot read the file (does it exist?)")
        }
        return try decode(data, source: path)
    }

    /// The JSON document (public so that other files can embed it). Matrices are nested arrays in scikit-learn's shapes, so
    /// `np.array(doc["means"])` is `means_` and `np.array(doc["covariances"])` is `covariances_`.
    public struct Document: Codable, Sendable {
        var format: String
        var version: Int
        var kind: String
        var covarianceType: CovarianceType
        var nComponents: Int
        var nFeatures: Int
        var weights: [Double]
        var means: [[Double]]
        var covariances: CovarianceValues
        var converged: Bool
        var nIter: Int
        var lowerBound: Double?
        var logLikelihoodHistory: [Double]
        var options: FitOptions?
        var training: GaussianMixture.TrainingFacts?
        var variational: VariationalDocument?

        enum CodingKeys: String, CodingKey {
            case format, version, kind, weights, means, covariances, converged, options, training, variational
            case covarianceType = "covariance_type"
            case nComponents = "n_components"
            case nFeatures = "n_features"
            case nIter = "n_iter"
            case lowerBound = "lower_bound"
            case logLikelihoodHistory = "log_likelihood_history"
        }

        /// The document of `model`.
        public init(_ model: GaussianMixture) {
            let p = model.parameters
            let d = p.dimension
            format = MixtureModelFile.format
            version = model.variational == nil ? MixtureModelFile.version : MixtureModelFile.variationalVersion
            kind = model.variational == nil ? "gaussian-mixture" : "bayesian-gaussian-mixture"
            covarianceType = p.covarianceType
            nComponents = p.components
            nFeatures = d
            weights = p.weights
            means = (0..<p.components).map { Array(p.means[($0 * d)..<(($0 + 1) * d)]) }
            switch p.covarianceType {
            case .full:
                covariances = .matrices((0..<p.components).map { c in
                    (0..<d).map { i in Array(p.covariances[(c * d * d + i * d)..<(c * d * d + (i + 1) * d)]) }
                })
            case .tied:
                covariances = .matrix((0..<d).map { i in Array(p.covariances[(i * d)..<((i + 1) * d)]) })
            case .diag:
                covariances = .matrix((0..<p.components).map { c in Array(p.covariances[(c * d)..<((c + 1) * d)]) })
            case .spherical:
                covariances = .vector(p.covariances)
            }
            converged = model.converged
            nIter = model.iterations
            lowerBound = model.lowerBound.isFinite ? model.lowerBound : nil
            logLikelihoodHistory = model.logLikelihoodHistory
            options = model.options
            training = model.training
            variational = model.variational.map(VariationalDocument.init)
        }

        /// The model, checked (a `ModelFileError` without a file name when something is wrong).
        public func model() throws -> GaussianMixture {
            guard format == MixtureModelFile.format else {
                throw ModelFileError(file: "", message: "format is \"\(format)\", expected \"\(MixtureModelFile.format)\"")
            }
            guard version == MixtureModelFile.version || version == MixtureModelFile.variationalVersion else {
                throw ModelFileError(
                    file: "",
                    message: "format version \(version) is not supported (this emfleet reads versions \(MixtureModelFile.version) and \(MixtureModelFile.variationalVersion))")
            }
            guard (version == MixtureModelFile.variationalVersion) == (variational != nil) else {
                throw ModelFileError(
                    file: "", message: version == MixtureModelFile.variationalVersion
                        ? "missing field \"variational\" (a version-2 file holds a variational mixture)"
                        : "a variational mixture must be a version-\(MixtureModelFile.variationalVersion) file")
            }
            let k = nComponents, d = nFeatures
            guard means.count == k, means.allSatisfy({ $0.count == d }) else {
                throw ModelFileError(file: "", message: "means must be \(k) rows of \(d) numbers")
            }
            let flat: [Double]
            switch (covarianceType, covariances) {
            case let (.full, .matrices(m)) where m.count == k && m.allSatisfy({ $0.count == d && $0.allSatisfy { $0.count == d } }):
                flat = m.flatMap { $0.flatMap { $0 } }
            case let (.tied, .matrix(m)) where m.count == d && m.allSatisfy({ $0.count == d }):
                flat = m.flatMap { $0 }
            case let (.diag, .matrix(m)) where m.count == k && m.allSatisfy({ $0.count == d }):
                flat = m.flatMap { $0 }
            case let (.spherical, .vector(v)) where v.count == k:
                flat = v
            default:
                throw ModelFileError(file: "", message: "covariances do not have the shape of \(k) \(covarianceType.rawValue) components in \(d) dimensions")
            }
            let parameters = try MixtureParameters(
                covarianceType: covarianceType, components: k, dimension: d,
                weights: weights, means: means.flatMap { $0 }, covariances: flat)
            var model = GaussianMixture(parameters: parameters)
            model.converged = converged
            model.iterations = nIter
            model.logLikelihoodHistory = logLikelihoodHistory
            model.lowerBound = lowerBound ?? -.infinity
            model.options = options
            model.training = training
            model.variational = try variational?.fit(
                covarianceType: covarianceType, components: k, dimension: d, means: parameters.means, covariances: parameters.covariances)
            return model
        }
    }

    /// Covariances as nested arrays of the depth their shape needs.
    enum CovarianceValues: Codable {
        case number(Double)
        case vector([Double])
        case matrix([[Double]])
        case matrices([[[Double]]])
        /// A marker where ``MixtureModelFile/encode(_:into:)`` writes the covariances itself.
        case spliced

        static let splicedMarker = "emfleet: the covariances are written here"

        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Double.self) { self = .number(value) }
            else if let value = try? container.decode([Double].self) { self = .vector(value) }
            else if let value = try? container.decode([[Double]].self) { self = .matrix(value) }
            else { self = .matrices(try container.decode([[[Double]]].self)) }
        }

        func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case let .number(v): try container.encode(v)
            case let .vector(v): try container.encode(v)
            case let .matrix(m): try container.encode(m)
            case let .matrices(m): try container.encode(m)
            case .spliced: try container.encode(Self.splicedMarker)
            }
        }
    }
}

/// A model file that cannot be read, with the file and what is wrong.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
    /// The file.
    public var file: String
    /// What is wrong.
    public var message: String

    /// Creates an error about `file`.
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }

    /// What a JSON decoder found wrong, with the path to the field: `missing field "means" in
    /// the top level`, `covariances[2]: Expected to decode Double but found a string`.
    public static func describing(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "the top level" : String(keys.drop(while: { $0 == "." }))
        }
        switch error {
        case let .keyNotFound(key, context): return "missing field \"\(key.stringValue)\" in \(path(context))"
        case let .typeMismatch(_, context): return "\(path(context)): \(context.debugDescription)"
        case let .valueNotFound(_, context): return "\(path(context)): missing value"
        case let .dataCorrupted(context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}
