import Engine
import Training
import Datasets
import Foundation
import Neural
import Numerics
import Testing

/// Training tasks and results on the wire, in both precisions.
@Suite("Training codec")
struct TrainingCodecTests {
    static let architecture = NetworkArchitecture(inputs: 3, hidden: [4], outputs: 2, activation: .relu, loss: .softmaxCrossEntropy)
    static let plan = ShardPlan(rows: 40, shards: 4)

    static func step(_ precision: NetworkPrecision) -> NeuralTask {
        var parameters = architecture.initialParameters(seed: 3)
        parameters[0] = 0.1  // not a float: rounding shows
        let state = NeuralModelState(architecture: architecture, parameters: parameters,
                                     standardisation: Standardisation(mean: [0, 1, 2], scale: [1, 0.5, 0.25]), precision: precision)
        return .step(state, layout: BatchLayout(plan: plan, batchSize: 8, validationFraction: 0.25, seed: 7), epoch: 2, step: 1)
    }

    @Test("a single-precision step carries the rounded weights: half the bytes, the same bits on the worker")
    func singlePrecisionTask() throws {
        let single = NeuralTaskCodec.encode(Self.step(.float32)), double = NeuralTaskCodec.encode(Self.step(.float64))
        #expect(double.count - single.count == 4 * Self.architecture.parameterCount)
        let decoded = try NeuralTaskCodec.decodeTask(single, dimension: 3, plan: Self.plan)
        let sent = Self.step(.float32).state
        #expect(decoded.state.precision == .float32)
        #expect(decoded.state.narrowParameters.map(\.bitPattern) == sent.narrowParameters.map(\.bitPattern))
        #expect(decoded.state.narrowParameters == sent.narrowParameters && decoded.state.parameters.isEmpty)
        let wide = try NeuralTaskCodec.decodeTask(double, dimension: 3, plan: Self.plan)
        #expect(wide.state.precision == .float64 && wide.state.parameters == sent.parameters && wide.state.narrowParameters.isEmpty)
    }

    @Test("predictions travel in double precision whatever the training precision")
    func predictionsAreDouble() throws {
        let state = Self.step(.float32).state
        let decoded = try NeuralTaskCodec.decodeTask(NeuralTaskCodec.encode(.predict(state)), dimension: 3, plan: Self.plan)
        #expect(decoded.state.precision == .float64 && decoded.state.parameters == state.parameters)
    }

    @Test("a result must carry its gradient in the task's precision, finite")
    func resultsFollowTheTaskPrecision() throws {
        let n = Self.architecture.parameterCount
        let narrow = (0..<n).map { Float($0) * 0.25 }
        var sums = TrainingSums(batch: BatchSums(rows: 8, lossSum: 3.5, correct: 5, squaredErrorSum: 0, absoluteErrorSum: 0,
                                                 gradient: [], narrowGradient: narrow))
        let bytes = NeuralTaskCodec.encode(sums)
        let decoded = try NeuralTaskCodec.decodeSums(bytes, task: Self.step(.float32), maxRows: 10)
        #expect(decoded == sums)
        // The same result answering a double-precision step is refused.
        #expect(throws: WireError.self) { try NeuralTaskCodec.decodeSums(bytes, task: Self.step(.float64), maxRows: 10) }
        sums.batch.narrowGradient[3] = .nan
        #expect(throws: WireError.self) {
            try NeuralTaskCodec.decodeSums(NeuralTaskCodec.encode(sums), task: Self.step(.float32), maxRows: 10)
        }
    }

    @Test("options and checkpoints written before --precision existed read as float64; new ones keep it")
    func precisionInOptions() throws {
        var options = TrainingOptions()
        #expect(options.precision == .float32)
        options.precision = .float64
        let encoded = try JSONEncoder().encode(options)
        #expect(try JSONDecoder().decode(TrainingOptions.self, from: encoded) == options)
        options.precision = .float32
        var object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(options)) as! [String: Any]
        #expect(object["precision"] as? String == "float32")
        object["precision"] = nil
        let old = try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(old.precision == .float64)
        object["precision"] = "float16"
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(TrainingOptions.self, from: JSONSerialization.data(withJSONObject: object))
        }
    }
}
