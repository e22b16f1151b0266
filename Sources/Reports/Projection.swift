import Foundation
import Mixture

/// The first two principal components of a sample's standardised columns, and a mixture drawn in them.
///
/// Each column is centred and divided by its standard deviation first (the plane of the
/// correlation matrix), so a column with a large scale does not take the whole plane.
public struct PrincipalPlane {
    /// The sample's mean.
    public let mean: [Double]
    /// Each column's standard deviation in the sample (1 for a constant column), which divides it.
    public let scales: [Double]
    /// Two orthonormal directions (each `d` values); the second is zero when d = 1.
    public let axes: ([Double], [Double])
    /// The share of the sample's variance along each axis.
    public let explained: (Double, Double)

    /// Finds the plane of `rows` (row-major, `d` columns) by power iteration with deflation.
    public init(rows: [Double], dimension d: Int) {
        let n = max(1, rows.count / d)
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<n { for j in 0..<d { mean[j] += rows[r * d + j] } }
        for j in 0..<d { mean[j] /= Double(n) }
        var scales = [Double](repeating: 0, count: d)
        for r in 0..<n { for j in 0..<d { scales[j] += (rows[r * d + j] - mean[j]) * (rows[r * d + j] - mean[j]) } }
        scales = scales.map { total in
            let deviation = (total / Double(n)).squareRoot()
            return deviation > 0 && deviation.isFinite ? deviation : 1
        }
        var covariance = [Double](repeating: 0, count: d * d)
        for r in 0..<n {
            for i in 0..<d {
                let a = (rows[r * d + i] - mean[i]) / scales[i]
                for j in 0..<d { covariance[i * d + j] += a * (rows[r * d + j] - mean[j]) / scales[j] }
            }
        }
        for i in 0..<(d * d) { covariance[i] /= Double(n) }
        let total = (0..<d).reduce(0) { $0 + covariance[$1 * d + $1] }
        func dominant(_ matrix: [Double]) -> ([Double], Double) {
            var v = (0..<d).map { 1 / Double(d).squareRoot() + 0.01 * Double($0) }
            var value = 0.0
            for _ in 0..<500 {
                var next = [Double](repeating: 0, count: d)
                for i in 0..<d { for j in 0..<d { next[i] += matrix[i * d + j] * v[j] } }
                let norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard norm > 0 else { break }
                value = norm
                v = next.map { $0 / norm }
            }
            return (v, value)
        }
        let (first, firstValue) = dominant(covariance)
        var deflated = covariance
        for i in 0..<d { for j in 0..<d { deflated[i * d + j] -= firstValue * first[i] * first[j] } }
        let (second, secondValue) = d > 1 ? dominant(deflated) : ([Double](repeating: 0, count: d), 0)
        self.mean = mean
        self.scales = scales
        axes = (first, second)
        explained = total > 0 ? (firstValue / total, secondValue / total) : (0, 0)
    }

    /// A row's coordinates in the plane (of its standardised values).
    public func project(_ row: ArraySlice<Double>) -> (x: Double, y: Double) {
        var x = 0.0, y = 0.0
        for (j, value) in row.enumerated() {
            let centred = (value - mean[j]) / scales[j]
            x += centred * axes.0[j]
            y += centred * axes.1[j]
        }
        return (x, y)
    }

    /// Each component's 2-σ ellipse in the plane (its covariance, in standardised units, seen through the two axes).
    public func ellipses(of parameters: MixtureParameters) -> [Report.Ellipse] {
        let d = parameters.dimension
        return (0..<parameters.components).map { k in
            let centre = project(parameters.means[(k * d)..<((k + 1) * d)])
            func sigma(_ i: Int, _ j: Int) -> Double { rawSigma(i, j) / (scales[i] * scales[j]) }
            func rawSigma(_ i: Int, _ j: Int) -> Double {
                switch parameters.covarianceType {
                case .full: return parameters.covariances[k * d * d + i * d + j]
                case .tied: return parameters.covariances[i * d + j]
                case .diag: return i == j ? parameters.covariances[k * d + i] : 0
                case .spherical: return i == j ? parameters.covariances[k] : 0
                }
            }
            func quadratic(_ a: [Double], _ b: [Double]) -> Double {
                var sum = 0.0
                for i in 0..<d { for j in 0..<d { sum += a[i] * sigma(i, j) * b[j] } }
                return sum
            }
            let a = quadratic(axes.0, axes.0), b = quadratic(axes.0, axes.1), c = quadratic(axes.1, axes.1)
            // Eigen-decomposition of the 2×2 [[a, b], [b, c]].
            let half = (a + c) / 2, root = (((a - c) / 2) * ((a - c) / 2) + b * b).squareRoot()
            let large = max(half + root, 0), small = max(half - root, 0)
            let angle = 0.5 * atan2(2 * b, a - c)
            return Report.Ellipse(centre: centre, radii: (2 * large.squareRoot(), 2 * small.squareRoot()), angle: angle, group: k)
        }
    }
}
