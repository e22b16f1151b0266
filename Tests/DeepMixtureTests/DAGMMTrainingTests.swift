import Datasets
import DeepMixture
import Engine
import Foundation
import Numerics
import Testing
import Training

/// Training a DAGMM end to end over shards: the model is the same bits for any thread count,
/// the loss falls, and the codec round-trips its tasks.
@Suite("DAGMM training")
struct DAGMMTrainingTests {
    static var options: DAGMMOptions {
        var options = DAGMMOptions(components: 2)
        options.encoder = [6, 2]
        options.estimator = [4]
        options.epochs = 15
        options.batchSize = 64
        options.learningRate = 1e-2
        return options
    }

    @Test("the model is byte-identical with 1 and 3 threads, and the loss falls")
    func sameBitsForAnyThreads() throws {
        let data = SyntheticMixture.generate(samples: 300, features: 6, components: 2, seed: 4).features
        let plan = ShardPlan(rows: data.rows, shards: 4)
        let one = try DAGMMTrainer(runner: LocalShards(data: data, plan: plan, threads: 1), options: Self.options).fit()
        let three = try DAGMMTrainer(runner: LocalShards(data: data, plan: plan, threads: 3), options: Self.options).fit()
        // Everything but the epochs' seconds.
        #expect(one.parameters == three.parameters)
        #expect(one.mixture == three.mixture)
        #expect(one.trainingEnergyQuantiles == three.trainingEnergyQuantiles)
        #expect(one.history.map(\.loss) == three.history.map(\.loss))
        #expect(one.history.last!.loss < one.history.first!.loss)
        #expect(one.trainingEnergyQuantiles.count == 1001)
        #expect(one.threshold(quantile: 0) <= one.threshold(quantile: 0.5) && one.threshold(quantile: 0.5) <= one.threshold(quantile: 1))
        #expect(abs(one.mixture.weights.reduce(0, +) - 1) < 1e-9)
    }

    @Test("tasks and results survive the wire; a task for other data is refused")
    func codec() throws {
        let data = SyntheticMixture.generate(samples: 100, features: 6, components: 2, seed: 4).features
        let plan = ShardPlan(rows: data.rows, shards: 2)
        let runner = LocalShards(data: data, plan: plan, threads: 1)
        let trainer = DAGMMTrainer(runner: runner, options: Self.options)
        let architecture = DAGMMArchitecture(inputs: 6, encoder: [6, 2], estimator: [4], components: 2)
        let state = DAGMMState(architecture: architecture, parameters: architecture.initialParameters(seed: 0),
                               standardisation: Standardisation(mean: Array(repeating: 0, count: 6), scale: Array(repeating: 1, count: 6)))
        let task = DAGMMTask.statistics(state, layout: trainer.layout, epoch: 1, step: 0)
        let context = ShardContext(plan: plan, dimension: 6)
        let decoded = try DAGMMJob.decodeTask(DAGMMJob.encode(task: task), context: context)
        let direct = try runner.run(DAGMMJob.self, task), viaWire = try runner.run(DAGMMJob.self, decoded)
        guard case let .moments(a) = direct, case let .moments(b) = viaWire else { Issue.record("not moments"); return }
        #expect(a == b)
        let result = try DAGMMJob.decodeResult(DAGMMJob.encode(result: direct), of: task, shards: 0..<2, context: context)
        guard case let .moments(c) = result else { Issue.record("not moments"); return }
        #expect(c == a)
        #expect(throws: WireError.self) { try DAGMMJob.decodeTask(DAGMMJob.encode(task: task), context: ShardContext(plan: plan, dimension: 5)) }
        #expect(throws: WireError.self) { try DAGMMJob.decodeTask(Array(DAGMMJob.encode(task: task).dropLast()), context: context) }
    }
}
