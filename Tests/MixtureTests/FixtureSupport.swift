import Datasets
import Foundation
import Mixture

/// A scikit-learn reference case written by scripts/make_fixtures.py.
struct ReferenceCase: Decodable {
    struct Initial: Decodable {
        var weights: [Double]
        var means: [[Double]]
        var covariances: NestedNumbers
    }

    struct Expected: Decodable {
        var weights: [Double]
        var means: [[Double]]
        var covariances: NestedNumbers
        var lower_bounds: [Double]
        var n_iter: Int
        var test_predict_proba: [[Double]]
        var test_predict: [Int]
        var test_score_samples: [Double]
        var test_score: Double
        var test_bic: Double
        var test_aic: Double
    }

    var covariance_type: String
    var n_components: Int
    var reg_covar: Double
    var iterations: Int
    var `init`: Initial
    var expected: Expected

    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static let names = ["full", "tied", "diag", "spherical", "degenerate_full", "offset_full", "wide_full", "wide_tied", "iris_full", "wine_diag"]

    static func load(_ name: String) throws -> (ReferenceCase, train: FeatureMatrix, test: FeatureMatrix) {
        let json = try Data(contentsOf: directory.appendingPathComponent("\(name).json"))
        let reference = try JSONDecoder().decode(ReferenceCase.self, from: json)
        let train = try NPYReader(path: directory.appendingPathComponent("\(name).train.npy").path).readAll()
        let test = try NPYReader(path: directory.appendingPathComponent("\(name).test.npy").path).readAll()
        return (reference, train, test)
    }
}

/// Numbers nested to any depth, flattened in C order.
struct NestedNumbers: Decodable {
    var flat: [Double]

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Double.self) { flat = [value]; return }
        if let value = try? container.decode([Double].self) { flat = value; return }
        if let value = try? container.decode([[Double]].self) { flat = value.flatMap { $0 }; return }
        flat = try container.decode([[[Double]]].self).flatMap { $0.flatMap { $0 } }
    }
}

/// ‖a − b‖ / max(‖b‖, tiny): the norm-wise relative difference.
func relativeDifference(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count, "sizes differ: \(a.count) vs \(b.count)")
    var difference = 0.0, norm = 0.0
    for i in 0..<a.count {
        difference += (a[i] - b[i]) * (a[i] - b[i])
        norm += b[i] * b[i]
    }
    return difference.squareRoot() / max(norm.squareRoot(), 1e-300)
}
