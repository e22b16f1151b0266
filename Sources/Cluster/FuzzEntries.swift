import Datasets
import Mixture
import Neural

/// Entry points for the fuzzers (`scripts/fuzz.sh`): every decoder that reads bytes from the
/// network, fed arbitrary bytes. Each must throw or succeed, never crash.
package enum FuzzEntries {
    /// Envelopes and every message body.
    package static func wire(_ data: [UInt8]) {
        guard let selector = data.first else { return }
        let bytes = Array(data.dropFirst())
        let shards = Int(selector % 7) + 1
        _ = Envelope.decode(bytes)
        _ = try? Hello(body: bytes)
        _ = try? Welcome(body: bytes)
        _ = try? TaskOrder(body: bytes, shardCount: shards)
        _ = try? ShardResult(body: bytes, shardCount: shards)
        _ = try? WorkerFailure(body: bytes)
        _ = try? RowsRequest(body: bytes, shardCount: shards)
        _ = try? RowsChunk(body: bytes, shardCount: shards)
        _ = try? JobSpec(body: bytes)
        _ = try? TextBody.decode(bytes, "text")
        _ = try? MixtureStatistics(encoded: bytes)
    }

    /// Tasks and outcomes of both job kinds, for a few shapes.
    package static func tasks(_ data: [UInt8]) {
        guard let selector = data.first else { return }
        let bytes = Array(data.dropFirst())
        let d = Int(selector % 4) + 1
        let plan = ShardPlan(rows: 100, shards: Int(selector % 5) + 1)
        if let task = try? MixtureTaskCodec.decodeTask(bytes, dimension: d) {
            _ = MixtureTaskCodec.encode(task)
        }
        _ = try? NeuralTaskCodec.decodeTask(bytes, dimension: d, plan: plan)
        for task in probeTasks(d) {
            _ = try? MixtureTaskCodec.decodeOutcome(bytes, for: task, shardRows: 20, dimension: d)
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
                _ = try? NeuralTaskCodec.decodeSums(bytes, task: .step(state, layout: layout, epoch: 0, step: 0), maxRows: 100)
            }
            _ = try? NeuralTaskCodec.decodeOutputs(bytes, expected: 40)
            _ = try? MixtureTaskCodec.decodeOutcome(bytes, for: .expectation(model: model), shardRows: 20, dimension: d)
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
