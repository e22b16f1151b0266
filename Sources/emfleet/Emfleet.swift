import ArgumentParser
import Messaging

/// The `emfleet` command: a thin front over the library targets.

struct Emfleet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emfleet",
        abstract: "Fit Gaussian mixtures by EM (and, later, neural networks) on data too big or too slow for one process.",
        version: "emfleet \(EmfleetVersion.string)",
        subcommands: [DemoCommand.self, DataCommand.self, GMMCommand.self, MLPCommand.self, WorkerCommand.self, InfoCommand.self]
    )
}

/// The version string printed by `emfleet --version`.
enum EmfleetVersion {
    static let string = "0.1.0"
}
