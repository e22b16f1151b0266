import Foundation
import Neural
import Numerics
import Testing

@Suite("Training and initialisation")
struct TrainingTests {
    @Test("Adam with minibatches of 32 separates two Gaussian blobs in 30 epochs")
    func twoBlobs() {
        // 400 rows, 200 per class, centred at (±1.5, ±1.5) with unit variance: the Bayes
        // accuracy is Φ(1.5·√2) ≈ 98%.
        let rows = 400
        var generator = SeededGenerator(seed: 21)
        var inputs = [Double](), labels = [Int]()
        for r in 0..<rows {
            let label = r % 2, centre = label == 0 ? -1.5 : 1.5
            inputs += [centre + generator.nextNormal(), centre + generator.nextNormal()]
            labels.append(label)
        }
        let architecture = NetworkArchitecture(inputs: 2, hidden: [16], outputs: 2, activation: .relu, loss: .softmaxCrossEntropy)
        var parameters = architecture.initialParameters(seed: 22)
        let settings = OptimizerSettings(kind: .adam)
        var state = OptimizerState(parameterCount: architecture.parameterCount, settings: settings)
        let workspace = NetworkWorkspace<Double>(architecture: architecture, capacity: 32)
        var order = Array(0..<rows)
        var batchInputs = [Double](repeating: 0, count: 32 * 2), batchLabels = [Int](repeating: 0, count: 32)
        for _ in 0..<30 {
            for i in stride(from: rows - 1, to: 0, by: -1) { order.swapAt(i, generator.nextInt(below: i + 1)) }
            for start in stride(from: 0, to: rows, by: 32) {
                let count = min(32, rows - start)
                for b in 0..<count {
                    let row = order[start + b]
                    batchInputs[2 * b] = inputs[2 * row]
                    batchInputs[2 * b + 1] = inputs[2 * row + 1]
                    batchLabels[b] = labels[row]
                }
                var sums = Network.batchSums(architecture: architecture, parameters: parameters, inputs: batchInputs, rows: count,
                                             targets: .classes(batchLabels), gradient: true, workspace: workspace)
                for i in sums.gradient.indices { sums.gradient[i] /= Double(count) }
                state.update(parameters: &parameters, gradient: sums.gradient, learningRate: 0.01, settings: settings)
            }
        }
        let final = Network.batchSums(architecture: architecture, parameters: parameters, inputs: inputs, rows: rows,
                                      targets: .classes(labels), gradient: false,
                                      workspace: NetworkWorkspace<Double>(architecture: architecture, capacity: rows))
        #expect(Double(final.correct) / Double(rows) >= 0.95)
        #expect(final.lossSum / Double(rows) < 0.2)
    }

    @Test("Glorot weights lie within ±√(6/(fanIn+fanOut)); He weights have std √(2/fanIn); biases are zero")
    func initialisation() {
        let architecture = NetworkArchitecture(inputs: 200, hidden: [], outputs: 100, activation: .relu, loss: .meanSquaredError)
        let glorot = architecture.initialParameters(seed: 1, scheme: .glorot)
        let limit = (6.0 / 300).squareRoot()
        let glorotWeights = glorot[architecture.weightRange(layer: 0)]
        #expect(glorotWeights.allSatisfy { abs($0) <= limit })
        #expect(glorotWeights.map(abs).max()! > 0.99 * limit)
        #expect(glorot[architecture.biasRange(layer: 0)].allSatisfy { $0 == 0 })

        let he = architecture.initialParameters(seed: 1)   // the default for ReLU
        #expect(he == architecture.initialParameters(seed: 1, scheme: .he))
        let weights = he[architecture.weightRange(layer: 0)]
        let mean = weights.reduce(0, +) / Double(weights.count)
        let deviation = (weights.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(weights.count)).squareRoot()
        #expect(abs(deviation - 0.1) < 0.01)
        #expect(abs(mean) < 0.005)

        #expect(he.map(\.bitPattern) == architecture.initialParameters(seed: 1).map(\.bitPattern))
        #expect(he != architecture.initialParameters(seed: 2))
        let tanhNetwork = NetworkArchitecture(inputs: 200, hidden: [], outputs: 100, activation: .tanh, loss: .meanSquaredError)
        #expect(tanhNetwork.initialParameters(seed: 1) == glorot)
    }
}
