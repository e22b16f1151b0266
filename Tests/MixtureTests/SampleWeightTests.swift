import Datasets
import Engine
import Foundation
import Mixture
import Numerics
import Testing

/// Weighted EM as Spark's `weightCol` defines it, checked by scikit-learn's estimator checks:
/// integer weights are repeated rows, zero weights are removed rows.
@Suite("Sample weights in mixtures")
struct SampleWeightTests {
    static let data = SyntheticMixture.generate(samples: 900, features: 3, components: 3, seed: 5).features
    /// Integer weights 0 to 3, a quarter of them zero.
    static let weights: [Double] = {
        var generator = SeededGenerator(seed: 9)
        return (0..<900).map { _ in Double(generator.nextInt(below: 4)) }
    }()

    /// The rows of `data`, each repeated as many times as its weight says.
    static func repeated(_ data: FeatureMatrix, _ weights: [Double]) -> FeatureMatrix {
        let values = data.doubles(), d = data.columns
        var out = [Double]()
        for (row, weight) in weights.enumerated() {
            for _ in 0..<Int(weight) { out += values[(row * d)..<((row + 1) * d)] }
        }
        return FeatureMatrix(rows: out.count / d, columns: d, values: out)
    }

    static func options(_ type: CovarianceType, start: MixtureParameters? = nil) -> FitOptions {
        var options = FitOptions(components: 3)
        options.covarianceType = type
        options.maxIterations = 12
        options.tolerance = 0
        options.seed = 4
        options.initialParameters = start
        return options
    }

    static func fit(_ data: FeatureMatrix, weights: [Double]? = nil, options: FitOptions, shards: Int = 3, threads: Int = 2) throws -> GaussianMixture {
        let runner = LocalShards(data: data, weights: weights, plan: ShardPlan(rows: data.rows, shards: shards), threads: threads)
        return try MixtureFitter(runner: runner, options: options).fit()
    }

    /// A common start: a short unweighted fit of the data.
    static func start(_ type: CovarianceType) throws -> MixtureParameters {
        var options = options(type)
        options.maxIterations = 2
        return try fit(data, options: options).parameters
    }

    static func expectClose(_ a: GaussianMixture, _ b: GaussianMixture, _ tolerance: Double = 1e-10) {
        #expect(relativeDifference(a.parameters.means, b.parameters.means) < tolerance)
        #expect(relativeDifference(a.parameters.covariances, b.parameters.covariances) < tolerance)
        #expect(relativeDifference(a.parameters.weights, b.parameters.weights) < tolerance)
        #expect(relativeDifference(a.logLikelihoodHistory, b.logLikelihoodHistory) < tolerance)
    }

    @Test("integer weights give the model of the rows repeated that many times, from the same start", arguments: CovarianceType.allCases)
    func integerWeightsAreRepeatedRows(type: CovarianceType) throws {
        let start = try Self.start(type)
        let weighted = try Self.fit(Self.data, weights: Self.weights, options: Self.options(type, start: start))
        let repeated = try Self.fit(Self.repeated(Self.data, Self.weights), options: Self.options(type, start: start))
        Self.expectClose(weighted, repeated)
    }

    @Test("zero weights give the model of the data without those rows", arguments: CovarianceType.allCases)
    func zeroWeightsAreRemovedRows(type: CovarianceType) throws {
        let zeroOne = Self.weights.map { min($0, 1) }
        let start = try Self.start(type)
        let weighted = try Self.fit(Self.data, weights: zeroOne, options: Self.options(type, start: start), shards: 4)
        let kept = try Self.fit(Self.repeated(Self.data, zeroOne), options: Self.options(type, start: start), shards: 2)
        Self.expectClose(weighted, kept)
    }

    @Test("weighted initialisations are those of the repeated rows' statistics: column moments and Lloyd sums")
    func initialisationTasksAreWeighted() throws {
        let repeated = Self.repeated(Self.data, Self.weights)
        let weightedRunner = LocalShards(data: Self.data, weights: Self.weights, plan: ShardPlan(rows: 900, shards: 3), threads: 2)
        let plainRunner = LocalShards(data: repeated, plan: ShardPlan(rows: repeated.rows, shards: 2), threads: 2)
        let weightedSummary = try DataSummary.compute(weightedRunner), plainSummary = try DataSummary.compute(plainRunner)
        #expect(weightedSummary.weightTotal == Double(repeated.rows))
        #expect(relativeDifference(weightedSummary.mean, plainSummary.mean) < 1e-12)
        #expect(relativeDifference(weightedSummary.variance, plainSummary.variance) < 1e-12)
        let centers = [0.5, -1, 2, 3, 0, 1, -2, 1, 0]
        guard case let .lloyd(sums, counts, inertia) = try weightedRunner.run(.lloyd(centers: centers, clusters: 3, anchor: [0, 0, 0])),
              case let .lloyd(sums2, counts2, inertia2) = try plainRunner.run(.lloyd(centers: centers, clusters: 3, anchor: [0, 0, 0]))
        else { throw MixtureError.invalidData("no Lloyd sums") }
        #expect(counts == counts2)
        #expect(relativeDifference(sums, sums2) < 1e-12 && relativeDifference([inertia], [inertia2]) < 1e-12)
    }

    @Test("weighted initialisations never start a component from a row of zero weight",
          arguments: [InitialisationMethod.kmeansPlusPlus, .randomFromData])
    func zeroWeightRowsAreNeverSeeds(method: InitialisationMethod) throws {
        // Far outliers of zero weight: any seed among them would put a mean near 1000.
        var values = Self.data.doubles()
        var weights = [Double](repeating: 1, count: Self.data.rows)
        for row in stride(from: 0, to: Self.data.rows, by: 3) {
            for j in 0..<3 { values[row * 3 + j] += 1000 }
            weights[row] = 0
        }
        let data = FeatureMatrix(rows: Self.data.rows, columns: 3, values: values)
        for seed in 0..<6 {
            var options = Self.options(.diag)
            options.initialisation = method
            options.maxIterations = 1
            options.seed = UInt64(seed)
            let model = try Self.fit(data, weights: weights, options: options)
            #expect(model.parameters.means.allSatisfy { abs($0) < 100 })
        }
    }

    @Test("a weighted fit is the same bits for 1 or 2 threads", arguments: [InitialisationMethod.kmeans, .random])
    func weightedFitIsReproducible(method: InitialisationMethod) throws {
        var options = Self.options(.full)
        options.initialisation = method
        options.restarts = 2
        let one = try Self.fit(Self.data, weights: Self.weights, options: options, shards: 7, threads: 1)
        let two = try Self.fit(Self.data, weights: Self.weights, options: options, shards: 7, threads: 2)
        #expect(try MixtureModelFile.encode(one) == MixtureModelFile.encode(two))
    }

    @Test("weights of one are the unweighted model, to rounding")
    func unitWeightsAreUnweighted() throws {
        let options = Self.options(.full)
        let plain = try Self.fit(Self.data, options: options)
        let ones = try Self.fit(Self.data, weights: [Double](repeating: 1, count: Self.data.rows), options: options)
        Self.expectClose(plain, ones, 1e-12)
    }

    @Test("the weighted score is Σ w log p / Σ w, the repeated rows' score; BIC counts Σ w rows")
    func weightedScore() throws {
        let model = try Self.fit(Self.data, options: Self.options(.diag))
        let weighted = try model.evaluate(
            on: LocalShards(data: Self.data, weights: Self.weights, plan: ShardPlan(rows: 900, shards: 3), threads: 2), output: .none)
        let repeated = Self.repeated(Self.data, Self.weights)
        let plain = try model.evaluate(on: LocalShards(data: repeated, plan: ShardPlan(rows: repeated.rows, shards: 1), threads: 1), output: .none)
        #expect(weighted.weight == Double(repeated.rows) && plain.weight == Double(repeated.rows))
        #expect(relativeDifference([weighted.sum / weighted.weight], [try model.score(repeated)]) < 1e-12)
        let criteria = InformationCriteria(logLikelihoodSum: weighted.sum, weight: weighted.weight, freeParameters: model.freeParameters)
        #expect(relativeDifference([criteria.bic], [try model.bic(repeated)]) < 1e-12)
        #expect(relativeDifference([plain.sum], [weighted.sum]) < 1e-12)
    }

    @Test("all-zero weights stop a fit with one line")
    func allZeroWeights() throws {
        #expect(throws: MixtureError.invalidData("every sample weight is zero")) {
            try Self.fit(Self.data, weights: [Double](repeating: 0, count: 900), options: Self.options(.full))
        }
    }

    @Test("a checkpoint of a weighted fit keeps the weight total and resumes to the same model")
    func weightedCheckpointResumes() throws {
        var options = Self.options(.tied)
        options.maxIterations = 6
        let runner = LocalShards(data: Self.data, weights: Self.weights, plan: ShardPlan(rows: 900, shards: 3), threads: 2)
        var saved: FitCheckpoint?
        let whole = try MixtureFitter(runner: runner, options: options).fit(checkpoint: { state in
            if state.history.count == 3 { saved = try FitCheckpoint(payload: state.payload(), file: "memory") }
        })
        let checkpoint = try #require(saved)
        #expect(checkpoint.summary.weightTotal == Self.weights.reduce(0, +))
        let resumed = try MixtureFitter(runner: runner, options: options).fit(resuming: checkpoint)
        #expect(try MixtureModelFile.encode(resumed) == MixtureModelFile.encode(whole))
    }
}
