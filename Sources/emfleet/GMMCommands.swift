import ArgumentParser
import Datasets
import Engine
import Foundation
import Cluster
import Mixture
import Reports

extension CovarianceType: ExpressibleByArgument {}
extension InitialisationMethod: ExpressibleByArgument {}
extension CheckpointSchedule: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// `emfleet gmm …`: fit, apply and sample Gaussian mixtures.
struct GMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gmm",
        abstract: "Fit Gaussian mixture models by EM and apply them.",
        subcommands: [Fit.self, Select.self, Predict.self, Score.self, Sample.self]
    )
}

/// Where a command reads its rows from: `--data` and the file-layout options of `emfleet data`.
struct DataOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Data file: .npy (float32/float64, 2-D) or CSV/whitespace text.", valueName: "file"))
    var data: String

    @OptionGroup var layout: DataFileOptions

    /// Loads the whole file and checks every value is finite.
    func load() throws -> FeatureMatrix {
        try DatasetLoader.load(path: data, csv: layout.csvOptions, finiteOnly: true).features
    }

    /// The reader options for applying a model whose file names its feature columns
    /// (`modelColumns`, nil in files of earlier versions): without `--columns` or
    /// `--exclude-columns`, the model's columns are picked from a file with others (an ID, the
    /// label) by name, or, for a model trained on a file without names, by position from a
    /// file without names that has more columns.
    ///
    /// Under `--missing mean`, gaps are filled with the model's training means (`imputationMeans`).
    ///
    /// - Throws: `DatasetError` when the file has names but lacks one of the model's columns;
    ///   `ValidationError` for `--missing mean` with a model that holds no training means.
    func csvOptions(forModelColumns modelColumns: [String]?, imputationMeans: [Double]?, model: String) throws -> CSVOptions {
        var csv = try applyingTrainingMeans(layout.csvOptions, means: imputationMeans, model: model)
        guard let modelColumns, !modelColumns.isEmpty, csv.columns == nil, csv.excludedColumns == nil else { return csv }
        let file = try DatasetLoader.fileColumns(path: data, csv: csv)
        let positions = modelColumns.compactMap(Int.init)
        if let names = file.names, positions.count < modelColumns.count {
            if let absent = modelColumns.first(where: { !names.contains($0) }) {
                throw DatasetError(file: data, message: "has no column \"\(absent)\", one of the \(modelColumns.count) features \(model) was trained on "
                    + "(\(modelColumns.joined(separator: ", "))); give the file that column, or choose columns with --columns")
            }
            csv.columns = modelColumns
        } else if file.names == nil, positions.count == modelColumns.count, file.count > modelColumns.count,
                  positions.allSatisfy({ $0 < file.count }) {
            csv.columns = modelColumns
        }
        return csv
    }
}

/// A model file applied to a data file, for `gmm predict` and `gmm score`.
struct AppliedModelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Model file from `gmm fit`.", valueName: "file"))
    var model: String

    @OptionGroup var input: DataOptions

    @OptionGroup var threading: ThreadOptions

    var threads: Int? { threading.threads }

    @OptionGroup(title: "Cluster") var cluster: ClusterOptions

    /// Reads the model, opens the data (here or on workers, with `weights`) and scores every row:
    /// the (weighted) log-likelihood sum, the total weight (the row count without weights) and the per-row output.
    func evaluate(
        _ output: RowOutput, weights: SampleWeightOptions? = nil
    ) throws -> (model: GaussianMixture, rows: Int, sum: Double, weight: Double, perRow: [Double], csv: CSVOptions) {
        try FileKind.require(model, is: MixtureModelFile.format)
        let mixture = try MixtureModelFile.read(from: model)
        let chosen = try input.csvOptions(forModelColumns: mixture.training?.featureColumns, imputationMeans: mixture.training?.imputationMeans, model: model)
        let csv = weights?.csv(chosen) ?? chosen
        let job = try OpenedJob(path: input.data, csv: csv, shards: nil, threads: threads,
                                cluster: cluster.settings, logFormat: cluster.logFormat, weights: weights?.sampleWeight)
        defer { job.finish() }
        try job.noteMissingValues(path: input.data, csv: csv)
        let result = try mixture.evaluate(on: job.runner, output: output)
        return (mixture, job.runner.plan.rows, result.sum, result.weight, result.perRow, csv)
    }
}

/// The EM settings shared by `gmm fit` and `gmm select`, with scikit-learn's defaults.
struct EMOptions: ParsableArguments {
    @Option(name: .long, help: "Most EM iterations per start.")
    var maxIter: Int = 100

    @Option(name: .long, help: "Stop when the mean log-likelihood changes by less than this.")
    var tol: Double = 1e-3

    @Option(name: .long, help: "Added to covariance diagonals for numerical stability.")
    var regCovar: Double = 1e-6

    @Option(name: .long, help: "Initialisation: \(InitialisationMethod.allCases.map(\.rawValue).joined(separator: ", ")).")
    var `init`: InitialisationMethod = .kmeans

    @Option(name: .long, help: ArgumentHelp(
        "Seeded starts; the best final log-likelihood is kept (default: 1; for each candidate of gmm select, \(GMMCommand.Select.defaultStarts) by batch EM).",
        valueName: "n"))
    var nInit: Int?

    @Option(name: .long, help: "Random seed.")
    var seed: UInt64 = 0

    func validate() throws {
        guard maxIter >= 1 else { throw ValidationError("--max-iter must be at least 1") }
        guard tol >= 0 else { throw ValidationError("--tol must not be negative") }
        guard regCovar >= 0 else { throw ValidationError("--reg-covar must not be negative") }
        if let nInit, nInit < 1 { throw ValidationError("--n-init must be at least 1") }
    }

    /// Fit options with these settings for `components` components.
    func fitOptions(components: Int) -> FitOptions {
        var options = FitOptions(components: components)
        options.maxIterations = maxIter
        options.tolerance = tol
        options.regularization = regCovar
        options.initialisation = self.`init`
        options.restarts = nInit ?? 1
        options.seed = seed
        return options
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
        @OptionGroup var weighting: SampleWeightOptions

        @Option(name: [.short, .long], help: "Number of mixture components.")
        var components: Int

        @Option(name: .long, help: "Covariance type: \(CovarianceType.allCases.map(\.rawValue).joined(separator: ", ")).")
        var covariance: CovarianceType = .full

        @OptionGroup var em: EMOptions

        @Option(name: .long, help: ArgumentHelp(
            "Start from this model file instead of initialising (scikit-learn's warm_start). With --variational: a variational model "
                + "(its posterior: weight concentrations, mean precisions, means, degrees of freedom, covariances), whose fit goes on.",
            valueName: "file"))
        var initModel: String?

        @Option(name: .long, help: ArgumentHelp(
            "A JSON object with some of weights, means and covariances (in scikit-learn's shapes) that replace those of the --init start "
                + "(scikit-learn's weights_init, means_init, precisions_init given alone).",
            valueName: "file"))
        var initGiven: String?

        @Flag(name: .long, help: "Write the start's parameters (--init, --init-given or --init-model) as the model, with no EM iteration (scikit-learn's max_iter=0).")
        var initialiseOnly = false

        @OptionGroup(title: "Variational Bayes") var variational: VariationalArguments

        @OptionGroup(title: "Stepwise (online) EM") var stepwise: OnlineArguments

        @OptionGroup var compute: ComputeOptions
        @OptionGroup var output: ModelOutputOptions

        @OptionGroup(title: "Cluster") var cluster: ClusterOptions

        @OptionGroup var checkpoints: CheckpointOptions

        var shards: Int? { compute.shards }
        var threads: Int? { compute.threads }
        var out: String { output.out }
        var report: String? { output.report }
        var quiet: Bool { output.quiet }
        var checkpoint: String? { checkpoints.checkpoint }
        var checkpointEvery: CheckpointSchedule { checkpoints.checkpointEvery }
        var resume: String? { checkpoints.resume(out: out) }

        func validate() throws {
            guard components >= 1 else { throw ValidationError("--components must be at least 1") }
            if stepwise.online, variational.variational != nil {
                throw ValidationError("--online fits by stepwise EM; --variational by variational Bayes: choose one")
            }
            if initGiven != nil, initModel != nil {
                throw ValidationError("--init-model gives the whole start; --init-given replaces parts of the --init start: choose one")
            }
            if initGiven != nil || initialiseOnly, variational.variational != nil || stepwise.online {
                throw ValidationError("\(initialiseOnly ? "--initialise-only" : "--init-given") starts batch EM; it does not apply to --variational or --online")
            }
        }

        func run() throws {
            try reportingErrors {
                try OutputLocation.checkFile(out, option: "--out")
                try OutputLocation.checkFile(checkpoint ?? out + ".checkpoint", option: "--checkpoint")
                if let report { try OutputLocation.checkFolder(report, option: "--report") }
                var options = em.fitOptions(components: components)
                options.covarianceType = covariance
                let initialModel = try initModel.map { try FileKind.require($0, is: MixtureModelFile.format); return try MixtureModelFile.read(from: $0) }
                let priors = try variational.options()
                // A variational fit goes on from the model's posterior; EM from its parameters.
                let initial = priors == nil ? initialModel?.parameters : nil
                let resumed = priors == nil && !stepwise.online ? try resume.map(Self.readCheckpoint) : nil
                let resumedVariational = priors != nil ? try resume.map { try FileKind.require($0, is: VariationalCheckpoint.format); return try VariationalCheckpoint.read(from: $0) } : nil
                let resumedOnline = stepwise.online ? try resume.map { try FileKind.require($0, is: OnlineCheckpoint.format); return try OnlineCheckpoint.read(from: $0) } : nil
                let fingerprint = try weighting.fingerprint(data: input.data)
                if let saved = resumed.map(\.dataFingerprint) ?? resumedVariational.map(\.dataFingerprint) ?? resumedOnline.map(\.dataFingerprint),
                   let resume, saved != fingerprint {
                    let what = weighting.isWeighted ? "\(input.data) or its sample weights" : input.data
                    throw ClusterError("\(resume): the checkpoint was written for another version of \(what) (fingerprint \(saved ?? "none"), now \(fingerprint))")
                }
                let job = try OpenedJob(data: input, shards: shards, threads: threads, cluster: cluster, weights: weighting, online: stepwise.options())
                defer { job.finish() }
                job.warnAboutIdentifierFeatures(path: input.data, csv: weighting.csv(input.layout.csvOptions))
                let imputationMeans = try job.noteMissingValues(path: input.data, csv: weighting.csv(input.layout.csvOptions))
                job.status?.board.expect(steps: options.maxIterations * options.restarts)
                let runner = job.runner
                // Said before the fit's header, which would promise a fit that cannot start.
                guard components <= runner.plan.rows else {
                    throw ValidationError("\(input.data): the data has \(runner.plan.rows) rows, fewer than the \(components) components asked for; "
                        + "ask for at most \(runner.plan.rows)")
                }
                if let initial, let initModel {
                    guard initial.components == components, initial.dimension == runner.dimension,
                          initial.covarianceType == covariance
                    else {
                        throw ModelFileError(
                            file: initModel,
                            message: "has \(initial.components) components (\(initial.covarianceType.rawValue)) over \(initial.dimension) features, "
                                + "but this fit asks for \(components) (\(covariance.rawValue)) over \(runner.dimension); "
                                + "give matching --components and --covariance")
                    }
                    options.initialParameters = initial
                }
                if let initGiven {
                    var start = try MixtureFitter(runner: runner, options: options).initialisedParameters()
                    try GivenInitialParts.apply(file: initGiven, to: &start)
                    options.initialParameters = start
                }
                if initialiseOnly {
                    let parameters = try options.initialParameters ?? MixtureFitter(runner: runner, options: options).initialisedParameters()
                    try MixtureModelFile.write(GaussianMixture(parameters: parameters), to: out)
                    if job.log.format == .text {
                        print("wrote the start of \(components) \(covariance.rawValue) components (no EM iteration) to \(out)")
                    }
                    return
                }
                let log = job.log
                if let resume, let start = resumed?.start ?? resumedVariational?.start {
                    let iterations = resumed?.history.count ?? resumedVariational?.history.count ?? 0
                    log.note("resuming \(resume) from iteration \(iterations) of start \(start + 1) of \(options.restarts)")
                }
                if let resume, let resumedOnline {
                    log.note("resuming \(resume) from step \(resumedOnline.position) of pass \(resumedOnline.pass + 1)")
                }
                let text = log.format == .text && !quiet
                let whereComputed = cluster.workers.map { "\($0) local workers" }
                    ?? cluster.bind.map { "workers at \($0)" }
                    ?? "\(threads ?? ProcessInfo.processInfo.activeProcessorCount) threads"
                var variationalFitter = priors.map { VariationalMixtureFitter(runner: runner, options: options, variational: $0) }
                if let model = initialModel, let initModel, let fitter = variationalFitter {
                    variationalFitter?.initialPosterior = try fitter.startingPosterior(of: model, file: initModel)
                }
                let onlineFitter = stepwise.options().map { OnlineMixtureFitter(runner: runner, options: options, online: $0) }
                // Priors or settings that do not fit the data are refused before any work.
                try variationalFitter?.validate()
                try onlineFitter?.validate()
                if text {
                    let method = variational.variational.map { " by variational Bayes (\($0.rawValue) prior)" }
                        ?? onlineFitter.map { " by stepwise EM (\($0.stepsPerPass) minibatches of about \($0.online.batchSize) rows per pass, α = \($0.online.stepDecay))" }
                        ?? ""
                    print("fitting \(components) \(covariance.rawValue) components\(method) to \(runner.plan.rows) \(weighting.isWeighted ? "weighted " : "")rows × \(runner.dimension) features "
                        + "(\(runner.plan.count) shards, \(whereComputed))")
                    let header = priors != nil ? VariationalReport.header : onlineFitter != nil ? FitReport.onlineHeader : FitReport.header
                    print(header + (job.coordinator != nil ? "  workers" : ""))
                }
                let checkpointPath = checkpoint ?? out + ".checkpoint"
                InterruptCleanup.noteCheckpoint(checkpointPath)
                let clock = ContinuousClock.now
                let progress: (FitProgress) -> Void = { step in
                        let workers = job.liveWorkers
                        var fields: [(String, Any)] = [
                            // A variational fit's measure is its evidence lower bound, named as such.
                            ("start", step.start + 1), ("iteration", step.iteration),
                            (priors == nil ? "log_likelihood" : "lower_bound", step.logLikelihood),
                            ("change", step.change.isFinite ? step.change : NSNull()), ("seconds", step.seconds),
                            ("live_workers", workers.map { $0 as Any } ?? NSNull()),
                        ]
                        if let round = job.coordinator?.lastRound {
                            // The coordinator's own time: the iteration less its waits for workers.
                            fields += [("coordinator_seconds", max(0, step.seconds - round.waitSeconds)),
                                       ("coordinator_cpu_seconds", round.cpuSeconds),
                                       ("bytes_in", round.bytesIn), ("bytes_out", round.bytesOut), ("bytes_read", round.bytesRead)]
                        }
                        log.json("iteration", fields)
                        guard text else { return }
                        let line = onlineFitter != nil ? FitReport.onlineLine(step) : FitReport.iterationLine(step)
                        print(line + (workers.map { String(format: " %8d", $0) } ?? ""))
                        fflush(nil)
                    }
                var model: GaussianMixture
                if let onlineFitter {
                    // A line per minibatch would be thousands: about twenty per pass, and each pass's last.
                    let every = max(1, onlineFitter.stepsPerPass / 20)
                    var passSeconds = 0.0
                    model = try onlineFitter.fit(
                        resuming: resumedOnline, checkpointEvery: checkpointEvery,
                        checkpoint: { state in
                            var state = state
                            state.dataFingerprint = fingerprint
                            try state.write(to: checkpointPath)
                        },
                        progress: { step in
                            passSeconds += step.seconds
                            if step.iteration % every == 0 || step.iteration % onlineFitter.stepsPerPass == 0 { progress(step) }
                            if step.iteration % onlineFitter.stepsPerPass == 0 {
                                log.json("pass", [("pass", step.iteration / onlineFitter.stepsPerPass), ("steps", onlineFitter.stepsPerPass),
                                                  ("seconds", passSeconds)])
                                passSeconds = 0
                            }
                        })
                } else if let variationalFitter {
                    model = try variationalFitter.fit(
                        resuming: resumedVariational, checkpointEvery: checkpointEvery,
                        checkpoint: { state in
                            var state = state
                            state.dataFingerprint = fingerprint
                            try state.write(to: checkpointPath)
                        },
                        progress: progress)
                } else {
                    model = try MixtureFitter(runner: runner, options: options).fit(
                        resuming: resumed,
                        checkpointEvery: checkpointEvery,
                        checkpoint: { state in
                            var state = state
                            state.dataFingerprint = fingerprint
                            try state.write(to: checkpointPath)
                        },
                        progress: progress)
                }
                model.training?.featureColumns = try DatasetLoader.featureColumnNames(path: input.data, csv: weighting.csv(input.layout.csvOptions))
                model.training?.imputationMeans = imputationMeans
                try MixtureModelFile.write(model, to: out)
                try? FileManager.default.removeItem(atPath: checkpointPath)
                if let report {
                    var page = Report(title: "emfleet gmm fit: \(components) \(covariance.rawValue) components on \(URL(fileURLWithPath: input.data).lastPathComponent)")
                    page.addText(String(format: "%@ after %d iterations; final %@ %.8f.",
                                        model.converged ? "Converged" : "Did not converge", model.iterations,
                                        model.variational == nil ? "mean log-likelihood" : "lower bound", model.lowerBound))
                    ReportPages.addVariational(model, to: &page)
                    try ReportPages.addMixture(model, runner: runner, to: &page)
                    try ReportPages.write(page, to: report, log: job.log)
                }
                let seconds = (ContinuousClock.now - clock).seconds
                log.json("done", [
                    ("converged", model.converged), ("iterations", model.iterations), ("lower_bound", model.lowerBound),
                    ("seconds", seconds), ("out", out), ("dropped_messages", job.coordinator?.droppedMessages ?? 0),
                ] + (model.variational.map { [("effective_components", $0.effectiveComponents as Any)] } ?? []))
                if log.format == .text {
                    print(model.variational == nil ? FitReport.summary(model, seconds: seconds, out: out, online: onlineFitter != nil) : VariationalReport.summary(model, seconds: seconds, out: out))
                }
            }
        }

        static func readCheckpoint(_ path: String) throws -> FitCheckpoint {
            try FileKind.require(path, is: FitCheckpoint.format)
            return try FitCheckpoint.read(from: path)
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

        @Flag(name: .long, help: "Write each row's log-likelihood log p(x) (scikit-learn's score_samples) instead of labels.")
        var logLikelihood = false

        @OptionGroup var identifiers: IdentifierColumnOption

        func validate() throws {
            if proba, logLikelihood { throw ValidationError("--proba and --log-likelihood write different files: choose one") }
        }

        func run() throws {
            try reportingErrors {
                try OutputLocation.checkFile(out, option: "--out")
                try checkTableOutput(out)
                try identifiers.check(out: out)
                let result = try applied.evaluate(proba ? .probabilities : logLikelihood ? .logLikelihoods : .labels)
                let k = result.model.parameters.components
                let ids = try identifiers.read(applied.input, csv: result.csv, rows: result.rows)
                if logLikelihood {
                    try writeMatrix(result.perRow, rows: result.rows, columns: 1, header: ["log_likelihood"], ids: ids, to: out)
                } else if proba {
                    try writeMatrix(result.perRow, rows: result.rows, columns: k,
                                    header: probabilityHeader((0..<k).map(String.init)), ids: ids, to: out)
                } else {
                    try writeLabels(result.perRow.map { Int($0) }, ids: ids, to: out)
                }
                print("wrote \(proba ? "probabilities" : logLikelihood ? "log-likelihoods" : "labels") for \(result.rows) rows to \(out)")
            }
        }
    }

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mean log-likelihood, BIC and AIC of a model on data (a variational model: its lower bound instead of BIC and AIC).")

        @OptionGroup var applied: AppliedModelOptions
        @OptionGroup var weighting: SampleWeightOptions

        @Flag(name: .long, help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            try reportingErrors {
                let result = try applied.evaluate(.none, weights: weighting)
                let mixture = result.model, rows = result.rows
                // With weights: Σ w log p / Σ w, and BIC/AIC with N = Σ w (the rows repeated by their weights).
                let score = result.sum / result.weight
                // BIC and AIC count a point estimate's parameters; a variational model has none such
                // (scikit-learn's BayesianGaussianMixture has no bic or aic either).
                let criteria = mixture.variational == nil
                    ? InformationCriteria(logLikelihoodSum: result.sum, weight: result.weight, freeParameters: mixture.freeParameters)
                    : nil
                if json {
                    var report = ScoreReport(rows: rows, meanLogLikelihood: score, bic: criteria?.bic, aic: criteria?.aic,
                                             freeParameters: mixture.freeParameters)
                    if weighting.isWeighted { report.totalWeight = result.weight }
                    if mixture.variational != nil { report.lowerBound = mixture.lowerBound }
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    print(String(decoding: try encoder.encode(report), as: UTF8.self))
                } else {
                    print("rows                 \(rows)")
                    if weighting.isWeighted { print("total weight         \(result.weight)") }
                    print("mean log-likelihood  \(score)")
                    if let criteria {
                        print("BIC                  \(criteria.bic)")
                        print("AIC                  \(criteria.aic)")
                    } else {
                        print("lower bound (fit)    \(mixture.lowerBound)")
                        print("BIC, AIC             not defined for a variational model")
                    }
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
                try OutputLocation.checkFile(out, option: "--out")
                try checkTableOutput(out)
                if let labels { try OutputLocation.checkFile(labels, option: "--labels") }
                try FileKind.require(model, is: MixtureModelFile.format)
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

/// `gmm fit --init-given FILE`: some of a start's weights, means and covariances, replacing those of the
/// `--init` start, as scikit-learn's `weights_init`, `means_init` and `precisions_init` given alone do.
enum GivenInitialParts {
    /// Replaces the parts `file` holds (a JSON object with any of `weights`, `means`, `covariances`,
    /// nested arrays in scikit-learn's shapes) in `start`.
    ///
    /// - Throws: `ModelFileError` naming the file and the field for a file that does not parse, an
    ///   unknown field, or a part of the wrong size.
    static func apply(file: String, to start: inout MixtureParameters) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelFileError(file: file, message: "is not a JSON object with weights, means or covariances")
        }
        if let unknown = object.keys.sorted().first(where: { !["weights", "means", "covariances"].contains($0) }) {
            throw ModelFileError(file: file, message: "has a field \"\(unknown)\"; give only weights, means and covariances")
        }
        let k = start.components, d = start.dimension
        let covarianceCount = switch start.covarianceType {
        case .full: k * d * d
        case .tied: d * d
        case .diag: k * d
        case .spherical: k
        }
        func numbers(_ field: String, count: Int) throws -> [Double]? {
            guard let value = object[field] else { return nil }
            var flat = [Double]()
            func walk(_ v: Any) -> Bool {
                if let array = v as? [Any] { return array.allSatisfy(walk) }
                guard let number = v as? NSNumber else { return false }
                flat.append(number.doubleValue)
                return true
            }
            guard walk(value), flat.count == count else {
                throw ModelFileError(file: file, message: "\(field) must be \(count) numbers for \(k) \(start.covarianceType.rawValue) components over \(d) features")
            }
            return flat
        }
        let weights = try numbers("weights", count: k) ?? start.weights
        let means = try numbers("means", count: k * d) ?? start.means
        let covariances = try numbers("covariances", count: covarianceCount) ?? start.covariances
        start = try MixtureParameters(covarianceType: start.covarianceType, components: k, dimension: d,
                                      weights: weights, means: means, covariances: covariances)
    }
}

/// What `gmm score --json` prints.
struct ScoreReport: Codable {
    var rows: Int
    var meanLogLikelihood: Double
    /// Absent for a variational model.
    var bic: Double?
    var aic: Double?
    var freeParameters: Int
    /// Σ w with sample weights (absent without).
    var totalWeight: Double?
    /// A variational model's evidence lower bound at the end of its fit (absent otherwise).
    var lowerBound: Double?

    enum CodingKeys: String, CodingKey {
        case rows, bic, aic
        case lowerBound = "lower_bound"
        case meanLogLikelihood = "mean_log_likelihood"
        case freeParameters = "free_parameters"
        case totalWeight = "total_weight"
    }
}

/// Lines printed during and after a fit.
enum FitReport {
    /// Column titles lined up with ``iterationLine(_:)``.
    static let header = [("start", 5), ("iter", 5), ("mean log-likelihood", 22), ("change", 12), ("seconds", 9)]
        .map { title, width in String(repeating: " ", count: max(0, width - title.count)) + title }
        .joined(separator: " ")

    /// ``header`` for a stepwise fit: the pass, the step, the minibatch's mean log-likelihood.
    static let onlineHeader = [("pass", 5), ("step", 7), ("minibatch log-likelihood", 24), ("seconds", 9)]
        .map { title, width in String(repeating: " ", count: max(0, width - title.count)) + title }
        .joined(separator: " ")

    /// A line under ``onlineHeader``.
    static func onlineLine(_ step: FitProgress) -> String {
        let likelihood = abs(step.logLikelihood) < 1e9 ? String(format: "%24.12f", step.logLikelihood) : String(format: "%24.12e", step.logLikelihood)
        return String(format: "%5d %7d %@ %9.3f", step.start + 1, step.iteration, likelihood, step.seconds)
    }

    static func iterationLine(_ step: FitProgress) -> String {
        let change = step.change.isFinite ? String(format: "%12.3e", step.change) : String(repeating: " ", count: 11) + "-"
        // Fixed-point keeps the column aligned up to |LL| < 1e9 (the first steps of random starts can exceed it).
        let likelihood = abs(step.logLikelihood) < 1e9 ? String(format: "%22.12f", step.logLikelihood) : String(format: "%22.12e", step.logLikelihood)
        return String(format: "%5d %5d %@ %@ %9.3f", step.start + 1, step.iteration, likelihood, change, step.seconds)
    }

    /// The lines after a fit; `online` says a stepwise fit's iterations are minibatch steps over passes.
    static func summary(_ model: GaussianMixture, seconds: Double, out: String?, online: Bool = false) -> String {
        let p = model.parameters
        var lines = [String]()
        let done = online
            ? "after \(model.iterations) minibatch steps (\(model.logLikelihoodHistory.count) pass\(model.logLikelihoodHistory.count == 1 ? "" : "es"))"
            : "after \(model.iterations) iterations"
        lines.append(String(
            format: "%@ %@; mean log-likelihood %.10f; %.2f s%@",
            model.converged ? "converged" : "did not converge", done, model.lowerBound, seconds,
            out.map { "; model written to \($0)" } ?? ""))
        let d = p.dimension
        for k in 0..<p.components {
            let mean = (0..<min(d, 4)).map { String(format: "%.4g", p.means[k * d + $0]) }.joined(separator: ", ")
            lines.append(String(format: "  component %2d  weight %.4f  mean [%@%@]", k, p.weights[k], mean, d > 4 ? ", …" : ""))
        }
        return lines.joined(separator: "\n")
    }
}


/// Writes a row-major matrix as .npy or CSV, by the path's extension.
func writeMatrix(_ values: [Double], rows: Int, columns: Int, header: [String], ids: IdentifierColumn? = nil, to path: String) throws {
    let matrix = FeatureMatrix(rows: rows, columns: columns, values: values)
    if path.lowercased().hasSuffix(".npy") {
        try NPYWriter.write(matrix, to: path)
    } else if let ids {
        // The same number text as CSVWriter.write: Swift's shortest round-trip form.
        let cells = (0..<rows).map { row in [ids.values[row]] + (0..<columns).map { values[row * columns + $0].description } }
        try CSVWriter.writeColumns(header: [ids.name] + header, rows: cells, to: path)
    } else {
        try CSVWriter.write(matrix, columnNames: header, to: path)
    }
}

/// The header of a probability file: `p_` and each class (a component's number for a mixture),
/// the same for every command that writes probabilities.
func probabilityHeader(_ classes: [String]) -> [String] { classes.map { "p_\($0)" } }

/// Refuses, before any work, an output name whose extension emfleet does not write: rows are
/// written as `.npy` or as comma-separated text (`.csv`, `.txt`), never under another name.
func checkTableOutput(_ path: String, option: String = "--out") throws {
    let name = path.split(separator: "/").last.map(String.init) ?? path
    let ext = name.contains(".") ? String(name.split(separator: ".").last!).lowercased() : ""
    guard ["npy", "csv", "txt"].contains(ext) else {
        throw ValidationError("\(path): \(option) is written as .npy, .csv or .txt (by its extension), "
            + (ext.isEmpty ? "and it has none" : "not .\(ext)"))
    }
}

/// Writes integer labels as a 1-D .npy or a one-column CSV, by the path's extension.
func writeLabels(_ labels: [Int], ids: IdentifierColumn? = nil, to path: String) throws {
    if path.lowercased().hasSuffix(".npy") {
        try NPYWriter.writeIntegers(labels, to: path)
    } else {
        try writeTextLabels(labels.map(String.init), ids: ids, to: path)
    }
}

/// Writes text labels as a CSV with a `label` header, after the ID column when there is one.
func writeTextLabels(_ labels: [String], ids: IdentifierColumn?, to path: String) throws {
    if let ids {
        try CSVWriter.writeColumns(header: [ids.name, DatasetLoader.labelHeader], rows: zip(ids.values, labels).map { [$0, $1] }, to: path)
    } else {
        try CSVWriter.writeColumns(header: [DatasetLoader.labelHeader], rows: labels.map { [$0] }, to: path)
    }
}

/// A column of the data carried into a prediction file beside each row's prediction.
struct IdentifierColumn {
    let name: String
    let values: [String]
}

/// `--id-column`: which column of the data to carry into the prediction file.
struct IdentifierColumnOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Copy this column of the data (header name or 0-based index) into the prediction file, first, so that each prediction names its row (CSV only).",
        valueName: "column"))
    var idColumn: String?

    /// Refuses `--id-column` with an `.npy` output, before any work.
    func check(out: String) throws {
        if idColumn != nil, out.lowercased().hasSuffix(".npy") {
            throw ValidationError("--id-column writes a column of text beside the predictions; \(out) is .npy: write a .csv")
        }
    }

    /// The column's values for the `rows` predictions of `data` read with `csv` (less the rows
    /// `--missing drop-rows` left out), or nil without `--id-column`.
    func read(_ data: DataOptions, csv: CSVOptions, rows: Int) throws -> IdentifierColumn? {
        guard let idColumn else { return nil }
        let column = try DatasetLoader.columnText(path: data.data, csv: data.layout.csvOptions, column: idColumn)
        let dropped = try leftOutRows(path: data.data, csv: csv)
        let values = KeptRows.keep(column.values, fileRange: 0..<column.values.count, dropped: dropped)
        guard values.count == rows else {
            throw DatasetError(file: data.data, message: "--id-column \(idColumn): \(values.count) values for \(rows) predictions")
        }
        return IdentifierColumn(name: column.name, values: values)
    }
}
