import Datasets
import Engine
import Mixture
import Neural
import Testing
import Training

/// Training a network in process with the libraries alone: no runtime, no command line.
@Suite("Training in process")
struct InProcessTrainingTests {
    static let generated = SyntheticMixture.generate(samples: 1200, features: 4, components: 3, seed: 5)

    static func train(threads: Int, shards: Int) throws -> TrainedNetwork {
        let data = generated.features
        let runner = LocalShards(data: data, targets: .classes(generated.labels), plan: ShardPlan(rows: data.rows, shards: shards), threads: threads)
        var options = TrainingOptions()
        options.hidden = [16]
        options.epochs = 40
        options.batchSize = 64
        options.validationFraction = 0.2
        return try NetworkTrainer(runner: runner, options: options, outputs: 3).train()
    }

    @Test("a network learns separable mixture components, the same bits for any thread count")
    func learnsAndIsReproducible() throws {
        let one = try Self.train(threads: 1, shards: 4)
        let three = try Self.train(threads: 3, shards: 4)
        #expect(one.parameters == three.parameters)
        let first = try #require(one.history.first), last = try #require(one.history.last)
        #expect(last.loss < first.loss)
        #expect((last.validationAccuracy ?? 0) > 0.9, "validation accuracy \(last.validationAccuracy ?? 0)")
    }
}
