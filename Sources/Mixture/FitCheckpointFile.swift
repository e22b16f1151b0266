import Engine
import Foundation

/// Fit checkpoints on disk: a ``CheckpointFile`` of format `emfleet.gaussian-mixture.checkpoint`, version 1.
///
/// The payload holds the fit's options as one JSON document (as the model file writes them),
/// then every number as its bit pattern: the data summary, the start in progress with its
/// parameters and history, the best earlier start, the data fingerprint and, for a fit with
/// sample weights only, the weights' total. JSON checkpoints of earlier versions
/// are still read.
extension FitCheckpoint {
    /// The version of the binary layout.
    public static let version: UInt32 = 1

    /// The state as the payload of a checkpoint file.
    public func payload() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var writer = WireWriter(capacity: 8 * (parameters.means.count + parameters.covariances.count) * 2 + 4096)
        writer.blob(Array(try encoder.encode(options)))
        writer.int(rows)
        writer.int(shards)
        writer.int(summary.rows)
        writer.doubles(summary.mean)
        writer.doubles(summary.variance)
        writer.int(start)
        Self.write(parameters, to: &writer)
        writer.doubles(history)
        writer.bool(finished)
        writer.bool(converged)
        writer.bool(best != nil)
        if let best {
            Self.write(best.parameters, to: &writer)
            writer.bool(best.converged)
            writer.int(best.iterations)
            writer.doubles(best.logLikelihoodHistory)
            writer.double(best.lowerBound)
            writer.bool(best.options != nil)
            if let options = best.options { writer.blob(Array(try encoder.encode(options))) }
            writer.bool(best.training != nil)
            if let training = best.training {
                writer.int(training.rows)
                writer.int(training.shards)
                writer.int(training.keptStart)
            }
        }
        writer.bool(dataFingerprint != nil)
        if let dataFingerprint { writer.string(dataFingerprint) }
        // Only a fit with sample weights adds their total, so unweighted checkpoints keep their bytes.
        if let weightTotal = summary.weightTotal { writer.double(weightTotal) }
        return writer.bytes
    }

    /// Reads the state back from a checkpoint payload.
    public init(payload: [UInt8], file: String) throws {
        var reader = WireReader(payload, context: file)
        do {
            let decoder = JSONDecoder()
            options = try decoder.decode(FitOptions.self, from: Data(try reader.blob("options")))
            rows = try reader.int("rows", in: 0...Int.max)
            shards = try reader.int("shards", in: 1...Int(Int32.max))
            let summaryRows = try reader.int("summary rows", in: 0...Int.max)
            let mean = try reader.doubles("column means")
            summary = DataSummary(rows: summaryRows, mean: mean, variance: try reader.doubles("column variances", expected: mean.count))
            start = try reader.int("start", in: 0...Int(Int32.max))
            parameters = try Self.readParameters(&reader, "parameters")
            history = try reader.doubles("history")
            finished = try reader.bool("finished")
            converged = try reader.bool("converged")
            if try reader.bool("best present") {
                var model = GaussianMixture(parameters: try Self.readParameters(&reader, "best parameters"))
                model.converged = try reader.bool("best converged")
                model.iterations = try reader.int("best iterations", in: 0...Int(Int32.max))
                model.logLikelihoodHistory = try reader.doubles("best history")
                model.lowerBound = try reader.double("best lower bound")
                model.options = try reader.bool("best options present")
                    ? try decoder.decode(FitOptions.self, from: Data(try reader.blob("best options"))) : nil
                if try reader.bool("best training present") {
                    model.training = GaussianMixture.TrainingFacts(
                        rows: try reader.int("best rows", in: 0...Int.max), shards: try reader.int("best shards", in: 1...Int(Int32.max)),
                        keptStart: try reader.int("best kept start", in: 0...Int(Int32.max)))
                }
                best = model
            } else {
                best = nil
            }
            dataFingerprint = try reader.bool("fingerprint present") ? try reader.string("fingerprint") : nil
            if reader.remaining > 0 { summary.weightTotal = try reader.double("weight total") }
            try reader.finish()
        } catch {
            throw CheckpointFile.damaged(file, error)
        }
    }

    static func write(_ parameters: MixtureParameters, to writer: inout WireWriter) {
        writer.string(parameters.covarianceType.rawValue)
        writer.int(parameters.components)
        writer.int(parameters.dimension)
        writer.doubles(parameters.weights)
        writer.doubles(parameters.means)
        writer.doubles(parameters.covariances)
    }

    static func readParameters(_ reader: inout WireReader, _ what: String) throws -> MixtureParameters {
        let name = try reader.string("\(what) covariance type", maxBytes: 64)
        guard let type = CovarianceType(rawValue: name) else { throw WireError("\(what): unknown covariance type \"\(name)\"") }
        let components = try reader.int("\(what) components", in: 1...Int(Int32.max))
        let dimension = try reader.int("\(what) dimension", in: 1...Int(Int32.max))
        return try MixtureParameters(
            covarianceType: type, components: components, dimension: dimension,
            weights: try reader.doubles("\(what) weights", expected: components),
            means: try reader.doubles("\(what) means", expected: components * dimension),
            covariances: try reader.doubles("\(what) covariances", expected: type.covarianceCount(components: components, dimension: dimension)))
    }

    /// Writes the checkpoint atomically.
    ///
    /// - Throws: `DatasetError` naming `path` when it cannot be written.
    public func write(to path: String) throws {
        try CheckpointFile.write(format: Self.format, version: Self.version, payload: payload(), to: path)
    }

    /// Reads a checkpoint written by ``write(to:)``, or a JSON checkpoint of an earlier emfleet.
    ///
    /// - Throws: ``CheckpointFileError`` naming `path` when it is missing, not a fit checkpoint,
    ///   of another version, truncated or damaged.
    public static func read(from path: String) throws -> FitCheckpoint {
        try CheckpointFile.read(FitCheckpoint.self, from: path, format: format, version: version, kind: "fit", jsonFormat: \.format) {
            try FitCheckpoint(payload: $0, file: path)
        }
    }
}
