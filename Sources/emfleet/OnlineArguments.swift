import ArgumentParser
import Mixture

/// `gmm fit --online` and its settings (stepwise EM).
struct OnlineArguments: ParsableArguments {
    @Flag(name: .long, help: "Fit by stepwise (online) EM over minibatches: one pass over the data by default, instead of a pass per iteration.")
    var online = false

    @Option(name: .long, help: "With --online: rows per minibatch, spread over the shards. (default: 10000)")
    var batchSize: Int?

    @Option(name: .long, help: "With --online: α in the step size (k + 2)^(−α), in (0.5, 1]. (default: 0.6)")
    var stepDecay: Double?

    @Option(name: .long, help: "With --online: minibatches before the first M-step. (default: enough to have seen 10·K·D rows)")
    var warmUp: Int?

    @Option(name: .long, help: "With --online: passes over the data, at most; --tol stops earlier on the change of a pass's mean minibatch log-likelihood. (default: 1)")
    var passes: Int?

    func validate() throws {
        if !online, batchSize != nil || stepDecay != nil || warmUp != nil || passes != nil {
            throw ValidationError("--batch-size, --step-decay, --warm-up and --passes set up --online; add --online")
        }
    }

    /// The settings, or nil without --online.
    func options() -> OnlineOptions? {
        guard online else { return nil }
        var options = OnlineOptions()
        if let batchSize { options.batchSize = batchSize }
        if let stepDecay { options.stepDecay = stepDecay }
        options.warmUpSteps = warmUp
        if let passes { options.passes = passes }
        return options
    }
}
