import Datasets
import Engine
import Testing
import Training

@Suite("Stopping when the loss stops improving")
struct StoppingRuleTests {
    static func trainer(epochs: Int, learningRate: Double) -> NetworkTrainer {
        let (data, labels) = blobs(rows: 160, seed: 5)
        var options = TrainingOptions()
        options.hidden = [8]
        options.learningRate = learningRate
        options.batchSize = TrainingOptions.untunedBatchSize(rows: 160)
        options.setStopping(epochs: nil, patience: nil, tolerance: nil)
        options.epochs = epochs
        let runner = LocalShards(data: data, targets: .classes(labels), plan: ShardPlan(rows: 160, shards: 1), threads: 1)
        return NetworkTrainer(runner: runner, options: options, outputs: 2)
    }

    /// The 1-based epoch after which scikit-learn's rule (an epoch improves when its loss is at
    /// most the best so far minus tol) has seen `patience` epochs in a row without improvement.
    static func stoppingEpoch(_ losses: [Double], patience: Int, tolerance: Double) -> Int? {
        var best = Double.infinity, without = 0
        for (index, loss) in losses.enumerated() {
            without = loss <= best - tolerance ? 0 : without + 1
            best = min(best, loss)
            if without >= patience { return index + 1 }
        }
        return nil
    }

    @Test("untuned options: at most 200 epochs, patience 10, tol 1e-4, batch min(256, rows)")
    func untunedOptions() {
        var options = TrainingOptions()
        options.setStopping(epochs: nil, patience: nil, tolerance: nil)
        #expect(options.epochs == 200 && options.patience == 10 && options.tolerance == 1e-4)
        options.setStopping(epochs: 30, patience: nil, tolerance: nil)
        #expect(options.epochs == 30 && options.patience == nil && options.tolerance == 0)
        #expect(TrainingOptions.untunedBatchSize(rows: 112) == 112 && TrainingOptions.untunedBatchSize(rows: 5000) == 256)
    }

    @Test("a loss that cannot move stops after the first epoch and 10 more")
    func flatLossStops() throws {
        let trained = try Self.trainer(epochs: 200, learningRate: 1e-12).train()
        #expect(trained.history.count == 11)
        #expect(trained.bestEpoch <= 11)
    }

    @Test("a learning network runs while it improves by 1e-4, and stops at the first plateau of 10 epochs")
    func stopsAtThePlateauNotBefore() throws {
        let trained = try Self.trainer(epochs: 2000, learningRate: 0.01).train()
        let losses = trained.history.map(\.loss)
        // It learned for a while, then stopped on its own, well before the limit.
        #expect(losses.count > 30 && losses.count < 2000)
        #expect(losses.last! < losses.first! / 2)
        #expect(Self.stoppingEpoch(losses, patience: 10, tolerance: 1e-4) == losses.count)
        // Not before: no earlier stretch of 10 epochs failed to improve.
        #expect(Self.stoppingEpoch(Array(losses.dropLast()), patience: 10, tolerance: 1e-4) == nil)
    }

    @Test("with --epochs and no --patience every epoch runs")
    func explicitEpochsRunAll() throws {
        var trainer = Self.trainer(epochs: 200, learningRate: 1e-12)
        var options = trainer.options
        options.setStopping(epochs: 25, patience: nil, tolerance: nil)
        trainer = NetworkTrainer(runner: trainer.runner, options: options, outputs: 2)
        #expect(try trainer.train().history.count == 25)
    }

    @Test("without validation rows and without a patience the last epoch is kept; with a patience, the best")
    func lastEpochWithoutValidation() throws {
        // A learning rate high enough that the training loss goes up and down.
        let base = Self.trainer(epochs: 18, learningRate: 0.5)
        var options = base.options
        options.setStopping(epochs: 18, patience: 1000, tolerance: nil)
        let patient = try NetworkTrainer(runner: base.runner, options: options, outputs: 2).train()
        let losses = patient.history.map(\.loss)
        try #require(losses.count == 18 && losses.firstIndex(of: losses.min()!)! < 17, "the loss must be lowest before the last epoch: \(losses)")
        #expect(patient.bestEpoch == losses.firstIndex(of: losses.min()!)! + 1)
        options.setStopping(epochs: 18, patience: nil, tolerance: nil)
        let plain = try NetworkTrainer(runner: base.runner, options: options, outputs: 2).train()
        #expect(plain.history.map(\.loss) == losses)
        #expect(plain.bestEpoch == 18)
        #expect(plain.parameters != patient.parameters)
    }
}
