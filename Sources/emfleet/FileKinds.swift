import DeepMixture
import Engine
import Mixture
import Training

/// What each emfleet file format is, and the command that reads it, for the message a
/// command gives when handed a file of another kind.
enum FileKind {
    /// A format's description and the command a user should give it to.
    static let readers: [String: (what: String, command: String)] = [
        MixtureModelFile.format: ("a Gaussian mixture model", "emfleet gmm predict"),
        KMeansModelFile.format: ("a k-means model", "emfleet kmeans predict"),
        NetworkModelFile.formatName: ("a network model", "emfleet mlp predict"),
        PipelineModelFile.formatName: ("a pipeline model", "emfleet pipeline predict"),
        DAGMMModelFile.format: ("a DAGMM model", "emfleet dagmm score"),
        FitCheckpoint.format: ("a checkpoint of `emfleet gmm fit`", "emfleet gmm fit --resume"),
        VariationalCheckpoint.format: ("a checkpoint of `emfleet gmm fit --variational`", "emfleet gmm fit --variational --resume"),
        OnlineCheckpoint.format: ("a checkpoint of `emfleet gmm fit --online`", "emfleet gmm fit --online --resume"),
        KMeansCheckpoint.format: ("a checkpoint of `emfleet kmeans fit`", "emfleet kmeans fit --resume"),
        TrainingCheckpoint.format: ("a checkpoint of `emfleet mlp train`", "emfleet mlp train --resume"),
        TrainingContinuation.format: ("an optimizer state of `emfleet mlp train`", "emfleet mlp train --optimizer-state"),
    ]

    /// Throws when `path` is an emfleet file of a format other than `expected`, saying what it
    /// is and which command reads it; files of no known format are left to the reader.
    static func require(_ path: String, is expected: String...) throws {
        guard let found = EmfleetFileFormat.name(ofFileAt: path), !expected.contains(found),
              let reader = readers[found] else { return }
        throw WrongFileKind(path: path, what: reader.what, command: reader.command)
    }

    /// A file of one kind given where another was expected.
    struct WrongFileKind: Error, CustomStringConvertible {
        let path: String, what: String, command: String
        var description: String { "\(path) is \(what): use `\(command)`" }
    }
}
