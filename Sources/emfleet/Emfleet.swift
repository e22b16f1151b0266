import ArgumentParser
import Engine
import Messaging

/// The `emfleet` command: a thin front over the library targets.

struct Emfleet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emfleet",
        abstract: "Fit Gaussian mixtures by EM and train neural networks by minibatch gradients, in one process or across ZeroMQ workers.",
        version: "emfleet \(EmfleetVersion.string)",
        subcommands: [DemoCommand.self, DataCommand.self, GMMCommand.self, KMeansCommand.self, MLPCommand.self, DAGMMCommand.self, PipelineCommand.self, WorkerCommand.self, AggregatorCommand.self, KeygenCommand.self, InfoCommand.self]
    )
}

