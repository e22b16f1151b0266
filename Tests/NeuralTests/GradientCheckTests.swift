import Foundation
import Neural
import Numerics
import Testing

/// The loss configurations the gradient check covers.
enum LossCase: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case crossEntropy3 = "cross-entropy, 3 classes"
    case binary1 = "binary cross-entropy, 1 output"
    case binary2 = "binary cross-entropy, 2 outputs"
    case squaredError2 = "mse, 2 outputs"

    var testDescription: String { rawValue }

    func architecture(_ activation: Activation) -> NetworkArchitecture {
        switch self {
        case .crossEntropy3: NetworkArchitecture(inputs: 4, hidden: [5, 3], outputs: 3, activation: activation, loss: .softmaxCrossEntropy)
        case .binary1: NetworkArchitecture(inputs: 4, hidden: [5, 3], outputs: 1, activation: activation, loss: .binaryCrossEntropy)
        case .binary2: NetworkArchitecture(inputs: 4, hidden: [5, 3], outputs: 2, activation: activation, loss: .binaryCrossEntropy)
        case .squaredError2: NetworkArchitecture(inputs: 4, hidden: [5, 3], outputs: 2, activation: activation, loss: .meanSquaredError)
        }
    }

    func targets(rows: Int, seed: UInt64) -> Targets {
        var generator = SeededGenerator(seed: seed)
        switch self {
        case .crossEntropy3: return .classes((0..<rows).map { _ in generator.nextInt(below: 3) })
        case .binary1: return .classes((0..<rows).map { _ in generator.nextInt(below: 2) })
        case .binary2: return .values((0..<(rows * 2)).map { _ in Double(generator.nextInt(below: 2)) })
        case .squaredError2: return .values((0..<(rows * 2)).map { _ in generator.nextNormal() })
        }
    }
}

/// A small seeded problem for gradient checks.
struct GradientProblem {
    static let rows = 7
    var architecture: NetworkArchitecture
    var parameters: [Double]
    var inputs: [Double]
    var targets: Targets
    /// The smallest |pre-activation| over every hidden unit and row.
    var smallestHiddenPreActivation: Double
    /// The smallest non-zero |central difference| over the parameters.
    var smallestDerivative: Double
    /// Parameter draws tried before one was well conditioned for the check.
    var draws: Int

    /// Derivatives the check can resolve: a loss sum of about 10 carries about 1e-15 of rounding,
    /// so central differences at h = 1e-6 are good to about 1e-9 absolute, and a relative
    /// tolerance of 1e-6 is only meaningful for derivatives well above 1e-3.
    static let smallestResolvableDerivative = 5e-3

    init(activation: Activation, loss: LossCase) {
        architecture = loss.architecture(activation)
        inputs = normals(Self.rows * architecture.inputs, seed: 11)
        targets = loss.targets(rows: Self.rows, seed: 12)
        let reference = ReferenceNetwork(architecture: architecture)
        let workspace = NetworkWorkspace<Double>(architecture: architecture, capacity: Self.rows)
        let (architecture, inputs, targets) = (architecture, inputs, targets)
        func lossSum(_ parameters: [Double]) -> Double {
            Network.batchSums(architecture: architecture, parameters: parameters, inputs: inputs, rows: Self.rows,
                              targets: targets, gradient: false, workspace: workspace).lossSum
        }
        var draw: UInt64 = 0
        while true {
            // Glorot weights and non-zero biases, so every bias path carries a real value.
            var candidate = architecture.initialParameters(seed: 100 + draw, scheme: .glorot)
            if activation == .sigmoid {
                // σ' ≤ 1/4: Glorot & Bengio's 4× wider range keeps the back-propagated signal resolvable.
                candidate = candidate.map { 4 * $0 }
            }
            var generator = SeededGenerator(seed: 200 + draw)
            for layer in 0..<(architecture.hidden.count + 1) {
                for i in architecture.biasRange(layer: layer) { candidate[i] = 0.4 * generator.nextUniform() - 0.2 }
            }
            draw += 1
            parameters = candidate
            let hidden = reference.preActivations(parameters: candidate, inputs: inputs, rows: Self.rows).dropLast()
            smallestHiddenPreActivation = hidden.joined().map(abs).min()!
            // ReLU needs every pre-activation clear of the kink, far beyond what a step of 1e-6 moves it.
            let clearOfKink = activation != .relu || smallestHiddenPreActivation > 1e-3
            smallestDerivative = .infinity
            if clearOfKink {
                var probe = candidate
                for i in candidate.indices {
                    probe[i] = candidate[i] + 1e-6
                    let upper = lossSum(probe)
                    probe[i] = candidate[i] - 1e-6
                    let lower = lossSum(probe)
                    probe[i] = candidate[i]
                    if upper != lower { smallestDerivative = min(smallestDerivative, abs(upper - lower) / 2e-6) }
                }
            }
            if (clearOfKink && smallestDerivative >= Self.smallestResolvableDerivative) || draw == 200 {
                draws = Int(draw)
                return
            }
        }
    }

    func lossSum(_ parameters: [Double], workspace: NetworkWorkspace<Double>) -> Double {
        Network.batchSums(architecture: architecture, parameters: parameters, inputs: inputs, rows: Self.rows,
                          targets: targets, gradient: false, workspace: workspace).lossSum
    }
}

@Suite("Gradients")
struct GradientCheckTests {
    @Test("back-propagation agrees with central differences on every parameter", arguments: Activation.allCases, LossCase.allCases)
    func gradientCheck(activation: Activation, loss: LossCase) throws {
        let problem = GradientProblem(activation: activation, loss: loss)
        if activation == .relu {
            #expect(problem.smallestHiddenPreActivation > 1e-3, "ReLU pre-activations too close to the kink")
        }
        #expect(problem.smallestDerivative >= GradientProblem.smallestResolvableDerivative)
        let workspace = NetworkWorkspace<Double>(architecture: problem.architecture, capacity: GradientProblem.rows)
        let sums = Network.batchSums(
            architecture: problem.architecture, parameters: problem.parameters, inputs: problem.inputs,
            rows: GradientProblem.rows, targets: problem.targets, gradient: true, workspace: workspace)
        #expect(sums.gradient.count == problem.architecture.parameterCount)
        #expect(sums.gradient.contains { $0 != 0 })
        let result = checkGradient(analytic: sums.gradient, at: problem.parameters) {
            problem.lossSum($0, workspace: workspace)
        }
        #expect(result.checked == problem.architecture.parameterCount)
        #expect(result.passed, "worst relative error \(result.worstError) at parameter \(result.worstIndex)")

        // The loss itself agrees with a plain-loop reference.
        let reference = ReferenceNetwork(architecture: problem.architecture).lossSum(
            parameters: problem.parameters, inputs: problem.inputs, rows: GradientProblem.rows, targets: problem.targets)
        #expect(abs(sums.lossSum - reference) <= 1e-12 * abs(reference))
    }

    @Test("the check catches a gradient that is off by 1e-4 relative in one entry, or misses a bias term",
          arguments: [Activation.relu, .tanh])
    func wrongGradientIsCaught(activation: Activation) throws {
        let problem = GradientProblem(activation: activation, loss: .crossEntropy3)
        let workspace = NetworkWorkspace<Double>(architecture: problem.architecture, capacity: GradientProblem.rows)
        let gradient = Network.batchSums(
            architecture: problem.architecture, parameters: problem.parameters, inputs: problem.inputs,
            rows: GradientProblem.rows, targets: problem.targets, gradient: true, workspace: workspace).gradient
        let loss = { problem.lossSum($0, workspace: workspace) }
        #expect(checkGradient(analytic: gradient, at: problem.parameters, loss: loss).passed)

        // One weight of the first layer off by 1e-4 relative.
        var perturbed = gradient
        let weights = problem.architecture.weightRange(layer: 0)
        let index = try #require(weights.max { abs(gradient[$0]) < abs(gradient[$1]) })
        perturbed[index] *= 1 + 1e-4
        let perturbedResult = checkGradient(analytic: perturbed, at: problem.parameters, loss: loss)
        #expect(!perturbedResult.passed)
        #expect(perturbedResult.worstIndex == index)

        // The output layer's bias gradient dropped.
        var withoutBias = gradient
        for i in problem.architecture.biasRange(layer: 2) { withoutBias[i] = 0 }
        #expect(!checkGradient(analytic: withoutBias, at: problem.parameters, loss: loss).passed)
    }
}

@Suite("Dropout")
struct DropoutTests {
    static let rates = [0.5, 0.3]

    static func dropout(rows: Range<Int>, seed: UInt64 = 77) -> Dropout {
        Dropout(rates: rates, seed: seed, rowKeys: rows.map { UInt64($0) })
    }

    // With the masks fixed (the step's seed and the rows' keys), the loss is a smooth function of
    // the parameters, and back-propagation through the masks must agree with central differences.
    // (Sigmoid and ReLU are left out: dropped units leave derivatives below what central
    // differences resolve at the suite's 1e-6 relative tolerance, or pre-activations at the kink.)
    @Test("back-propagation through dropped units agrees with central differences", arguments: [Activation.tanh, .linear])
    func gradientCheck(activation: Activation) throws {
        let problem = GradientProblem(activation: activation, loss: .crossEntropy3)
        let rows = GradientProblem.rows
        let workspace = NetworkWorkspace<Double>(architecture: problem.architecture, capacity: rows)
        let dropout = Self.dropout(rows: 0..<rows)
        let sums = Network.batchSums(
            architecture: problem.architecture, parameters: problem.parameters, inputs: problem.inputs,
            rows: rows, targets: problem.targets, gradient: true, workspace: workspace, dropout: dropout)
        let plain = Network.batchSums(
            architecture: problem.architecture, parameters: problem.parameters, inputs: problem.inputs,
            rows: rows, targets: problem.targets, gradient: true, workspace: workspace)
        #expect(sums.lossSum != plain.lossSum, "dropout changes the loss")
        let result = checkGradient(analytic: sums.gradient, at: problem.parameters) {
            Network.batchSums(architecture: problem.architecture, parameters: $0, inputs: problem.inputs, rows: rows,
                              targets: problem.targets, gradient: false, workspace: workspace, dropout: dropout).lossSum
        }
        #expect(result.passed, "worst relative error \(result.worstError) at parameter \(result.worstIndex)")
        // And the check bites: the gradient of the plain network is not this one's.
        #expect(!checkGradient(analytic: plain.gradient, at: problem.parameters) {
            Network.batchSums(architecture: problem.architecture, parameters: $0, inputs: problem.inputs, rows: rows,
                              targets: problem.targets, gradient: false, workspace: workspace, dropout: dropout).lossSum
        }.passed)
    }

    @Test("each layer drops its rate of the units and scales the rest by 1/(1 − p)")
    func ratesAndScale() {
        let dropout = Self.dropout(rows: 0..<2000)
        for (layer, p) in Self.rates.enumerated() {
            var mask = [Double](repeating: -1, count: 100)
            var dropped = 0
            for row in 0..<2000 {
                mask.withUnsafeMutableBufferPointer { dropout.mask(layer: layer, row: row, width: 100, into: $0.baseAddress!) }
                dropped += mask.filter { $0 == 0 }.count
                #expect(mask.allSatisfy { $0 == 0 || $0 == 1 / (1 - p) })
            }
            // 200,000 draws: the standard error of the fraction is about 0.001.
            #expect(abs(Double(dropped) / 200_000 - p) < 0.006, "layer \(layer): \(dropped) of 200000 dropped")
        }
    }

    @Test("a row's dropped units depend on its key and the step's seed, not on the batch it is in; rate 0 drops nothing")
    func masksFollowTheRows() {
        let architecture = NetworkArchitecture(inputs: 4, hidden: [64, 32], outputs: 3, activation: .tanh, loss: .softmaxCrossEntropy)
        let parameters = architecture.initialParameters(seed: 3)
        let rows = 40
        let inputs = normals(rows * 4, seed: 4)
        let labels = (0..<rows).map { $0 % 3 }
        let workspace = NetworkWorkspace<Double>(architecture: architecture, capacity: rows)
        func sums(_ range: Range<Int>, _ dropout: Dropout?) -> BatchSums {
            Network.batchSums(architecture: architecture, parameters: parameters, inputs: Array(inputs[(range.lowerBound * 4)..<(range.upperBound * 4)]),
                              rows: range.count, targets: .classes(Array(labels[range])), gradient: true, workspace: workspace, dropout: dropout)
        }
        let whole = sums(0..<rows, Self.dropout(rows: 0..<rows))
        var halves = sums(0..<15, Self.dropout(rows: 0..<15))
        halves.add(sums(15..<rows, Self.dropout(rows: 15..<rows)))
        #expect(abs(halves.lossSum - whole.lossSum) <= 1e-12 * abs(whole.lossSum))
        #expect(zip(halves.gradient, whole.gradient).allSatisfy { abs($0 - $1) <= 1e-12 * (1 + abs($1)) })
        #expect(sums(0..<rows, Self.dropout(rows: 0..<rows, seed: 78)).lossSum != whole.lossSum, "another step drops other units")
        let none = sums(0..<rows, nil)
        #expect(sums(0..<rows, Dropout(rates: [0, 0], seed: 77, rowKeys: (0..<rows).map { UInt64($0) })) == none)
        #expect(whole.lossSum != none.lossSum)
    }
}

@Suite("Single-precision passes")
struct SinglePrecisionTests {
    /// ‖a − b‖ / ‖b‖.
    static func relativeDistance(_ a: [Double], _ b: [Double]) -> Double {
        let difference = zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        return (difference / b.reduce(0) { $0 + $1 * $1 }).squareRoot()
    }

    static func sums(_ problem: GradientProblem, parameters: [Double]) -> (single: BatchSums, double: BatchSums) {
        let rows = GradientProblem.rows
        let double = Network.batchSums(
            architecture: problem.architecture, parameters: parameters, inputs: problem.inputs, rows: rows,
            targets: problem.targets, gradient: true,
            workspace: NetworkWorkspace<Double>(architecture: problem.architecture, capacity: rows))
        let single = Network.batchSums(
            architecture: problem.architecture, parameters: parameters.map { Float($0) }, inputs: problem.inputs.map { Float($0) },
            rows: rows, targets: problem.targets, gradient: true,
            workspace: NetworkWorkspace<Float>(architecture: problem.architecture, capacity: rows))
        return (single, double)
    }

    // The double-precision gradient is checked against central differences above; single
    // precision carries about 6e-8 relative rounding per operation, so its gradient must agree
    // with the double one to 1e-5 (norm-wise) on every layer, activation and loss.
    @Test("Float passes give the double-precision loss and gradient to single-precision accuracy",
          arguments: Activation.allCases, LossCase.allCases)
    func agreesWithDoublePrecision(activation: Activation, loss: LossCase) {
        let problem = GradientProblem(activation: activation, loss: loss)
        let (single, double) = Self.sums(problem, parameters: problem.parameters)
        #expect(single.gradient.isEmpty)
        #expect(single.narrowGradient.count == problem.architecture.parameterCount)
        #expect(single.rows == double.rows && single.correct == double.correct)
        #expect(abs(single.lossSum - double.lossSum) <= 1e-5 * abs(double.lossSum))
        #expect(Self.relativeDistance(single.wideGradient, double.gradient) <= 1e-5)
        #expect(abs(single.squaredErrorSum - double.squaredErrorSum) <= 1e-5 * max(double.squaredErrorSum, 1e-30))
    }

    @Test("the comparison can fail: weights off by 1e-3 in one layer are caught")
    func toleranceBites() {
        let problem = GradientProblem(activation: .tanh, loss: .crossEntropy3)
        var shifted = problem.parameters
        for i in problem.architecture.weightRange(layer: 1) { shifted[i] *= 1 + 1e-3 }
        let single = Self.sums(problem, parameters: shifted).single
        let double = Self.sums(problem, parameters: problem.parameters).double
        #expect(Self.relativeDistance(single.wideGradient, double.gradient) > 1e-5)
    }

    @Test("single-precision sums are the same bits every time and add up in Float")
    func deterministicAndAdditive() {
        let problem = GradientProblem(activation: .relu, loss: .crossEntropy3)
        let first = Self.sums(problem, parameters: problem.parameters).single
        let second = Self.sums(problem, parameters: problem.parameters).single
        #expect(first == second)
        var total = first
        total.add(second)
        #expect(total.narrowGradient == zip(first.narrowGradient, second.narrowGradient).map { $0 + $1 })
        #expect(total.rows == 2 * first.rows)
    }
}
