import Foundation
import Neural
import Numerics
import Testing

@Suite("Network")
struct NetworkTests {
    static let architecture = NetworkArchitecture(inputs: 4, hidden: [5, 3], outputs: 3, activation: .tanh, loss: .softmaxCrossEntropy)

    static func problem(rows: Int) -> (parameters: [Double], inputs: [Double], labels: [Int]) {
        var generator = SeededGenerator(seed: 3)
        return (architecture.initialParameters(seed: 5), normals(rows * architecture.inputs, seed: 4),
                (0..<rows).map { _ in generator.nextInt(below: 3) })
    }

    static func sums(rows: Range<Int>, of problem: (parameters: [Double], inputs: [Double], labels: [Int]),
                     workspace: NetworkWorkspace<Double>) -> BatchSums {
        let d = architecture.inputs
        return Network.batchSums(
            architecture: architecture, parameters: problem.parameters,
            inputs: Array(problem.inputs[(rows.lowerBound * d)..<(rows.upperBound * d)]), rows: rows.count,
            targets: .classes(Array(problem.labels[rows])), gradient: true, workspace: workspace)
    }

    @Test("the same batch gives the same bits; two halves add up to the whole")
    func determinism() {
        let problem = Self.problem(rows: 7)
        let first = Self.sums(rows: 0..<7, of: problem, workspace: NetworkWorkspace<Double>(architecture: Self.architecture, capacity: 7))
        let workspace = NetworkWorkspace<Double>(architecture: Self.architecture, capacity: 16)
        let again = Self.sums(rows: 0..<7, of: problem, workspace: workspace)
        let third = Self.sums(rows: 0..<7, of: problem, workspace: workspace)
        #expect(first.lossSum.bitPattern == again.lossSum.bitPattern)
        #expect(first.gradient.map(\.bitPattern) == again.gradient.map(\.bitPattern))
        #expect(first == third)

        var halves = Self.sums(rows: 0..<3, of: problem, workspace: workspace)
        halves.add(Self.sums(rows: 3..<7, of: problem, workspace: workspace))
        #expect(halves.rows == 7)
        #expect(halves.correct == first.correct)
        #expect(abs(halves.lossSum - first.lossSum) <= 1e-12 * abs(first.lossSum))
        #expect(maximumRelativeDifference(halves.gradient, first.gradient) <= 1e-12)
    }

    @Test("longer input and target arrays are read only up to `rows`; a small workspace grows")
    func rowsAndCapacity() {
        let problem = Self.problem(rows: 10)
        let exact = Self.sums(rows: 0..<7, of: problem, workspace: NetworkWorkspace<Double>(architecture: Self.architecture, capacity: 7))
        let small = NetworkWorkspace<Double>(architecture: Self.architecture, capacity: 2)
        let fromLonger = Network.batchSums(
            architecture: Self.architecture, parameters: problem.parameters, inputs: problem.inputs, rows: 7,
            targets: .classes(problem.labels), gradient: true, workspace: small)
        #expect(small.capacity == 7)
        #expect(fromLonger == exact)
    }

    @Test("zero rows give zero sums; no gradient is returned unless asked for")
    func emptyBatch() {
        let problem = Self.problem(rows: 1)
        let workspace = NetworkWorkspace<Double>(architecture: Self.architecture, capacity: 4)
        let empty = Network.batchSums(architecture: Self.architecture, parameters: problem.parameters, inputs: [],
                                      rows: 0, targets: .classes([]), gradient: true, workspace: workspace)
        #expect(empty == BatchSums(rows: 0, lossSum: 0, correct: 0, squaredErrorSum: 0, absoluteErrorSum: 0,
                                   gradient: [Double](repeating: 0, count: Self.architecture.parameterCount)))
        let lossOnly = Network.batchSums(architecture: Self.architecture, parameters: problem.parameters, inputs: problem.inputs,
                                         rows: 1, targets: .classes(problem.labels), gradient: false, workspace: workspace)
        #expect(lossOnly.gradient.isEmpty)
        #expect(lossOnly.lossSum > 0)
    }

    /// A one-layer network whose logits are its inputs (identity weights, zero biases).
    static func identity(_ loss: LossFunction, outputs: Int) -> (NetworkArchitecture, [Double]) {
        let architecture = NetworkArchitecture(inputs: outputs, hidden: [], outputs: outputs, activation: .relu, loss: loss)
        var parameters = [Double](repeating: 0, count: architecture.parameterCount)
        for i in 0..<outputs { parameters[i * outputs + i] = 1 }
        return (architecture, parameters)
    }

    @Test("cross-entropy: loss, accuracy and probabilities; huge logits stay finite")
    func crossEntropyCounts() {
        let (architecture, parameters) = Self.identity(.softmaxCrossEntropy, outputs: 3)
        let logits: [Double] = [2, 0, 0, /**/ 0, 1, 3, /**/ 1000, -1000, 999, /**/ 0, 0, 5]
        let labels = [0, 1, 2, 2]   // right, wrong, wrong, right
        let workspace = NetworkWorkspace<Double>(architecture: architecture, capacity: 4)
        let sums = Network.batchSums(architecture: architecture, parameters: parameters, inputs: logits, rows: 4,
                                     targets: .classes(labels), gradient: false, workspace: workspace)
        var expected = 0.0
        for r in 0..<4 {
            let z = Array(logits[(3 * r)..<(3 * r + 3)])
            expected += LogSpace.logSumExp(z) - z[labels[r]]
        }
        #expect(sums.lossSum.isFinite)
        #expect(abs(sums.lossSum - expected) <= 1e-12 * expected)
        #expect(sums.correct == 2)
        #expect(sums.squaredErrorSum == 0 && sums.absoluteErrorSum == 0)

        // One-hot value targets are the same loss.
        var oneHot = [Double](repeating: 0, count: 12)
        for r in 0..<4 { oneHot[3 * r + labels[r]] = 1 }
        let fromValues = Network.batchSums(architecture: architecture, parameters: parameters, inputs: logits, rows: 4,
                                           targets: .values(oneHot), gradient: false, workspace: workspace)
        #expect(abs(fromValues.lossSum - sums.lossSum) <= 1e-12 * expected)
        #expect(fromValues.correct == 2)

        let p = Network.predict(architecture: architecture, parameters: parameters, inputs: logits, rows: 4)
        #expect(p.count == 12)
        for r in 0..<4 { #expect(abs(p[(3 * r)..<(3 * r + 3)].reduce(0, +) - 1) < 1e-15) }
        #expect(abs(p[0] - exp(2) / (exp(2) + 2)) < 1e-15)
        #expect(abs(p[6] - 1 / (1 + exp(-1))) < 1e-15)
        #expect(p[7] == 0)
    }

    @Test("binary cross-entropy: a row is right only when every output is; huge logits stay finite")
    func binaryCounts() {
        let (architecture, parameters) = Self.identity(.binaryCrossEntropy, outputs: 2)
        let logits: [Double] = [3, -2, /**/ 3, 2, /**/ -800, 900, /**/ 0.5, -0.5]
        let targets: [Double] = [1, 0, /**/ 1, 0, /**/ 0, 1, /**/ 0, 0]   // right, wrong, right, wrong
        let workspace = NetworkWorkspace<Double>(architecture: architecture, capacity: 4)
        let sums = Network.batchSums(architecture: architecture, parameters: parameters, inputs: logits, rows: 4,
                                     targets: .values(targets), gradient: true, workspace: workspace)
        var expected = 0.0
        for i in 0..<8 { expected += max(logits[i], 0) - logits[i] * targets[i] + log1p(exp(-abs(logits[i]))) }
        #expect(abs(sums.lossSum - expected) <= 1e-12 * expected)
        #expect(sums.correct == 2)
        #expect(sums.gradient.allSatisfy { $0.isFinite })
        let p = Network.predict(architecture: architecture, parameters: parameters, inputs: logits, rows: 4)
        #expect(p[4] == 0 && p[5] == 1)
        #expect(abs(p[0] - 1 / (1 + exp(-3))) < 1e-15)

        // One output with class labels.
        let (single, singleParameters) = Self.identity(.binaryCrossEntropy, outputs: 1)
        let one = Network.batchSums(architecture: single, parameters: singleParameters, inputs: [2, -1, 0.5], rows: 3,
                                    targets: .classes([1, 1, 0]), gradient: false,
                                    workspace: NetworkWorkspace<Double>(architecture: single, capacity: 3))
        #expect(one.correct == 1)
        let expectedSingle: Double = log1p(exp(-2.0)) + log1p(exp(1.0)) + log1p(exp(0.5))
        #expect(abs(one.lossSum - expectedSingle) < 1e-14)
    }

    @Test("mean squared error: ½Σ(y−t)² loss, squared and absolute error sums, no accuracy")
    func squaredErrorSums() {
        let (architecture, parameters) = Self.identity(.meanSquaredError, outputs: 2)
        let outputs: [Double] = [1, 2, /**/ -1, 0.5]
        let targets: [Double] = [0, 2, /**/ 1, -0.5]
        let sums = Network.batchSums(architecture: architecture, parameters: parameters, inputs: outputs, rows: 2,
                                     targets: .values(targets), gradient: true,
                                     workspace: NetworkWorkspace<Double>(architecture: architecture, capacity: 2))
        #expect(sums.squaredErrorSum == 1 + 0 + 4 + 1)
        #expect(sums.absoluteErrorSum == 1 + 0 + 2 + 1)
        #expect(sums.lossSum == 3)
        #expect(sums.correct == 0)
        // ∂/∂b = Σ_rows (y − t).
        let biasGradient = Array(sums.gradient[architecture.biasRange(layer: 0)])
        #expect(biasGradient == [-1, 1])
        #expect(Network.predict(architecture: architecture, parameters: parameters, inputs: outputs, rows: 2) == outputs)
    }

    @Test("predict agrees with a plain-loop forward pass", arguments: Activation.allCases)
    func predictMatchesReference(activation: Activation) {
        let architecture = NetworkArchitecture(inputs: 3, hidden: [6, 4], outputs: 2, activation: activation, loss: .meanSquaredError)
        var parameters = architecture.initialParameters(seed: 9)
        for i in architecture.biasRange(layer: 0) { parameters[i] = 0.1 }
        let inputs = normals(5 * 3, seed: 10)
        let reference = ReferenceNetwork(architecture: architecture).preActivations(parameters: parameters, inputs: inputs, rows: 5).last!
        let predicted = Network.predict(architecture: architecture, parameters: parameters, inputs: inputs, rows: 5)
        #expect(maximumRelativeDifference(predicted, reference, floor: 1e-3) < 1e-13)
    }

    @Test("weight decay touches weights only")
    func weightDecay() {
        let architecture = Self.architecture
        let parameters = architecture.initialParameters(seed: 1).map { $0 + 0.5 }
        var gradient = [Double](repeating: 1, count: architecture.parameterCount)
        addWeightDecay(0.1, parameters: parameters, to: &gradient, architecture: architecture)
        for layer in 0..<3 {
            for i in architecture.weightRange(layer: layer) { #expect(gradient[i] == 1 + 0.1 * parameters[i]) }
            for i in architecture.biasRange(layer: layer) { #expect(gradient[i] == 1) }
        }
    }

    @Test("the L1 penalty adds λ·sign(w) to weights only, nothing at a weight of 0")
    func l1Penalty() {
        let architecture = Self.architecture
        var parameters = architecture.initialParameters(seed: 1)
        let zeroed = architecture.weightRange(layer: 1).lowerBound
        parameters[zeroed] = 0
        var gradient = [Double](repeating: 1, count: architecture.parameterCount)
        addL1Penalty(0.25, parameters: parameters, to: &gradient, architecture: architecture)
        for layer in 0..<3 {
            for i in architecture.weightRange(layer: layer) {
                #expect(gradient[i] == (parameters[i] == 0 ? 1 : parameters[i] > 0 ? 1.25 : 0.75))
            }
            for i in architecture.biasRange(layer: layer) { #expect(gradient[i] == 1) }
        }
        #expect(gradient[zeroed] == 1)
    }

    @Test("layer sizes, parameter count and ranges tile the parameter vector")
    func layout() throws {
        let architecture = NetworkArchitecture(inputs: 32, hidden: [128, 64], outputs: 10, activation: .relu, loss: .softmaxCrossEntropy)
        #expect(architecture.layerSizes == [32, 128, 64, 10])
        #expect(architecture.parameterCount == 32 * 128 + 128 + 128 * 64 + 64 + 64 * 10 + 10)
        #expect(architecture.weightRange(layer: 0) == 0..<4096)
        #expect(architecture.biasRange(layer: 0) == 4096..<4224)
        #expect(architecture.weightRange(layer: 1) == 4224..<12416)
        #expect(architecture.biasRange(layer: 2) == (architecture.parameterCount - 10)..<architecture.parameterCount)

        let json = try JSONEncoder().encode(architecture)
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains("\"loss\":\"cross-entropy\""))
        #expect(try JSONDecoder().decode(NetworkArchitecture.self, from: json) == architecture)
        let bad = #"{"inputs": 3, "hidden": [0], "outputs": 2, "activation": "relu", "loss": "mse"}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(NetworkArchitecture.self, from: Data(bad.utf8)) }
    }
}
