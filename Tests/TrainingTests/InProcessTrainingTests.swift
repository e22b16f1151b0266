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

    static func train(threads: Int, shards: Int, l1: Double = 0, dropout: [Double] = [], precision: NetworkPrecision = .float32) throws -> TrainedNetwork {
        let data = generated.features
        let runner = LocalShards(data: data, targets: .classes(generated.labels), plan: ShardPlan(rows: data.rows, shards: shards), threads: threads)
        var options = TrainingOptions()
        options.hidden = [16]
        options.epochs = 40
        options.batchSize = 64
        options.validationFraction = 0.2
        options.l1 = l1
        options.dropout = dropout
        options.precision = precision
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

    @Test("an L1 penalty drives weights to zero, still learns, and is kept in the options; none gives the bits of before")
    func l1Penalty() throws {
        let plain = try Self.train(threads: 2, shards: 4)
        let penalised = try Self.train(threads: 2, shards: 4, l1: 0.05)
        #expect(try Self.train(threads: 1, shards: 4, l1: 0.05).parameters == penalised.parameters)
        #expect(try Self.train(threads: 1, shards: 4, l1: 0).parameters == plain.parameters)
        let architecture = penalised.architecture
        func weights(_ network: TrainedNetwork) -> [Double] {
            (0..<architecture.layerCount).flatMap { architecture.weightRange(layer: $0).map { network.parameters[$0] } }
        }
        let absoluteSum = { (w: [Double]) in w.reduce(0) { $0 + abs($1) } }
        let small = { (w: [Double]) in w.filter { abs($0) < 1e-3 }.count }
        #expect(absoluteSum(weights(penalised)) < 0.7 * absoluteSum(weights(plain)),
                "Σ|w| \(absoluteSum(weights(penalised))) against \(absoluteSum(weights(plain)))")
        #expect(small(weights(penalised)) > 2 * small(weights(plain)), "\(small(weights(penalised))) against \(small(weights(plain))) weights under 1e-3")
        #expect((penalised.history.last?.validationAccuracy ?? 0) > 0.85, "\(penalised.history.last?.validationAccuracy ?? 0)")
        #expect(penalised.options.l1 == 0.05 && plain.options.l1 == 0)
    }

    @Test("dropout: the same bits for any thread count in both precisions, still learns; rates of 0 change nothing",
          arguments: [NetworkPrecision.float32, .float64])
    func dropout(precision: NetworkPrecision) throws {
        let dropped = try Self.train(threads: 1, shards: 4, dropout: [0.3], precision: precision)
        #expect(try Self.train(threads: 3, shards: 4, dropout: [0.3], precision: precision).parameters == dropped.parameters)
        let plain = try Self.train(threads: 2, shards: 4, precision: precision)
        #expect(dropped.parameters != plain.parameters)
        #expect(try Self.train(threads: 2, shards: 4, dropout: [0], precision: precision).parameters == plain.parameters)
        #expect((dropped.history.last?.validationAccuracy ?? 0) > 0.9, "\(dropped.history.last?.validationAccuracy ?? 0)")
        #expect(dropped.options.dropout == [0.3])
    }
}
