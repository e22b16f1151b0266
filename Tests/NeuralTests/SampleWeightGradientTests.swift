import Foundation
import Neural
import Numerics
import Testing

/// Weighted batches: each row's loss and gradient times its weight.
@Suite("Gradients with sample weights")
struct SampleWeightGradientTests {
    /// Weights with a zero, fractions and integers, one per row of the problem.
    static let weights: [Double] = [0.5, 0, 2, 1.25, 3, 1, 0.75]

    @Test("weighted back-propagation agrees with central differences of the weighted loss", arguments: [Activation.tanh, .sigmoid], LossCase.allCases)
    func weightedGradientCheck(activation: Activation, loss: LossCase) throws {
        let problem = GradientProblem(activation: activation, loss: loss)
        let workspace = NetworkWorkspace<Double>(architecture: problem.architecture, capacity: GradientProblem.rows)
        func sums(_ parameters: [Double], gradient: Bool) -> BatchSums {
            Network.batchSums(architecture: problem.architecture, parameters: parameters, inputs: problem.inputs, rows: GradientProblem.rows,
                              targets: problem.targets, gradient: gradient, workspace: workspace, weights: Self.weights)
        }
        let weighted = sums(problem.parameters, gradient: true)
        #expect(weighted.weight == Self.weights.reduce(0, +))
        let result = checkGradient(analytic: weighted.gradient, at: problem.parameters) { sums($0, gradient: false).lossSum }
        #expect(result.passed, "worst relative error \(result.worstError) at parameter \(result.worstIndex)")
        // The weighted loss is Σ w · (each row's loss).
        var expected = 0.0
        for r in 0..<GradientProblem.rows {
            let single = Network.batchSums(
                architecture: problem.architecture, parameters: problem.parameters,
                inputs: Array(problem.inputs[(r * problem.architecture.inputs)..<((r + 1) * problem.architecture.inputs)]), rows: 1,
                targets: Self.row(problem.targets, r, outputs: problem.architecture.outputs), gradient: false, workspace: workspace)
            expected += Self.weights[r] * single.lossSum
        }
        #expect(abs(weighted.lossSum - expected) <= 1e-12 * abs(expected))
    }

    static func row(_ targets: Targets, _ r: Int, outputs: Int) -> Targets {
        switch targets {
        case let .classes(labels): .classes([labels[r]])
        case let .values(values): .values(Array(values[(r * outputs)..<((r + 1) * outputs)]))
        }
    }

    /// `targets` and `inputs` with each row repeated as many times as its integer weight says.
    static func repeated(_ problem: GradientProblem, _ weights: [Double]) -> (inputs: [Double], targets: Targets, rows: Int) {
        let d = problem.architecture.inputs, k = problem.architecture.outputs
        var inputs = [Double](), labels = [Int](), values = [Double]()
        for (r, weight) in weights.enumerated() {
            for _ in 0..<Int(weight) {
                inputs += problem.inputs[(r * d)..<((r + 1) * d)]
                switch problem.targets {
                case let .classes(all): labels.append(all[r])
                case let .values(all): values += all[(r * k)..<((r + 1) * k)]
                }
            }
        }
        let rows = Int(weights.reduce(0, +))
        if case .classes = problem.targets { return (inputs, .classes(labels), rows) }
        return (inputs, .values(values), rows)
    }

    @Test("integer weights give the gradient sum and loss of the rows repeated that many times (one full batch)",
          arguments: [NetworkPrecision.float64, .float32], LossCase.allCases)
    func integerWeightsAreRepeatedRows(precision: NetworkPrecision, loss: LossCase) throws {
        let problem = GradientProblem(activation: .tanh, loss: loss)
        let integers: [Double] = [2, 0, 1, 3, 1, 0, 2]
        let copy = Self.repeated(problem, integers)
        func sums(_ inputs: [Double], _ targets: Targets, rows: Int, weights: [Double]?) -> BatchSums {
            switch precision {
            case .float64:
                return Network.batchSums(
                    architecture: problem.architecture, parameters: problem.parameters, inputs: inputs, rows: rows, targets: targets,
                    gradient: true, workspace: NetworkWorkspace<Double>(architecture: problem.architecture, capacity: rows), weights: weights)
            case .float32:
                return Network.batchSums(
                    architecture: problem.architecture, parameters: problem.parameters.map { Float($0) }, inputs: inputs.map { Float($0) },
                    rows: rows, targets: targets, gradient: true,
                    workspace: NetworkWorkspace<Float>(architecture: problem.architecture, capacity: rows), weights: weights)
            }
        }
        let weighted = sums(problem.inputs, problem.targets, rows: GradientProblem.rows, weights: integers)
        let plain = sums(copy.inputs, copy.targets, rows: copy.rows, weights: nil)
        let tolerance = precision == .float64 ? 1e-12 : 1e-5
        #expect(weighted.weight == Double(plain.rows))
        #expect(abs(weighted.lossSum - plain.lossSum) <= tolerance * abs(plain.lossSum))
        #expect(weighted.correctWeight == Double(plain.correct))
        #expect(abs(weighted.squaredErrorSum - plain.squaredErrorSum) <= tolerance * max(1, abs(plain.squaredErrorSum)))
        let a = weighted.wideGradient, b = plain.wideGradient
        let difference = zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        let norm = b.map { $0 * $0 }.reduce(0, +).squareRoot()
        #expect(difference <= tolerance * norm)
    }

    @Test("weights of one are the unweighted sums, bit for bit in the loss and gradient")
    func unitWeights() {
        let problem = GradientProblem(activation: .relu, loss: .crossEntropy3)
        let workspace = NetworkWorkspace<Double>(architecture: problem.architecture, capacity: GradientProblem.rows)
        let plain = Network.batchSums(architecture: problem.architecture, parameters: problem.parameters, inputs: problem.inputs,
                                      rows: GradientProblem.rows, targets: problem.targets, gradient: true, workspace: workspace)
        let ones = Network.batchSums(architecture: problem.architecture, parameters: problem.parameters, inputs: problem.inputs,
                                     rows: GradientProblem.rows, targets: problem.targets, gradient: true, workspace: workspace,
                                     weights: [Double](repeating: 1, count: GradientProblem.rows))
        #expect(ones == plain)
    }
}
