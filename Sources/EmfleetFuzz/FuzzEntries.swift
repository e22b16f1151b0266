import Cluster
import Datasets
import DeepMixture
import Engine
import Mixture
import Neural
import Training

/// Entry points for the fuzzers (`scripts/fuzz.sh`): every decoder that reads bytes from the
/// network, fed arbitrary bytes. Each must throw or succeed, never crash.
enum FuzzEntries {
    /// Envelopes and every message body.
    static func wire(_ data: [UInt8]) {
        WireFuzzing.decodeEveryMessage(data)
        _ = try? MixtureStatistics(encoded: Array(data.dropFirst()))
    }

    /// Tasks and results of every served job, for a few shapes.
    static func tasks(_ data: [UInt8]) {
        guard let selector = data.first else { return }
        let bytes = Array(data.dropFirst())
        let d = Int(selector % 4) + 1
        let plan = ShardPlan(rows: 100, shards: Int(selector % 5) + 1)
        let context = ShardContext(plan: plan, dimension: d)
        let block = 0..<1
        if let task = try? MixtureJob.decodeTask(bytes, context: context) {
            _ = MixtureJob.encode(task: task)
        }
        _ = try? TrainingJob.decodeTask(bytes, context: context)
        if let task = try? KMeansJob.decodeTask(bytes, context: context) {
            _ = KMeansJob.encode(task: task)
        }
        let centres = [Double](repeating: 0, count: 2 * d), anchor = [Double](repeating: 0, count: d)
        for task: KMeansTask in [.step(centers: centres, previous: centres, clusters: 2, anchor: anchor),
                                 .farthest(centers: centres, clusters: 2, anchor: anchor, count: 2),
                                 .assign(centers: centres, clusters: 2, anchor: anchor, output: .distances)] {
            _ = try? KMeansJob.decodeResult(bytes, of: task, shards: 0..<plan.count, context: context)
        }
        fuzzDAGMM(bytes, context: context, shards: 0..<plan.count)
        for task in probeTasks(d) {
            _ = try? MixtureJob.decodeResult(bytes, of: task, shards: block, context: context)
        }
        if let parameters = try? MixtureParameters(
            covarianceType: .diag, components: 2, dimension: d, weights: [0.5, 0.5],
            means: [Double](repeating: 0, count: 2 * d), covariances: [Double](repeating: 1, count: 2 * d)),
           let model = try? PreparedMixture(parameters) {
            let layout = BatchLayout(plan: plan, batchSize: 8, validationFraction: 0, seed: 1)
            for precision in NetworkPrecision.allCases {
                let state = NeuralModelState(
                    architecture: NetworkArchitecture(inputs: d, hidden: [3], outputs: 2, activation: .relu, loss: .softmaxCrossEntropy),
                    parameters: [Double](repeating: 0.1, count: d * 3 + 3 + 3 * 2 + 2),
                    standardisation: Standardisation(mean: [Double](repeating: 0, count: d), scale: [Double](repeating: 1, count: d)),
                    precision: precision)
                _ = try? TrainingJob.decodeResult(bytes, of: .step(state, layout: layout, epoch: 0, step: 0), shards: 0..<plan.count, context: context)
                _ = try? TrainingJob.decodeResult(bytes, of: .predict(state), shards: block, context: context)
            }
            _ = try? MixtureJob.decodeResult(bytes, of: .expectation(model: model), shards: block, context: context)
            _ = try? MixtureJob.decodeResult(
                bytes, of: .minibatchExpectation(model: model, batch: Minibatch(seed: 1, pass: 0, step: 1, steps: 3)),
                shards: 0..<plan.count, context: context)
        }
    }

    /// DAGMM tasks and results of a small network over `context`'s columns, and column ranges.
    static func fuzzDAGMM(_ bytes: [UInt8], context: ShardContext, shards: Range<Int>) {
        let d = context.dimension
        if let task = try? DAGMMJob.decodeTask(bytes, context: context) { _ = DAGMMJob.encode(task: task) }
        _ = try? ColumnRangeJob.decodeTask(bytes, context: context)
        _ = try? ColumnRangeJob.decodeResult(bytes, of: (), shards: shards, context: context)
        let architecture = DAGMMArchitecture(inputs: d, encoder: [3, 1], estimator: [2], components: 2)
        let state = DAGMMState(
            architecture: architecture, parameters: architecture.initialParameters(seed: 1),
            standardisation: Standardisation(mean: [Double](repeating: 0, count: d), scale: [Double](repeating: 1, count: d)))
        let m = architecture.latentSize
        let identity = (0..<(m * m)).map { $0 % (m + 1) == 0 ? 1.0 : 0.0 }
        let mixture = LatentMixture(weights: [0.5, 0.5], means: [[Double](repeating: 0, count: m), [Double](repeating: 1, count: m)],
                                    covariances: [identity, identity])
        let layout = BatchLayout(plan: context.plan, batchSize: 8, validationFraction: 0, seed: 1, dropout: [0.5])
        for task: DAGMMTask in [.statistics(state, layout: layout, epoch: 0, step: 0), .summarise(state), .score(state, mixture: mixture)] {
            _ = try? DAGMMJob.decodeResult(bytes, of: task, shards: shards, context: context)
        }
    }

    static func probeTasks(_ d: Int) -> [ShardTask] {
        [.columnMoments(shift: [Double](repeating: 0, count: d)), .gatherRows(indices: [0, 5]),
         .seedingCommit(centers: []), .seedingLocate(centers: [], targets: [:]),
         .seedingCandidatePotentials(centers: [], candidates: [[Double](repeating: 0, count: d)]),
         .lloyd(centers: [Double](repeating: 0, count: 2 * d), clusters: 2, anchor: [Double](repeating: 0, count: d)),
         .randomStatistics(seed: 1, components: 2, anchor: [Double](repeating: 0, count: d), covarianceType: .full)]
    }
}
