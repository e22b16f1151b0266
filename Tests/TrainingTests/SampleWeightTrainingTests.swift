import Datasets
import Engine
import Mixture
import Neural
import Numerics
import Testing
import Training

/// Training with sample weights: each row's loss scaled by its weight, each step divided by the
/// batch's total weight.
@Suite("Training with sample weights")
struct SampleWeightTrainingTests {
    static let generated = SyntheticMixture.generate(samples: 300, features: 3, components: 3, seed: 8)
    static let weights: [Double] = {
        var generator = SeededGenerator(seed: 21)
        return (0..<300).map { _ in Double(generator.nextInt(below: 3)) }
    }()

    static func options(batchSize: Int, epochs: Int = 3) -> TrainingOptions {
        var options = TrainingOptions()
        options.hidden = [8]
        options.epochs = epochs
        options.batchSize = batchSize
        options.validationFraction = 0
        options.setStopping(epochs: epochs, patience: nil, tolerance: nil)
        options.epochs = epochs
        return options
    }

    @Test("integer weights train the network of the rows repeated that many times (full-batch SGD steps)")
    func integerWeightsAreRepeatedRows() throws {
        // SGD: Adam's first steps are the signs of the gradient, which rounding flips where an entry is about zero.
        var options = Self.options(batchSize: 300)
        options.optimizer = OptimizerSettings(kind: .sgd, momentum: 0.9)
        options.learningRate = 0.1
        options.precision = .float64  // in single precision they agree to Float's rounding
        let data = Self.generated.features.doubles(), labels = Self.generated.labels
        var values = [Double](), repeatedLabels = [Int]()
        for (row, weight) in Self.weights.enumerated() {
            for _ in 0..<Int(weight) { values += data[(row * 3)..<(row * 3 + 3)]; repeatedLabels.append(labels[row]) }
        }
        let repeated = FeatureMatrix(rows: repeatedLabels.count, columns: 3, values: values)
        let weightedRunner = LocalShards(
            data: Self.generated.features, targets: .classes(labels), weights: Self.weights, plan: ShardPlan(rows: 300, shards: 2), threads: 2)
        let plainRunner = LocalShards(data: repeated, targets: .classes(repeatedLabels), plan: ShardPlan(rows: repeated.rows, shards: 1), threads: 1)
        let weighted = try NetworkTrainer(runner: weightedRunner, options: options, outputs: 3).train()
        options.batchSize = repeated.rows
        let plain = try NetworkTrainer(runner: plainRunner, options: options, outputs: 3).train()
        #expect(relativeDifference(weighted.standardisation.mean, plain.standardisation.mean) < 1e-12)
        #expect(relativeDifference(weighted.parameters, plain.parameters) < 1e-10)
        #expect(relativeDifference(weighted.history.map(\.loss), plain.history.map(\.loss)) < 1e-10)
        #expect(relativeDifference(weighted.history.map { $0.accuracy ?? 0 }, plain.history.map { $0.accuracy ?? 0 }) < 1e-12)
    }

    @Test("weighted training is the same bits for 1 or 2 threads, and differs from unweighted")
    func reproducible() throws {
        func train(threads: Int, weights: [Double]?) throws -> TrainedNetwork {
            let runner = LocalShards(data: Self.generated.features, targets: .classes(Self.generated.labels), weights: weights,
                                     plan: ShardPlan(rows: 300, shards: 3), threads: threads)
            var options = Self.options(batchSize: 48, epochs: 4)
            options.validationFraction = 0.2
            return try NetworkTrainer(runner: runner, options: options, outputs: 3).train()
        }
        let one = try train(threads: 1, weights: Self.weights), two = try train(threads: 2, weights: Self.weights)
        #expect(one.parameters == two.parameters)
        #expect(one.history.map(\.validationLoss) == two.history.map(\.validationLoss))
        #expect(try train(threads: 1, weights: nil).parameters != one.parameters)
    }
}

func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    var difference = 0.0, norm = 0.0
    for i in 0..<a.count {
        difference += (a[i] - b[i]) * (a[i] - b[i])
        norm += b[i] * b[i]
    }
    return difference.squareRoot() / max(norm.squareRoot(), 1e-300)
}
