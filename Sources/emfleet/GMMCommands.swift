import ArgumentParser
import Datasets
import Foundation
import Mixture

extension CovarianceType: ExpressibleByArgument {}
extension InitialisationMethod: ExpressibleByArgument {}

/// `emfleet gmm …`: fit, apply and sample Gaussian mixtures.
struct GMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gmm",
        abstract: "Fit Gaussian mixture models by EM and apply them.",
        subcommands: [Fit.self, Predict.self, Score.self, Sample.self]
    )
}

/// Where a command reads its rows from: `--data` and the file-layout options of `emfleet data`.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Data file: .npy (float32/float64, 2-D) or CSV/whitespace text.", valueName: "file"))
    var data: String

    @OptionGroup var layout: DataFileOptions

    /// Loads the whole file and checks every value is finite.
    func load() throws -> FeatureMatrix {
        let loaded = try DatasetLoader.load(path: data, csv: layout.csvOptions)
        try validateFinite(loaded.features, file: data, columnNames: loaded.columnNames)
        return loaded.features
    }
}

/// A model file applied to a data file, for `gmm predict` and `gmm score`.
struct AppliedModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Model file from `gmm fit`.", valueName: "file"))
    var model: String

    @OptionGroup var input: DataOptions

    @Option(name: .long, help: "Threads (default: all cores). Never changes the result.")
    var threads: Int?

    /// Reads the model, then the data.
    func load() throws -> (GaussianMixture, FeatureMatrix) {
        (try MixtureModelFile.read(from: model), try input.load())
    }
}

extension GMMCommand {
    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit a Gaussian mixture and write the model file.",
            discussion: "Prints one line per EM iteration (iteration, mean log-likelihood, change, seconds) and a summary. "
                + "The model depends on --shards and --seed, never on --threads."
        )

        @OptionGroup var input: DataOptions

        @Option(name: [.short, .long], help: "Number of mixture components.")
        var components: Int

        @Option(name: .long, help: "Covariance type: \(CovarianceType.allCases.map(\.rawValue).joined(separator: ", ")).")
        var covariance: CovarianceType = .full

        @Option(name: .long, help: "Most EM iterations per start.")
        var maxIter: Int = 100

        @Option(name: .long, help: "Stop when the mean log-likelihood changes by less than this.")
        var tol: Double = 1e-3

        @Option(name: .long, help: "Added to covariance diagonals for numerical stability.")
        var regCovar: Double = 1e-6

        @Option(name: .long, help: "Initialisation: \(InitialisationMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
        var `init`: InitialisationMethod = .kmeans

        @Option(name: .long, help: "Start from this model file instead of initialising.")
        var initModel: String?

        @Option(name: .long, help: "Seeded starts; the best final log-likelihood is kept.")
        var nInit: Int = 1

        @Option(name: .long, help: "Random seed.")
        var seed: UInt64 = 0

        @Option(name: .long, help: "Shards to cut the rows into (default: one per 8192 rows, at most 1024).")
        var shards: Int?

        @Option(name: .long, help: "Threads (default: all cores). Never changes the result.")
        var threads: Int?

        @Option(name: [.short, .long], help: "Where to write the model (JSON).")
        var out: String

        @Flag(name: .long, help: "Print only the summary.")
        var quiet = false

        func validate() throws {
            guard components >= 1 else { throw ValidationError("--components must be at least 1") }
            guard maxIter >= 1 else { throw ValidationError("--max-iter must be at least 1") }
            guard tol >= 0 else { throw ValidationError("--tol must not be negative") }
            guard regCovar >= 0 else { throw ValidationError("--reg-covar must not be negative") }
            guard nInit >= 1 else { throw ValidationError("--n-init must be at least 1") }
            if let shards { guard shards >= 1 else { throw ValidationError("--shards must be at least 1") } }
            if let threads { guard threads >= 1 else { throw ValidationError("--threads must be at least 1") } }
        }

        func run() throws {
            try reportingErrors {
                let data = try input.load()
                var options = FitOptions(components: components)
                options.covarianceType = covariance
                options.maxIterations = maxIter
                options.tolerance = tol
                options.regularization = regCovar
                options.initialisation = self.`init`
                options.restarts = nInit
                options.seed = seed
                if let initModel {
                    let initial = try MixtureModelFile.read(from: initModel).parameters
                    guard initial.components == components, initial.dimension == data.columns,
                          initial.covarianceType == covariance
                    else {
                        throw ModelFileError(
                            file: initModel,
                            message: "has \(initial.components) components (\(initial.covarianceType.rawValue)) over \(initial.dimension) features, "
                                + "but this fit asks for \(components) (\(covariance.rawValue)) over \(data.columns); "
                                + "give matching --components and --covariance")
                    }
                    options.initialParameters = initial
                }
                let plan = ShardPlan(rows: data.rows, shards: shards ?? ShardPlan.defaultShardCount(rows: data.rows))
                if !quiet {
                    print("fitting \(components) \(covariance.rawValue) components to \(data.rows) rows × \(data.columns) features "
                        + "(\(plan.count) shards, \(threads ?? ProcessInfo.processInfo.activeProcessorCount) threads)")
                    print(FitReport.header)
                }
                let clock = ContinuousClock.now
                let model = try GaussianMixture.fit(data, options: options, shards: plan.count, threads: threads) { step in
                    guard !quiet else { return }
                    print(FitReport.iterationLine(step))
                    fflush(nil)
                }
                try MixtureModelFile.write(model, to: out)
                print(FitReport.summary(model, seconds: (ContinuousClock.now - clock).seconds, out: out))
            }
        }
    }

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Label each row with its most probable component (or write all posterior probabilities).")

        @OptionGroup var applied: AppliedModelOptions

        @Option(name: [.short, .long], help: "Output file, .npy or .csv by extension.")
        var out: String

        @Flag(name: .long, help: "Write the N×K posterior probabilities instead of labels.")
        var proba = false

        func run() throws {
            try reportingErrors {
                let (mixture, data) = try applied.load()
                let threads = applied.threads
                let k = mixture.parameters.components
                if proba {
                    let probabilities = try mixture.predictProbabilities(data, threads: threads)
                    try writeMatrix(probabilities, rows: data.rows, columns: k,
                                    header: (0..<k).map { "component_\($0)" }, to: out)
                } else {
                    let labels = try mixture.predict(data, threads: threads)
                    try writeLabels(labels, to: out)
                }
                print("wrote \(proba ? "probabilities" : "labels") for \(data.rows) rows to \(out)")
            }
        }
    }

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mean log-likelihood, BIC and AIC of a model on data.")

        @OptionGroup var applied: AppliedModelOptions

        @Flag(name: .long, help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            try reportingErrors {
                let (mixture, data) = try applied.load()
                let score = try mixture.score(data, threads: applied.threads)
                let n = Double(data.rows), p = Double(mixture.freeParameters)
                let bic = -2 * score * n + p * log(n)
                let aic = -2 * score * n + 2 * p
                if json {
                    let report = ScoreReport(rows: data.rows, meanLogLikelihood: score, bic: bic, aic: aic,
                                             freeParameters: mixture.freeParameters)
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    print(String(decoding: try encoder.encode(report), as: UTF8.self))
                } else {
                    print("rows                 \(data.rows)")
                    print("mean log-likelihood  \(score)")
                    print("BIC                  \(bic)")
                    print("AIC                  \(aic)")
                    print("free parameters      \(mixture.freeParameters)")
                }
            }
        }
    }

    struct Sample: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Draw rows from a fitted mixture.")

        @Option(name: .long, help: "Model file from `gmm fit`.")
        var model: String

        @Option(name: .long, help: "How many rows to draw.")
        var count: Int

        @Option(name: .long, help: "Random seed.")
        var seed: UInt64 = 0

        @Option(name: [.short, .long], help: "Output file, .npy or .csv by extension.")
        var out: String

        @Option(name: .long, help: "Also write each row's component here.")
        var labels: String?

        func validate() throws {
            guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        }

        func run() throws {
            try reportingErrors {
                let mixture = try MixtureModelFile.read(from: model)
                let drawn = try mixture.sample(count: count, seed: seed)
                try writeMatrix(drawn.features.doubles(), rows: count, columns: drawn.features.columns,
                                header: (0..<drawn.features.columns).map { "x\($0)" }, to: out)
                if let labels { try writeLabels(drawn.labels, to: labels) }
                print("wrote \(count) rows to \(out)")
            }
        }
    }
}

/// What `gmm score --json` prints.
struct ScoreReport: Codable {
    var rows: Int
    var meanLogLikelihood: Double
    var bic: Double
    var aic: Double
    var freeParameters: Int

    enum CodingKeys: String, CodingKey {
        case rows, bic, aic
        case meanLogLikelihood = "mean_log_likelihood"
        case freeParameters = "free_parameters"
    }
}

/// Lines printed during and after a fit.
enum FitReport {
    /// Column titles lined up with ``iterationLine(_:)``.
    static let header = [("start", 5), ("iter", 5), ("mean log-likelihood", 22), ("change", 12), ("seconds", 9)]
        .map { title, width in String(repeating: " ", count: max(0, width - title.count)) + title }
        .joined(separator: " ")

    static func iterationLine(_ step: FitProgress) -> String {
        let change = step.change.isFinite ? String(format: "%12.3e", step.change) : String(repeating: " ", count: 11) + "-"
        return String(format: "%5d %5d %22.12f %@ %9.3f", step.start + 1, step.iteration, step.logLikelihood, change, step.seconds)
    }

    static func summary(_ model: GaussianMixture, seconds: Double, out: String?) -> String {
        let p = model.parameters
        var lines = [String]()
        lines.append(String(
            format: "%@ after %d iterations; mean log-likelihood %.10f; %.2f s%@",
            model.converged ? "converged" : "did not converge", model.iterations, model.lowerBound, seconds,
            out.map { "; model written to \($0)" } ?? ""))
        let d = p.dimension
        for k in 0..<p.components {
            let mean = (0..<min(d, 4)).map { String(format: "%.4g", p.means[k * d + $0]) }.joined(separator: ", ")
            lines.append(String(format: "  component %2d  weight %.4f  mean [%@%@]", k, p.weights[k], mean, d > 4 ? ", …" : ""))
        }
        return lines.joined(separator: "\n")
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

/// Writes a row-major matrix as .npy or CSV, by the path's extension.
func writeMatrix(_ values: [Double], rows: Int, columns: Int, header: [String], to path: String) throws {
    let matrix = FeatureMatrix(rows: rows, columns: columns, values: values)
    if path.lowercased().hasSuffix(".npy") {
        try NPYWriter.write(matrix, to: path)
    } else {
        try CSVWriter.write(matrix, columnNames: header, to: path)
    }
}

/// Writes integer labels as a 1-D .npy or a one-column CSV, by the path's extension.
func writeLabels(_ labels: [Int], to path: String) throws {
    if path.lowercased().hasSuffix(".npy") {
        try NPYWriter.writeIntegers(labels, to: path)
    } else {
        try CSVWriter.writeColumns(header: ["label"], rows: labels.map { [String($0)] }, to: path)
    }
}
