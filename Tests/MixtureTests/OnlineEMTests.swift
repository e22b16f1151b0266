import Datasets
import Engine
import Foundation
import Mixture
import Testing

/// Stepwise (online) EM.
@Suite("Stepwise EM")
struct OnlineEMTests {
    static func fitter(_ data: FeatureMatrix, _ type: CovarianceType, online: OnlineOptions, shards: Int = 6, threads: Int = 2,
                       weights: [Double]? = nil) -> OnlineMixtureFitter {
        var options = FitOptions(components: 4)
        options.covarianceType = type
        return OnlineMixtureFitter(
            runner: LocalShards(data: data, weights: weights, plan: ShardPlan(rows: data.rows, shards: shards), threads: threads),
            options: options, online: online)
    }

    @Test("one pass lands within 0.5% of batch EM's converged log-likelihood", arguments: CovarianceType.allCases)
    func onePassIsNearBatchEM(type: CovarianceType) throws {
        let data = SyntheticMixture.generate(samples: 60_000, features: 4, components: 4, seed: 11).features
        var online = OnlineOptions()
        online.batchSize = 1_000
        let fitted = try Self.fitter(data, type, online: online).fit()
        var options = FitOptions(components: 4)
        options.covarianceType = type
        let batch = try MixtureFitter(runner: LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: 6), threads: 2), options: options).fit()
        #expect(fitted.iterations == 60, "one pass of 60 minibatches")
        #expect(abs(fitted.lowerBound - batch.lowerBound) <= 0.005 * abs(batch.lowerBound),
                "online \(fitted.lowerBound), batch \(batch.lowerBound)")
        // The reported figure is the model's own score of the data.
        #expect(abs(try fitted.score(data) - fitted.lowerBound) <= 1e-12 * abs(fitted.lowerBound))
    }

    @Test("threads and the grouping of shards over them never change the bits")
    func sameBitsForAnyThreads() throws {
        let data = SyntheticMixture.generate(samples: 9_000, features: 3, components: 4, seed: 5).features
        var online = OnlineOptions()
        online.batchSize = 700
        online.passes = 2
        let one = try Self.fitter(data, .full, online: online, threads: 1).fit()
        let three = try Self.fitter(data, .full, online: online, threads: 3).fit()
        #expect(one.parameters == three.parameters && one.lowerBound == three.lowerBound)
        #expect(one.logLikelihoodHistory.count == 2)
        // Another seed draws other minibatches: the comparison can fail.
        var reseeded = Self.fitter(data, .full, online: online, threads: 1).options
        reseeded.seed = 9
        let other = try OnlineMixtureFitter(
            runner: LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: 6), threads: 1), options: reseeded, online: online).fit()
        #expect(other.parameters != one.parameters)
    }

    @Test("integer weights give the fit of the rows repeated")
    func integerWeightsRepeatRows() throws {
        let data = SyntheticMixture.generate(samples: 3_000, features: 2, components: 3, seed: 2).features
        var online = OnlineOptions()
        online.batchSize = 3_000  // one minibatch per pass: every row in it, repeated or weighted alike
        online.passes = 3
        let weights = (0..<data.rows).map { Double($0 % 3) }
        let repeatedRows = (0..<data.rows).flatMap { Array(repeating: $0, count: $0 % 3) }
        let values = data.doubles(), d = data.columns
        let repeated = FeatureMatrix(rows: repeatedRows.count, columns: d, values: repeatedRows.flatMap { values[($0 * d)..<(($0 + 1) * d)] })
        let weighted = try Self.fitter(data, .diag, online: online, shards: 1, weights: weights).fit()
        var repeatedOnline = online
        repeatedOnline.batchSize = repeated.rows
        let plain = try Self.fitter(repeated, .diag, online: repeatedOnline, shards: 1).fit()
        #expect(relativeDifference(weighted.parameters.means, plain.parameters.means) < 1e-10)
        #expect(relativeDifference(weighted.parameters.covariances, plain.parameters.covariances) < 1e-10)
    }

    @Test("a pass's minibatches take every row of every shard once")
    func minibatchesCoverEachRowOnce() {
        for (rows, steps) in [(10, 3), (7, 7), (5, 9), (1, 1), (100, 8)] {
            var seen = [Int]()
            let order = Minibatch(seed: 1, pass: 2, step: 0, steps: steps).order(rows: rows, firstGlobalRow: 40)
            for step in 0..<steps {
                let batch = Minibatch(seed: 1, pass: 2, step: step, steps: steps)
                let positions = batch.positions(in: order)
                #expect(positions.count == batch.rows(ofShardWith: rows))
                seen += positions
            }
            #expect(seen.sorted() == Array(0..<rows))
        }
        let first = Minibatch(seed: 1, pass: 0, step: 0, steps: 5).order(rows: 50, firstGlobalRow: 0)
        #expect(first != Minibatch(seed: 1, pass: 1, step: 0, steps: 5).order(rows: 50, firstGlobalRow: 0), "each pass its own order")
        // Each step's rows come in ascending order, and are not simply the next rows of the shard.
        let batch = Minibatch(seed: 1, pass: 0, step: 2, steps: 5)
        let positions = batch.positions(in: first)
        #expect(positions == positions.sorted() && Array(first[20..<30]) == positions && positions != Array(20..<30))
    }

    @Test("settings that cannot work are refused before any work")
    func badSettingsAreRefused() {
        let data = SyntheticMixture.generate(samples: 200, features: 2, components: 2, seed: 1).features
        for (change, message) in [
            ({ (o: inout OnlineOptions) in o.stepDecay = 0.5 }, "--step-decay must be in (0.5, 1]"),
            ({ (o: inout OnlineOptions) in o.stepDecay = 1.5 }, "--step-decay must be in (0.5, 1]"),
            ({ (o: inout OnlineOptions) in o.batchSize = 0 }, "--batch-size must be at least 1"),
            ({ (o: inout OnlineOptions) in o.passes = 0 }, "--passes must be at least 1"),
            ({ (o: inout OnlineOptions) in o.warmUpSteps = 0 }, "--warm-up must be at least 1 step"),
        ] {
            var online = OnlineOptions()
            change(&online)
            #expect {
                try Self.fitter(data, .full, online: online).validate()
            } throws: { error in
                "\(error)".contains(message)
            }
        }
    }
}
