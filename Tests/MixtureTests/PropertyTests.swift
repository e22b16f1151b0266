import Datasets
import Engine
import Foundation
import Mixture
import Numerics
import Testing

/// Properties the engine must keep whatever the data: exact merges, shift invariance, thread independence.
@Suite("EM engine properties")
struct PropertyTests {
    static let data = SyntheticMixture.generate(samples: 6000, features: 5, components: 4, seed: 11).features

    static func options(_ type: CovarianceType, iterations: Int = 15) -> FitOptions {
        var options = FitOptions(components: 4)
        options.covarianceType = type
        options.maxIterations = iterations
        options.tolerance = 0
        options.seed = 3
        return options
    }

    @Test("statistics of two halves merged equal those of the whole", arguments: CovarianceType.allCases)
    func mergedHalvesEqualWhole(type: CovarianceType) throws {
        let data = Self.data
        let model = try GaussianMixture.fit(data, options: Self.options(type, iterations: 3)).prepared()
        let whole = try runExpectation(model, data: data, shards: 1)
        let halves = try runExpectation(model, data: data, shards: 2)
        #expect(whole.rows == halves.rows)
        #expect(relativeDifference(halves.moments, whole.moments) < 1e-12)
        #expect(relativeDifference(halves.responsibilitySums, whole.responsibilitySums) < 1e-12)
        #expect(relativeDifference([halves.logLikelihoodSum], [whole.logLikelihoodSum]) < 1e-12)
    }

    func runExpectation(_ model: PreparedMixture, data: FeatureMatrix, shards: Int) throws -> MixtureStatistics {
        let runner = LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: shards), threads: 2)
        guard case let .statistics(statistics) = try runner.run(.expectation(model: model)) else { throw MixtureError.invalidData("no statistics") }
        return statistics
    }

    @Test("adding 1e6 to every column shifts the means by exactly that and leaves covariances alone",
          arguments: CovarianceType.allCases)
    func offsetInvariance(type: CovarianceType) throws {
        let data = Self.data
        let shifted = FeatureMatrix(rows: data.rows, columns: data.columns, values: data.doubles().map { $0 + 1e6 })
        let base = try GaussianMixture.fit(data, options: Self.options(type))
        let moved = try GaussianMixture.fit(shifted, options: Self.options(type))
        let expectedMeans = base.parameters.means.map { $0 + 1e6 }
        #expect(relativeDifference(moved.parameters.means, expectedMeans) < 1e-9)
        #expect(relativeDifference(moved.parameters.covariances, base.parameters.covariances) < 1e-9)
        #expect(relativeDifference(moved.parameters.weights, base.parameters.weights) < 1e-9)
    }

    @Test("one and two threads give byte-identical model files", arguments: CovarianceType.allCases)
    func threadCountDoesNotMatter(type: CovarianceType) throws {
        var options = Self.options(type)
        options.restarts = 2
        let one = try GaussianMixture.fit(Self.data, options: options, shards: 7, threads: 1)
        let two = try GaussianMixture.fit(Self.data, options: options, shards: 7, threads: 2)
        #expect(try MixtureModelFile.encode(one) == MixtureModelFile.encode(two))
    }

    @Test("a different shard count is a different (but equally good) summation order")
    func shardCountIsPartOfTheResult() throws {
        let a = try GaussianMixture.fit(Self.data, options: Self.options(.full), shards: 3)
        let b = try GaussianMixture.fit(Self.data, options: Self.options(.full), shards: 5)
        #expect(relativeDifference(a.parameters.means, b.parameters.means) < 1e-10)
    }

    @Test("statistics survive their binary encoding bit for bit", arguments: CovarianceType.allCases)
    func statisticsEncodingRoundTrips(type: CovarianceType) throws {
        let model = try GaussianMixture.fit(Self.data, options: Self.options(type, iterations: 2)).prepared()
        let statistics = try runExpectation(model, data: Self.data, shards: 3)
        let decoded = try MixtureStatistics(encoded: statistics.encoded())
        #expect(decoded == statistics)
        #expect(decoded.moments.map(\.bitPattern) == statistics.moments.map(\.bitPattern))
    }

    @Test("malformed statistics bytes are refused with a reason")
    func malformedStatisticsAreRefused() throws {
        // A shape read from the bytes is checked against their length before anything is
        // allocated (found by the wire fuzzer: K = D = 65,536 asked for terabytes).
        var huge: [UInt8] = Array("EMST".utf8) + [2, 0, 0, 0]
        huge += [0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00] + [UInt8](repeating: 0, count: 16)
        #expect(throws: MixtureError.self) { try MixtureStatistics(encoded: huge) }
        let model = try GaussianMixture.fit(Self.data, options: Self.options(.diag, iterations: 1)).prepared()
        let bytes = try runExpectation(model, data: Self.data, shards: 1).encoded()
        #expect(throws: MixtureError.self) { try MixtureStatistics(encoded: Array(bytes.dropLast(8))) }
        var badMagic = bytes
        badMagic[0] = 0
        #expect(throws: MixtureError.self) { try MixtureStatistics(encoded: badMagic) }
        var badVersion = bytes
        badVersion[4] = 99
        #expect(throws: MixtureError.invalidData("statistics message: version 99, expected 2")) {
            try MixtureStatistics(encoded: badVersion)
        }
    }
}
