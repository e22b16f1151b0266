import Foundation
import Mixture
import Numerics
import Testing

/// The model file's own writer of the covariances gives `JSONEncoder`'s bytes.
@Suite("Model file writer")
struct ModelFileWriterTests {
    @Test("the bytes JSONEncoder writes for the document, for every covariance type", arguments: CovarianceType.allCases)
    func sameBytesAsJSONEncoder(type: CovarianceType) throws {
        let k = 3, d = 4
        var generator = SeededGenerator(seed: 7, stream: 1)
        // Integral values (written without ".0"), tiny and huge ones, and ordinary ones.
        let special: [Double] = [1, 2, 1e-300, 1e300, 1e16, 1e15, 0.1, 123456.75, 5e-324]
        func value(_ i: Int) -> Double { i < special.count ? special[i] : generator.nextUniform() * 10 + 0.5 }
        let covariances: [Double]
        switch type {
        case .full:
            // Diagonal matrices: positive definite whatever the values.
            covariances = (0..<k).flatMap { c in (0..<(d * d)).map { $0 % (d + 1) == 0 ? value(c * d + $0 / (d + 1)) : 0 } }
        case .tied: covariances = (0..<(d * d)).map { $0 % (d + 1) == 0 ? value($0 / (d + 1)) : 0 }
        case .diag: covariances = (0..<(k * d)).map(value)
        case .spherical: covariances = (0..<k).map(value)
        }
        let parameters = try MixtureParameters(
            covarianceType: type, components: k, dimension: d, weights: [0.25, 0.25, 0.5],
            means: (0..<(k * d)).map { Double($0) - 3.5 }, covariances: covariances)
        var model = GaussianMixture(parameters: parameters)
        model.logLikelihoodHistory = [-3.25, -2.5]
        model.options = FitOptions(components: k)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let expected = try encoder.encode(MixtureModelFile.Document(model))
        let written = try MixtureModelFile.encode(model)
        #expect(written == expected, "\(String(decoding: written, as: UTF8.self))")
        #expect(try MixtureModelFile.decode(written, source: "written").parameters == parameters)

        // Through a file, and atomically: nothing else is left in the directory.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-writer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("model.json").path
        try MixtureModelFile.write(model, to: path)
        #expect(FileManager.default.contents(atPath: path) == expected)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["model.json"])
    }
}
