import Engine
import Foundation
import Neural

/// The optimizer's state at the end of a training, for the next training to go on with:
/// what `mlp train --optimizer-state FILE` reads at its start and writes at its end
/// (scikit-learn's `partial_fit`, one call per run of the binary).
///
/// A training started from a model's weights (``NetworkTrainer/train(resuming:startingFrom:continuing:checkpointEvery:checkpoint:progress:)``)
/// with the continuation written beside that model takes up Adam's moments and step count (or
/// SGD's velocity) and the epoch count where they were: epoch `e` of the new training is epoch
/// `epochs + e` of the whole, so its data order (`BatchLayout` shuffles by seed, epoch and shard),
/// its dropout masks and its learning-rate schedule are the ones an uninterrupted training gives.
/// Two runs of one epoch each therefore give the weights of one run of two epochs, bit for bit.
///
/// On disk it is a ``CheckpointFile`` of format `emfleet.mlp.optimizer-state`, version 1, whose
/// payload is, in order: the architecture and the optimizer settings as one JSON document each,
/// the epochs completed, a hash of the weights it goes with (``weightsHash(_:)``), then the
/// optimizer's state as training checkpoints store it (step, first moment, second moment).
///
/// ```swift
/// let continuation = try TrainingContinuation.read(from: "state.bin")
/// try continuation.check(architecture: architecture, optimizer: options.optimizer, weights: start.parameters, file: "state.bin")
/// ```
public struct TrainingContinuation: Equatable, Sendable {
    /// The file format's name.
    public static let format = "emfleet.mlp.optimizer-state"
    /// The version of the binary layout.
    public static let version: UInt32 = 1

    /// The network the state belongs to.
    public var architecture: NetworkArchitecture
    /// The settings of the optimizer that built the state (its kind must match the next training's).
    public var settings: OptimizerSettings
    /// Epochs trained so far: the next training's first epoch is this one (0-based).
    public var epochs: Int
    /// ``weightsHash(_:)`` of the weights of the model written with this state.
    public var weightsHash: UInt64
    /// Adam's moments and step count, or SGD's velocity.
    public var optimizer: OptimizerState

    /// Creates a continuation.
    public init(architecture: NetworkArchitecture, settings: OptimizerSettings, epochs: Int, weightsHash: UInt64, optimizer: OptimizerState) {
        self.architecture = architecture
        self.settings = settings
        self.epochs = epochs
        self.weightsHash = weightsHash
        self.optimizer = optimizer
    }

    /// The state at the end of `trained`, to go with the model file written from it.
    public init(_ trained: TrainedNetwork) {
        self.init(
            architecture: trained.architecture, settings: trained.options.optimizer, epochs: trained.epochsCompleted,
            weightsHash: Self.weightsHash(trained.parameters), optimizer: trained.optimizer)
    }

    /// A hash of the weights' bit patterns, which ties a state to the model written with it.
    public static func weightsHash(_ weights: [Double]) -> UInt64 {
        var writer = WireWriter(capacity: 8 * weights.count + 8)
        writer.doubles(weights)
        return CheckpointFile.hash(writer.bytes)
    }

    /// Throws unless this state can continue a training of `architecture` with `optimizer`
    /// from `weights`.
    ///
    /// - Parameter file: names the state in the message.
    /// - Throws: ``CheckpointFileError`` naming `file`: another network, another optimizer, or
    ///   weights other than those it was written with.
    public func check(architecture: NetworkArchitecture, optimizer: OptimizerSettings, weights: [Double], file: String) throws {
        guard self.architecture == architecture else {
            throw CheckpointFileError(
                file: file, message: "holds the optimizer state of a \(self.architecture.shape) network; this training's is \(architecture.shape) "
                    + "(give the same --hidden, --activation, --loss and data columns, or remove the file to start afresh)")
        }
        guard settings.kind == optimizer.kind else {
            throw CheckpointFileError(
                file: file, message: "holds \(settings.kind.rawValue)'s optimizer state; this training uses --optimizer \(optimizer.kind.rawValue)")
        }
        guard Self.weightsHash(weights) == weightsHash else {
            throw CheckpointFileError(
                file: file, message: "the optimizer state was written with other weights than the start's (give the model file written with it as --init-model)")
        }
    }

    /// The state as a checkpoint payload.
    public func payload() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var writer = WireWriter(capacity: 16 * (optimizer.first.count + optimizer.second.count) + 1024)
        writer.blob(Array(try encoder.encode(architecture)))
        writer.blob(Array(try encoder.encode(settings)))
        writer.int(epochs)
        writer.u64(weightsHash)
        optimizer.write(to: &writer)
        return writer.bytes
    }

    /// Reads a continuation from its payload; `file` names it in errors.
    ///
    /// - Throws: ``CheckpointFileError`` naming `file` when the payload is damaged or its moments
    ///   do not fit its network and optimizer.
    public init(payload: [UInt8], file: String) throws {
        var reader = WireReader(payload, context: file)
        do {
            let decoder = JSONDecoder()
            architecture = try decoder.decode(NetworkArchitecture.self, from: Data(try reader.blob("architecture")))
            settings = try decoder.decode(OptimizerSettings.self, from: Data(try reader.blob("optimizer settings")))
            epochs = try reader.int("epochs", in: 0...Int(Int32.max))
            weightsHash = try reader.u64("weights hash")
            optimizer = try OptimizerState(reading: &reader, parameterCount: architecture.parameterCount)
            guard optimizer.second.count == (settings.kind == .adam ? architecture.parameterCount : 0) else {
                throw WireError("the \(settings.kind.rawValue) state has \(optimizer.second.count) second moments for \(architecture.parameterCount) weights")
            }
            try reader.finish()
        } catch {
            throw CheckpointFile.damaged(file, error)
        }
    }

    /// Writes the state atomically.
    ///
    /// - Throws: `DatasetError` naming `path` when it cannot be written.
    public func write(to path: String) throws {
        try CheckpointFile.write(format: Self.format, version: Self.version, payload: payload(), to: path)
    }

    /// Reads a state written by ``write(to:)``.
    ///
    /// - Throws: ``CheckpointFileError`` naming `path` when it is missing, of another format or
    ///   version, truncated or damaged.
    public static func read(from path: String) throws -> TrainingContinuation {
        try TrainingContinuation(payload: CheckpointFile.read(from: path, format: format, version: version), file: path)
    }
}

extension NetworkArchitecture {
    /// `8-32-16-4 relu (cross-entropy)`, for messages.
    var shape: String {
        "\(inputs)-\(hidden.map(String.init).joined(separator: "-"))\(hidden.isEmpty ? "" : "-")\(outputs) \(activation.rawValue) (\(loss.rawValue))"
    }
}
