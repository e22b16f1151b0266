import Foundation
import Numerics
import Testing

@Suite("Special functions")
struct SpecialFunctionsTests {
    /// scipy.special.digamma at these points (scipy 1.x, Cephes' psi).
    static let digammaReference: [(Double, Double)] = [
        (0.001, -1000.5755719318103), (0.05, -20.49784499129987), (0.1, -10.423754940411076), (0.5, -1.9635100260214235),
        (1, -0.5772156649015329), (2, 0.42278433509846713), (3.7, 1.1671535393615113), (9.99, 2.250700372831201),
        (10, 2.251752589066721), (25.5, 3.2189424728839198), (150.25, 5.008969095021217), (1e4, 9.21029037114285),
        (1e8, 18.420680738952367),
    ]

    @Test("digamma agrees with scipy to 1e-14 relative from 0.001 to 1e8")
    func digammaMatchesScipy() {
        for (x, expected) in Self.digammaReference {
            let value = SpecialFunctions.digamma(x)
            #expect(abs(value - expected) <= 1e-14 * abs(expected), "ψ(\(x)) = \(value), scipy \(expected)")
        }
        // Near the positive root the error is absolute.
        #expect(abs(SpecialFunctions.digamma(1.4616321449683622)) < 1e-15)
        #expect(SpecialFunctions.digamma(0).isNaN && SpecialFunctions.digamma(-1).isNaN)
    }

    @Test("log-beta agrees with scipy's betaln")
    func logBetaMatchesScipy() {
        #expect(abs(SpecialFunctions.logBeta(150.5, 3.25) - -15.383725435891947) < 1e-12)
        #expect(abs(SpecialFunctions.logBeta(0.1, 1.0) - 2.302585092994046) < 1e-14)
    }
}
