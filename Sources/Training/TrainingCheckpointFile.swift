import Engine
import Foundation
import Neural

/// Training checkpoints on disk: a ``CheckpointFile`` of format `emfleet.mlp.checkpoint`, version 1.
///
/// The payload holds the options and the architecture as one JSON document each (small, and
/// read as model files read them), then every number of the state as its bit pattern: the
/// standardisation, the weights, the optimizer's moments and step, the history, the best weights
/// so far and the early-stopping counter. Writing the checkpoint of a 30-128-64-2 network
/// (four copies of its 12,354 parameters) takes about a millisecond, against 50 to 70 ms
/// for the JSON that earlier versions wrote; those JSON checkpoints are still read.
extension TrainingCheckpoint {
    /// The version of the binary layout.
    public static let version: UInt32 = 1

    /// The state as the payload of a checkpoint file.
    public func payload() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let parameterBytes = 8 * (parameters.count + bestParameters.count + optimizer.first.count + optimizer.second.count)
        var writer = WireWriter(capacity: parameterBytes + 64 * history.count + 4096)
        writer.blob(Array(try encoder.encode(options)))
        writer.blob(Array(try encoder.encode(architecture)))
        writer.doubles(standardisation.mean)
        writer.doubles(standardisation.scale)
        writer.int(shards)
        writer.int(rows)
        writer.int(nextEpoch)
        writer.doubles(parameters)
        optimizer.write(to: &writer)
        writer.u32(UInt32(history.count))
        for record in history {
            writer.int(record.epoch)
            writer.double(record.loss)
            let optionals = record.optionalFields
            var present: UInt8 = 0
            for (bit, value) in optionals.enumerated() where value != nil { present |= 1 << bit }
            writer.u8(present)
            for value in optionals { if let value { writer.double(value) } }
        }
        writer.doubles(bestParameters)
        writer.int(bestEpoch)
        writer.double(bestLoss)
        writer.int(epochsWithoutImprovement)
        writer.bool(dataFingerprint != nil)
        if let dataFingerprint { writer.string(dataFingerprint) }
        return writer.bytes
    }

    /// Reads the state back from a checkpoint payload.
    public init(payload: [UInt8], file: String) throws {
        var reader = WireReader(payload, context: file)
        do {
            let decoder = JSONDecoder()
            options = try decoder.decode(TrainingOptions.self, from: Data(try reader.blob("options")))
            architecture = try decoder.decode(NetworkArchitecture.self, from: Data(try reader.blob("architecture")))
            let mean = try reader.doubles("standardisation mean", expected: nil)
            let scale = try reader.doubles("standardisation scale", expected: mean.count)
            standardisation = Standardisation(mean: mean, scale: scale)
            shards = try reader.int("shards", in: 1...Int(Int32.max))
            rows = try reader.int("rows", in: 0...Int.max)
            nextEpoch = try reader.int("next epoch", in: 0...Int(Int32.max))
            let count = architecture.parameterCount
            parameters = try reader.doubles("weights", expected: count)
            optimizer = try OptimizerState(reading: &reader, parameterCount: count)
            let records = Int(try reader.u32("history length"))
            guard records <= reader.remaining / 17 else { throw WireError("the history claims \(records) epochs, more than the file holds") }
            history = try (0..<records).map { _ in
                var record = EpochRecord(epoch: try reader.int("epoch", in: 1...Int(Int32.max)), loss: try reader.double("loss"))
                let present = try reader.u8("fields present")
                var values = [Double?](repeating: nil, count: EpochRecord.optionalFieldCount)
                for bit in values.indices where present & (1 << bit) != 0 { values[bit] = try reader.double("epoch field") }
                guard present >> EpochRecord.optionalFieldCount == 0 else { throw WireError("an epoch record has unknown fields") }
                record.optionalFields = values
                return record
            }
            bestParameters = try reader.doubles("best weights", expected: count)
            bestEpoch = try reader.int("best epoch", in: 0...Int(Int32.max))
            bestLoss = try reader.double("best loss")
            epochsWithoutImprovement = try reader.int("epochs without improvement", in: 0...Int(Int32.max))
            dataFingerprint = try reader.bool("fingerprint present") ? try reader.string("fingerprint") : nil
            try reader.finish()
        } catch {
            throw CheckpointFile.damaged(file, error)
        }
    }

    /// Writes the checkpoint atomically.
    ///
    /// - Throws: `DatasetError` naming `path` when it cannot be written.
    public func write(to path: String) throws {
        try CheckpointFile.write(format: Self.format, version: Self.version, payload: payload(), to: path)
    }

    /// Reads a checkpoint written by ``write(to:)``, or a JSON checkpoint of an earlier emfleet.
    ///
    /// - Throws: ``CheckpointFileError`` naming `path` when it is missing, not a training
    ///   checkpoint, of another version, truncated or damaged.
    public static func read(from path: String) throws -> TrainingCheckpoint {
        try CheckpointFile.read(TrainingCheckpoint.self, from: path, format: format, version: version, kind: "training", jsonFormat: \.format) {
            try TrainingCheckpoint(payload: $0, file: path)
        }
    }
}

extension EpochRecord {
    /// The optional figures in a fixed order (the bits of a checkpoint's presence byte).
    static let optionalFieldCount = 6

    var optionalFields: [Double?] {
        get { [accuracy, validationLoss, validationAccuracy, validationMSE, validationMAE, validationR2] }
        set {
            accuracy = newValue[0]; validationLoss = newValue[1]; validationAccuracy = newValue[2]
            validationMSE = newValue[3]; validationMAE = newValue[4]; validationR2 = newValue[5]
        }
    }
}

extension OptimizerState {
    /// Appends the state to a checkpoint payload: the step count, then the two moments as bit
    /// patterns (the second empty for SGD). Training checkpoints and optimizer-state files
    /// (``TrainingContinuation``) share this layout.
    func write(to writer: inout WireWriter) {
        writer.int(step)
        writer.doubles(first)
        writer.doubles(second)
    }

    /// Reads a state written by ``write(to:)`` for `count` parameters.
    ///
    /// - Throws: `WireError` when it is truncated or its moments do not have `count` numbers.
    init(reading reader: inout WireReader, parameterCount count: Int) throws {
        let step = try reader.int("optimizer step", in: 0...Int.max)
        let first = try reader.doubles("optimizer first moment", expected: count)
        let second = try reader.doubles("optimizer second moment")
        guard second.isEmpty || second.count == count else {
            throw WireError("optimizer second moment has \(second.count) numbers, expected 0 or \(count)")
        }
        self.init(parameterCount: 0, settings: OptimizerSettings(kind: .sgd))
        self.step = step
        self.first = first
        self.second = second
    }
}
