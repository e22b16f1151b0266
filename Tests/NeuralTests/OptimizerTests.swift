import Foundation
import Neural
import Numerics
import Testing

@Suite("Optimizers and schedules")
struct OptimizerTests {
    static let start: [Double] = [0.5, -1.0, 2.0]
    static let gradients: [[Double]] = [[0.1, -0.2, 0.3], [-0.05, 0.4, 0.0]]

    static func run(_ settings: OptimizerSettings, learningRate: Double) -> (parameters: [Double], state: OptimizerState) {
        var parameters = start
        var state = OptimizerState(parameterCount: 3, settings: settings)
        for gradient in gradients {
            state.update(parameters: &parameters, gradient: gradient, learningRate: learningRate, settings: settings)
        }
        return (parameters, state)
    }

    static func close(_ a: [Double], _ b: [Double], within tolerance: Double = 1e-14) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance }
    }

    @Test("Adam matches a hand computation of two steps")
    func adam() {
        // Step 1: m = 0.1·g, v = 0.001·g², lr₁ = 0.01·√0.001/0.1, so each weight moves by about
        // 0.01 against its gradient's sign (less ε's share).
        // Step 2: m = [0.004, 0.022, 0.027], v = [1.249e-5, 1.9996e-4, 8.991e-5],
        // lr₂ = 0.01·√(1 − 0.999²)/(1 − 0.9²) = 0.0023531672532745274.
        let settings = OptimizerSettings(kind: .adam)
        var parameters = Self.start
        var state = OptimizerState(parameterCount: 3, settings: settings)
        state.update(parameters: &parameters, gradient: Self.gradients[0], learningRate: 0.01, settings: settings)
        #expect(Self.close(parameters, [0.4900000316226766, -0.9900000158113633, 1.9900000105409144]))
        state.update(parameters: &parameters, gradient: Self.gradients[1], learningRate: 0.01, settings: settings)
        #expect(Self.close(parameters, [0.4873366687622154, -0.9936610484927219, 1.98329943506611]))
        #expect(state.step == 2)
        #expect(Self.close(state.first, [0.004, 0.022, 0.027], within: 1e-17))
        #expect(Self.close(state.second, [1.249e-5, 1.9996e-4, 8.991e-5], within: 1e-18))
    }

    @Test("an update from a single-precision gradient gives the bits of the widened one, and the weights rounded",
          arguments: [OptimizerSettings(kind: .adam), OptimizerSettings(kind: .sgd, momentum: 0.9)])
    func narrowGradientUpdate(settings: OptimizerSettings) {
        // Large enough to be updated in parts on several threads.
        let n = 200_003
        var generator = SeededGenerator(seed: 5)
        let start = (0..<n).map { _ in generator.nextUniform() - 0.5 }
        var wide = start, narrow = start
        var wideState = OptimizerState(parameterCount: n, settings: settings), narrowState = wideState
        var rounded: [Float] = []
        for _ in 0..<3 {
            let gradient = (0..<n).map { _ in Float(generator.nextUniform() * 2 - 1) }
            wideState.update(parameters: &wide, gradient: gradient.map { Double($0) }, learningRate: 0.01, settings: settings,
                             gradientScale: 1.0 / 3)
            narrowState.update(parameters: &narrow, narrowGradient: gradient, learningRate: 0.01, settings: settings,
                               gradientScale: 1.0 / 3, narrowParameters: &rounded)
        }
        #expect(narrow.map(\.bitPattern) == wide.map(\.bitPattern))
        #expect(narrowState == wideState)
        #expect(rounded.map(\.bitPattern) == wide.map { Float($0).bitPattern })
    }

    @Test("SGD with momentum: v = μv − lr·g, w += v")
    func momentum() {
        // v₁ = [−0.01, 0.02, −0.03]; v₂ = 0.9·v₁ − 0.1·g₂ = [−0.004, −0.022, −0.027].
        let result = Self.run(OptimizerSettings(kind: .sgd, momentum: 0.9), learningRate: 0.1)
        #expect(Self.close(result.parameters, [0.486, -1.002, 1.943]))
        #expect(Self.close(result.state.first, [-0.004, -0.022, -0.027], within: 1e-17))
        #expect(result.state.second.isEmpty)
        let plain = Self.run(OptimizerSettings(kind: .sgd, momentum: 0), learningRate: 0.1)
        let plainExpected: [Double] = [0.495, -1.02, 1.97]   // w − 0.1·(g₁ + g₂)
        #expect(Self.close(plain.parameters, plainExpected))
    }

    @Test("Nesterov momentum: w += μv − lr·g with the new velocity")
    func nesterov() {
        // Step 1: 0.9·v₁ − 0.1·g₁ = [−0.019, 0.038, −0.057]; step 2: 0.9·v₂ − 0.1·g₂ = [0.0014, −0.0598, −0.0243].
        let result = Self.run(OptimizerSettings(kind: .sgd, momentum: 0.9, nesterov: true), learningRate: 0.1)
        #expect(Self.close(result.parameters, [0.4824, -1.0218, 1.9187]))
    }

    @Test("optimizer state and settings survive JSON bit for bit")
    func stateRoundTrip() throws {
        let settings = OptimizerSettings(kind: .adam, beta2: 0.99)
        let state = Self.run(settings, learningRate: 0.003).state
        let decoded = try JSONDecoder().decode(OptimizerState.self, from: JSONEncoder().encode(state))
        #expect(decoded.first.map(\.bitPattern) == state.first.map(\.bitPattern))
        #expect(decoded.second.map(\.bitPattern) == state.second.map(\.bitPattern))
        #expect(decoded.step == 2)
        #expect(try JSONDecoder().decode(OptimizerSettings.self, from: JSONEncoder().encode(settings)) == settings)
    }

    @Test("constant, step and cosine rates")
    func schedules() {
        #expect(LearningRateSchedule.constant.rate(base: 0.1, epoch: 57) == 0.1)
        let step = LearningRateSchedule.step(everyEpochs: 10, factor: 0.5)
        #expect(step.rate(base: 0.1, epoch: 0) == 0.1)
        #expect(step.rate(base: 0.1, epoch: 9) == 0.1)
        #expect(step.rate(base: 0.1, epoch: 10) == 0.05)
        #expect(step.rate(base: 0.1, epoch: 25) == 0.025)
        let cosine = LearningRateSchedule.cosine(totalEpochs: 10, minimum: 0.1)
        #expect(cosine.rate(base: 1, epoch: 0) == 1)
        #expect(abs(cosine.rate(base: 1, epoch: 5) - 0.55) < 1e-15)
        #expect(abs(cosine.rate(base: 2, epoch: 10) - 0.2) < 1e-15)
        #expect(abs(cosine.rate(base: 2, epoch: 12) - 0.2) < 1e-15)
        #expect(abs(LearningRateSchedule.cosine(totalEpochs: 4, minimum: 0).rate(base: 1, epoch: 1) - (1 + cos(Double.pi / 4)) / 2) < 1e-15)
    }

    @Test("parsing schedules", arguments: [
        ("constant", LearningRateSchedule.constant),
        ("step:10:0.5", .step(everyEpochs: 10, factor: 0.5)),
        ("cosine", .cosine(totalEpochs: 30, minimum: 0)),
        ("cosine:0.01", .cosine(totalEpochs: 30, minimum: 0.01)),
    ])
    func parse(text: String, expected: LearningRateSchedule) throws {
        #expect(try LearningRateSchedule.parse(text, totalEpochs: 30) == expected)
    }

    @Test("bad schedules are one-line errors", arguments: [
        "", "linear", "constant:1", "step", "step:10", "step:0:0.5", "step:x:0.5", "step:10:-1", "step:10:0.5:1",
        "cosine:2", "cosine:-0.1", "cosine:a", "cosine:0.1:3",
    ])
    func parseErrors(text: String) {
        #expect {
            try LearningRateSchedule.parse(text, totalEpochs: 30)
        } throws: { error in
            let message = "\(error)"
            return error is LearningRateScheduleError && message.hasPrefix("learning-rate schedule \"\(text)\": ")
                && !message.contains("\n")
        }
    }

    @Test("schedules encode with snake_case keys and decode to themselves")
    func scheduleCoding() throws {
        for schedule: LearningRateSchedule in [.constant, .step(everyEpochs: 3, factor: 0.1), .cosine(totalEpochs: 20, minimum: 0.05)] {
            let json = try JSONEncoder().encode(schedule)
            #expect(try JSONDecoder().decode(LearningRateSchedule.self, from: json) == schedule)
        }
        let text = String(decoding: try JSONEncoder().encode(LearningRateSchedule.step(everyEpochs: 3, factor: 0.1)), as: UTF8.self)
        #expect(text.contains("\"every_epochs\":3"))
        #expect(LearningRateSchedule.step(everyEpochs: 3, factor: 0.1).description == "step:3:0.1")
    }
}
