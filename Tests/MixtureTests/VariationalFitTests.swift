import Datasets
import Engine
import Foundation
import Mixture
import Testing

/// Variational fits as jobs: the same bits for any threads, resumable, kept in the model file, and sparse when K is too large.
@Suite("Variational fits")
struct VariationalFitTests {
    static let directory = ReferenceCase.directory

    static func data(_ name: String) throws -> FeatureMatrix {
        try NPYReader(path: directory.appendingPathComponent("\(name).npy").path).readAll()
    }

    static func options(_ k: Int, _ type: CovarianceType, iterations: Int = 100, restarts: Int = 1) -> FitOptions {
        var options = FitOptions(components: k)
        options.covarianceType = type
        options.maxIterations = iterations
        options.restarts = restarts
        return options
    }

    static func fitter(_ data: FeatureMatrix, _ options: FitOptions, prior: WeightPriorType = .dirichletProcess,
                       shards: Int = 5, threads: Int = 2) -> VariationalMixtureFitter {
        VariationalMixtureFitter(
            runner: LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: shards), threads: threads),
            options: options, variational: VariationalOptions(weightPriorType: prior))
    }

    @Test("threads and the grouping of shards over them never change the bits", arguments: CovarianceType.allCases)
    func sameBitsForAnyThreads(type: CovarianceType) throws {
        let iris = try Self.data("iris")
        let options = Self.options(5, type, iterations: 15)
        let one = try Self.fitter(iris, options, shards: 7, threads: 1).fit()
        for threads in [2, 3, 7] {
            let other = try Self.fitter(iris, options, shards: 7, threads: threads).fit()
            #expect(other == one)
            #expect(try MixtureModelFile.encode(other) == MixtureModelFile.encode(one))
        }
        // The shard count is part of the result (the order of the sums), but only at rounding level.
        let regrouped = try Self.fitter(iris, options, shards: 3, threads: 2).fit()
        #expect(relativeDifference(regrouped.logLikelihoodHistory, one.logLikelihoodHistory) < 1e-10)
    }

    @Test("a fit resumed from a checkpoint ends with the bits of an uninterrupted one", arguments: WeightPriorType.allCases)
    func resumesBitIdentically(prior: WeightPriorType) throws {
        let wine = try Self.data("wine_diag.train")
        var options = Self.options(4, .full, iterations: 12, restarts: 2)
        options.tolerance = 0
        let fitter = Self.fitter(wine, options, prior: prior)
        var saved = [[UInt8]]()
        let whole = try fitter.fit(checkpoint: { saved.append(try $0.payload()) })
        #expect(saved.count == 24)  // every update of both starts
        // Stop after the third update of the second start: the checkpoint carries the first start as the best.
        let payload = saved[12 + 2]
        let state = try VariationalCheckpoint(payload: payload, file: "test")
        #expect(state.start == 1 && state.history.count == 3 && state.best != nil)
        #expect(try state.payload() == payload)
        let resumed = try fitter.fit(resuming: state)
        #expect(resumed == whole)
        #expect(try MixtureModelFile.encode(resumed) == MixtureModelFile.encode(whole))
        // Resuming under other priors is refused.
        var other = VariationalOptions(weightPriorType: prior)
        other.meanPrecisionPrior = 2
        let refusing = VariationalMixtureFitter(runner: fitter.runner, options: options, variational: other)
        #expect(throws: MixtureError.self) { try refusing.fit(resuming: state) }
    }

    @Test("a fit that goes on from a variational model file gives, n iterations on from m, the bits of m + n", arguments: WeightPriorType.allCases)
    func goesOnFromAModelFile(prior: WeightPriorType) throws {
        let wine = try Self.data("wine_diag.train")
        var options = Self.options(4, .full, iterations: 10)
        options.tolerance = 0
        let whole = try Self.fitter(wine, options, prior: prior).fit()
        options.maxIterations = 5
        let first = try Self.fitter(wine, options, prior: prior).fit()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-vb-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try MixtureModelFile.write(first, to: path)
        let saved = try MixtureModelFile.read(from: path)
        for threads in [1, 3] {
            var fitter = Self.fitter(wine, options, prior: prior, threads: threads)
            fitter.initialPosterior = try fitter.startingPosterior(of: saved, file: path)
            let rest = try fitter.fit()
            #expect(rest.variational == whole.variational)
            #expect(rest.parameters == whole.parameters)
            #expect(rest.logLikelihoodHistory == Array(whole.logLikelihoodHistory.suffix(5)))
            #expect(rest.iterations == 5)
        }
        // Another weight prior, another shape, or an EM model: refused naming the file.
        let other: WeightPriorType = prior == .dirichletProcess ? .dirichletDistribution : .dirichletProcess
        #expect(throws: ModelFileError.self) { try Self.fitter(wine, options, prior: other).startingPosterior(of: saved, file: path) }
        #expect(throws: ModelFileError.self) { try Self.fitter(wine, Self.options(3, .full), prior: prior).startingPosterior(of: saved, file: path) }
        var em = saved
        em.variational = nil
        do {
            _ = try Self.fitter(wine, options, prior: prior).startingPosterior(of: em, file: path)
            Issue.record("an EM model was taken as a variational start")
        } catch let error as ModelFileError {
            #expect(error.description == "\(path): is a mixture fitted by EM; a variational fit goes on from a variational model (gmm fit --variational)")
        }
    }

    @Test("the model file keeps the posterior and priors exactly and predicts as the fitted model", arguments: CovarianceType.allCases)
    func modelFileRoundTrip(type: CovarianceType) throws {
        let iris = try Self.data("iris")
        for prior in WeightPriorType.allCases {
            let model = try Self.fitter(iris, Self.options(4, type, iterations: 10), prior: prior).fit()
            let bytes = try MixtureModelFile.encode(model)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.contains("\"kind\" : \"bayesian-gaussian-mixture\"") && text.contains("\"version\" : 2"))
            let read = try MixtureModelFile.decode(bytes, source: "m.json")
            #expect(read == model)
            #expect(try read.scoreSamples(iris) == model.scoreSamples(iris))
            #expect(try read.predictProbabilities(iris) == model.predictProbabilities(iris))
        }
    }

    @Test("a damaged variational object is refused naming the field")
    func damagedFileIsRefused() throws {
        let iris = try Self.data("iris")
        let model = try Self.fitter(iris, Self.options(3, .tied, iterations: 3)).fit()
        var document = try #require(try JSONSerialization.jsonObject(with: MixtureModelFile.encode(model)) as? [String: Any])
        var variational = try #require(document["variational"] as? [String: Any])
        variational["degrees_of_freedom"] = [1.0, 2.0, 3.0]
        document["variational"] = variational
        let damaged = try JSONSerialization.data(withJSONObject: document)
        #expect(throws: ModelFileError(file: "m.json", message: "variational.degrees_of_freedom must be one number for tied covariances")) {
            try MixtureModelFile.decode(damaged, source: "m.json")
        }
        document["version"] = 1
        document["variational"] = variational
        #expect(throws: ModelFileError.self) { try MixtureModelFile.decode(try JSONSerialization.data(withJSONObject: document), source: "m.json") }
    }

    @Test("with K = 10 on Old Faithful the unsupported components lose their weight: 2 effective components", arguments: WeightPriorType.allCases)
    func faithfulHasTwoEffectiveComponents(prior: WeightPriorType) throws {
        let faithful = try Self.data("faithful")
        let model = try Self.fitter(faithful, Self.options(10, .full, iterations: 500), prior: prior).fit()
        let fit = try #require(model.variational)
        #expect(model.converged)
        #expect(fit.effectiveComponents == 2)
        let weights = model.parameters.weights.sorted(by: >)
        #expect(weights[1] > 0.3 && weights[2] < 0.01)
    }

    @Test("bad priors are refused before any work, naming the option")
    func badPriorsAreRefused() throws {
        let iris = try Self.data("iris")
        func refusal(_ change: (inout VariationalOptions) -> Void) -> String? {
            var variational = VariationalOptions()
            change(&variational)
            let fitter = VariationalMixtureFitter(
                runner: LocalShards(data: iris, plan: ShardPlan(rows: iris.rows, shards: 1), threads: 1),
                options: Self.options(3, .full), variational: variational)
            do { _ = try fitter.fit(); return nil } catch { return "\(error)" }
        }
        #expect(refusal { $0.degreesOfFreedomPrior = 3 }?.contains("--degrees-of-freedom-prior must be greater than 3") == true)
        #expect(refusal { $0.meanPrior = [1, 2] }?.contains("--mean-prior has 2 numbers; the data has 4 features") == true)
        #expect(refusal { $0.covariancePrior = [1, 0, 0, 1] }?.contains("--covariance-prior has 4 numbers") == true)
        #expect(refusal { $0.weightConcentrationPrior = 0 }?.contains("--weight-concentration-prior must be positive") == true)
        #expect(refusal { $0.covariancePrior = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, -1, 0, 0, 0, 0, 1] }?.contains("positive-definite") == true)
    }
}
