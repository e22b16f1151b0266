import Engine
import Foundation
import Numerics

/// Reads and writes k-means model files: JSON with scikit-learn's attribute names
/// (`cluster_centers`, `inertia`, `n_iter`), described in `docs/MODEL_FORMAT.md`.
public enum KMeansModelFile {
    /// The value of the file's `format` field.
    public static let format = "emfleet.kmeans"
    /// The current format version.
    public static let version = 1

    /// The file's JSON document.
    struct Document: Codable {
        var format: String
        var version: Int
        var nClusters: Int
        var nFeatures: Int
        var clusterCenters: [[Double]]
        var inertia: Double
        var nIter: Int
        var converged: Bool
        var inertiaHistory: [Double]
        var options: KMeansOptions
        var training: GaussianMixture.TrainingFacts?

        enum CodingKeys: String, CodingKey {
            case format, version, inertia, converged, options, training
            case nClusters = "n_clusters", nFeatures = "n_features", clusterCenters = "cluster_centers", nIter = "n_iter"
            case inertiaHistory = "inertia_history"
        }
    }

    /// The model as JSON bytes: sorted keys, the same bytes for the same model; every double
    /// reads back to the same bits.
    public static func encode(_ model: KMeansModel) throws -> Data {
        var options = model.options
        options.initialCenters = nil
        let document = Document(
            format: format, version: version, nClusters: model.clusters, nFeatures: model.dimension, clusterCenters: model.centers,
            inertia: model.inertia, nIter: model.iterations, converged: model.converged, inertiaHistory: model.inertiaHistory,
            options: options, training: model.training)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(document)
    }

    /// Decodes a model file's bytes; `source` names the file in error messages.
    public static func decode(_ data: Data, source: String) throws -> KMeansModel {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch let error as DecodingError {
            throw ModelFileError(file: source, message: "not a k-means model file (\(ModelFileError.describing(error)))")
        } catch {
            throw ModelFileError(file: source, message: "not valid JSON (\(error.localizedDescription))")
        }
        guard document.format == format else {
            throw ModelFileError(file: source, message: "is a \(document.format) file, not an \(format) model")
        }
        guard document.version == version else {
            throw ModelFileError(file: source, message: "is \(format) version \(document.version); this emfleet reads version \(version)")
        }
        let k = document.nClusters, d = document.nFeatures
        guard k >= 1, d >= 1, document.clusterCenters.count == k, document.clusterCenters.allSatisfy({ $0.count == d }) else {
            throw ModelFileError(file: source, message: "cluster_centers must be \(k) rows of \(d) values (n_clusters × n_features)")
        }
        guard document.clusterCenters.allSatisfy(VectorMath.allFinite) else {
            throw ModelFileError(file: source, message: "cluster_centers hold NaN or infinite numbers")
        }
        return KMeansModel(
            centers: document.clusterCenters, inertia: document.inertia, iterations: document.nIter, converged: document.converged,
            inertiaHistory: document.inertiaHistory, options: document.options, training: document.training)
    }

    /// Writes `model` to `path` atomically.
    public static func write(_ model: KMeansModel, to path: String) throws {
        try encode(model).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// Reads the model file at `path`.
    public static func read(from path: String) throws -> KMeansModel {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFileError(file: path, message: "cannot read the file (does it exist?)")
        }
        return try decode(data, source: path)
    }
}

/// k-means checkpoints on disk: a ``CheckpointFile`` of format `emfleet.kmeans.checkpoint`,
/// version 1; the options as JSON, then every number as its bit pattern.
extension KMeansCheckpoint {
    /// The version of the binary layout.
    public static let version: UInt32 = 1

    /// The state as the payload of a checkpoint file.
    public func payload() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var w = WireWriter(capacity: 16 * centers.count + 4096)
        w.blob(Array(try encoder.encode(options)))
        w.int(rows); w.int(shards)
        w.int(summary.rows); w.doubles(summary.mean); w.doubles(summary.variance)
        w.int(run); w.doubles(centers)
        w.bool(previous != nil)
        if let previous { w.doubles(previous) }
        w.doubles(history); w.bool(finished); w.bool(converged)
        w.bool(best != nil)
        if let best { w.blob(Array(try KMeansModelFile.encode(best))) }
        w.bool(dataFingerprint != nil)
        if let dataFingerprint { w.string(dataFingerprint) }
        w.bool(summary.weightTotal != nil)
        if let total = summary.weightTotal { w.double(total) }
        return w.bytes
    }

    /// Reads the state back from a checkpoint payload.
    public init(payload: [UInt8], file: String) throws {
        var r = WireReader(payload, context: file)
        do {
            options = try JSONDecoder().decode(KMeansOptions.self, from: Data(try r.blob("options")))
            rows = try r.int("rows", in: 0...Int.max)
            shards = try r.int("shards", in: 1...Int(Int32.max))
            let summaryRows = try r.int("summary rows", in: 0...Int.max)
            let mean = try r.doubles("column means")
            summary = DataSummary(rows: summaryRows, mean: mean, variance: try r.doubles("column variances", expected: mean.count))
            run = try r.int("run", in: 0...Int(Int32.max))
            centers = try r.doubles("centres", expected: options.clusters * mean.count)
            previous = try r.bool("previous present") ? try r.doubles("previous centres", expected: centers.count) : nil
            history = try r.doubles("history")
            finished = try r.bool("finished")
            converged = try r.bool("converged")
            best = try r.bool("best present") ? try KMeansModelFile.decode(Data(try r.blob("best model")), source: file) : nil
            dataFingerprint = try r.bool("fingerprint present") ? try r.string("fingerprint") : nil
            summary.weightTotal = try r.bool("weight total present") ? try r.double("weight total") : nil
            try r.finish()
        } catch {
            throw CheckpointFile.damaged(file, error)
        }
    }

    /// Writes the checkpoint atomically.
    public func write(to path: String) throws {
        try CheckpointFile.write(format: Self.format, version: Self.version, payload: payload(), to: path)
    }

    /// Reads a checkpoint written by ``write(to:)``.
    ///
    /// - Throws: ``CheckpointFileError`` naming `path` when it is missing, not a k-means
    ///   checkpoint, of another version, truncated or damaged.
    public static func read(from path: String) throws -> KMeansCheckpoint {
        try KMeansCheckpoint(payload: CheckpointFile.read(from: path, format: format, version: version), file: path)
    }
}
