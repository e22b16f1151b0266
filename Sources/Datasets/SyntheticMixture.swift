import Foundation
import Numerics

/// Seeded synthetic Gaussian-mixture data: the same bytes for the same seed on any machine.
///
/// The model: means drawn from N(0, 6²) per coordinate; weights from a Dirichlet(2)
/// distribution (each a Gamma(2) variate, the sum of two exponentials, normalised);
/// each component a random full covariance `A Aᵀ / D + 0.5 I` with `A` standard normal.
/// Each row draws its component from the weights, then `mean + L z` with `L` the
/// Cholesky factor of the covariance and `z` standard normal.
///
/// The parameters come from `SeededGenerator(seed: seed, stream: 0)` and the rows from
/// `stream: 1`, one row after another, so the first `n` rows of a larger sample equal a
/// sample of `n` rows.
///
/// ```swift
/// let (x, labels) = SyntheticMixture.generate(samples: 1000, features: 2, components: 3, seed: 42)
/// ```
public enum SyntheticMixture {
    /// The parameters a generated dataset is drawn from.
    public struct Parameters: Sendable, Equatable {
        /// Mixing weights, summing to 1.
        public var weights: [Double]
        /// One mean vector per component.
        public var means: [[Double]]
        /// One covariance per component, `D × D` row-major.
        public var covariances: [[Double]]
    }

    /// The parameters `generate` uses for these sizes and seed.
    ///
    /// - Precondition: `features >= 1` and `components >= 1`.
    public static func parameters(features: Int, components: Int, seed: UInt64) -> Parameters {
        precondition(features >= 1 && components >= 1, "features and components must be positive")
        var rng = SeededGenerator(seed: seed, stream: 0)
        let d = features
        let means = (0..<components).map { _ in (0..<d).map { _ in 6 * rng.nextNormal() } }
        var weights = (0..<components).map { _ in
            // Gamma(2, 1) = Exp(1) + Exp(1); 1 - u lies in (0, 1], so the logarithm is finite.
            -log((1 - rng.nextUniform()) * (1 - rng.nextUniform()))
        }
        let total = weights.reduce(0, +)
        weights = total > 0 ? weights.map { $0 / total } : Array(repeating: 1 / Double(components), count: components)
        let covariances = (0..<components).map { _ -> [Double] in
            let a = (0..<d * d).map { _ in rng.nextNormal() }
            var sigma = [Double](repeating: 0, count: d * d)
            for i in 0..<d {
                for j in 0...i {
                    var sum = 0.0
                    for k in 0..<d { sum += a[i * d + k] * a[j * d + k] }
                    let value = sum / Double(d) + (i == j ? 0.5 : 0)
                    sigma[i * d + j] = value
                    sigma[j * d + i] = value
                }
            }
            return sigma
        }
        return Parameters(weights: weights, means: means, covariances: covariances)
    }

    /// Draws `samples` rows and their component labels.
    ///
    /// - Parameters:
    ///   - scalarType: the precision of the returned matrix (`float32` rounds the `Double` draws).
    /// - Returns: the rows, in generation order, and each row's component (0-based).
    /// - Precondition: `samples >= 0`, `features >= 1`, `components >= 1`.
    public static func generate(
        samples: Int, features: Int, components: Int, seed: UInt64, scalarType: ScalarType = .float64
    ) -> (features: FeatureMatrix, labels: [Int]) {
        precondition(samples >= 0, "samples must not be negative")
        let parameters = parameters(features: features, components: components, seed: seed)
        let d = features
        let factors = parameters.covariances.map { choleskyLower($0, dimension: d) }
        var cumulative = [Double]()
        var running = 0.0
        for weight in parameters.weights {
            running += weight
            cumulative.append(running)
        }
        cumulative[cumulative.count - 1] = .infinity

        var rng = SeededGenerator(seed: seed, stream: 1)
        var values = [Double](repeating: 0, count: samples * d)
        var labels = [Int](repeating: 0, count: samples)
        var z = [Double](repeating: 0, count: d)
        for row in 0..<samples {
            let u = rng.nextUniform()
            let component = cumulative.firstIndex { u < $0 }!
            labels[row] = component
            for j in 0..<d { z[j] = rng.nextNormal() }
            let mean = parameters.means[component], factor = factors[component]
            for i in 0..<d {
                var x = mean[i]
                for k in 0...i { x += factor[i * d + k] * z[k] }
                values[row * d + i] = x
            }
        }
        let matrix = FeatureMatrix(rows: samples, columns: d, values: values)
        return (matrix.converted(to: scalarType), labels)
    }

    /// The lower Cholesky factor of a symmetric positive definite row-major matrix.
    private static func choleskyLower(_ a: [Double], dimension d: Int) -> [Double] {
        var l = [Double](repeating: 0, count: d * d)
        for i in 0..<d {
            for j in 0...i {
                var sum = a[i * d + j]
                for k in 0..<j { sum -= l[i * d + k] * l[j * d + k] }
                l[i * d + j] = i == j ? sum.squareRoot() : sum / l[j * d + j]
            }
        }
        return l
    }
}

extension SyntheticMixture {
    /// The data of the seed document's example, as its code means it: 2-D standard normal points,
    /// each shifted by `2·b₁` along x₀ and `4·b₂` along x₁ with `b₁`, `b₂` fair coin flips drawn per
    /// point (the document's code adds one scalar to a whole column instead).
    ///
    /// - Returns: the points and, per point, which of the four offsets it got (`b₁ + 2·b₂`).
    public static func seedExample(samples: Int, seed: UInt64) -> (features: FeatureMatrix, labels: [Int]) {
        var generator = SeededGenerator(seed: seed)
        var values = [Double](), labels = [Int]()
        values.reserveCapacity(2 * samples)
        labels.reserveCapacity(samples)
        for _ in 0..<samples {
            let x0 = generator.nextNormal(), x1 = generator.nextNormal()
            let b1 = generator.nextUniform() < 0.5 ? 1 : 0, b2 = generator.nextUniform() < 0.5 ? 1 : 0
            values += [x0 + 2 * Double(b1), x1 + 4 * Double(b2)]
            labels.append(b1 + 2 * b2)
        }
        return (FeatureMatrix(rows: samples, columns: 2, values: values), labels)
    }
}
