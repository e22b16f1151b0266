import Foundation

/// The special functions of variational inference: digamma, log-gamma and log-beta.
public enum SpecialFunctions {
    /// The digamma function ψ(x) = d/dx log Γ(x) for x > 0 (NaN otherwise).
    ///
    /// As Cephes' `psi` (scipy.special.digamma): the recurrence ψ(x) = ψ(x + 1) − 1/x up to
    /// x ≥ 10, then the asymptotic series in 1/x², whose first omitted term is below 1e-16 there.
    ///
    /// ```swift
    /// SpecialFunctions.digamma(1)  // −0.5772156649015329 (−γ)
    /// ```
    public static func digamma(_ x: Double) -> Double {
        guard x > 0, x.isFinite else { return x == .infinity ? .infinity : .nan }
        var x = x
        var result = 0.0
        while x < 10 {
            result -= 1 / x
            x += 1
        }
        let f = 1 / (x * x)
        // Bernoulli terms B_2k / (2k): 1/12, 1/120, 1/252, 1/240, 1/132, 691/32760, 1/12.
        let series = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132 - f * (691.0 / 32760 - f / 12))))))
        return result + log(x) - 0.5 / x - series
    }

    /// log Γ(x) for x > 0 (the C library's `lgamma`).
    public static func logGamma(_ x: Double) -> Double { lgamma(x) }

    /// log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b) for a, b > 0.
    public static func logBeta(_ a: Double, _ b: Double) -> Double { lgamma(a) + lgamma(b) - lgamma(a + b) }
}
