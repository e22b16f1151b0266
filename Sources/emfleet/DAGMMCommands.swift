import ArgumentParser
import Cluster
import Datasets
import DeepMixture
import Engine
import Foundation
import Mixture
import Neural
import Reports
import Training

/// `emfleet dagmm …`: train a deep autoencoding Gaussian mixture and score rows by its energy.
struct DAGMMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dagmm",
        abstract: "Deep autoencoding Gaussian mixture (DAGMM, Zong et al. 2018): an autoencoder and a mixture trained together; "
            + "a row's energy is its anomaly score.",
        subcommands: [Fit.self, Score.self, Evaluate.self]
    )
}

extension InputScaling: ExpressibleByArgument {}

extension DAGMMCommand {
    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a DAGMM and write the model file.",
            discussion: "Prints the loss and its terms (reconstruction, energy, covariance penalty) as training goes. "
                + "The model depends on the data, the options, --seed and --shards, never on --threads or the number of workers.")

        @OptionGroup var input: DataOptions

        @Option(name: [.short, .long], help: "Mixture components K.")
        var components: Int

        @Option(name: .long, help: "The compression network's widths; the last is the code's size (the decoder mirrors them).")
        var encoder = LayerWidths([60, 30, 10, 1])

        @Option(name: .long, help: "The estimation network's hidden widths.")
        var estimator = LayerWidths([10])

        @Option(name: .long, help: "Activation of the hidden layers: \(Activation.allCases.map(\.rawValue).joined(separator: ", ")).")
        var activation: Activation = .tanh

        @Option(name: .long, help: "Dropout of the estimation network's hidden units in training.")
        var dropout: Double = 0.5

        @Option(name: .long, help: "λ1: the weight of the mean energy in the loss.")
        var energyWeight: Double = 0.1

        @Option(name: .long, help: "λ2: the weight of Σ_k Σ_j 1/Σ_k,jj in the loss (keeps the covariances from collapsing).")
        var covariancePenalty: Double = 0.005

        @Option(name: .long, help: "Added to the diagonal of every covariance of the mixture.")
        var covarianceRidge: Double = 1e-6

        @Option(name: .long, help: "Passes over the rows (default: enough for about \(DAGMMOptions.defaultSteps) steps, at least 1).")
        var epochs: Int?

        @Option(name: .long, help: "Rows per step (default: min(1024, rows)).")
        var batchSize: Int?

        @Option(name: .long, help: "Adam's learning rate.")
        var lr: Double = 1e-4

        @Option(name: .long, help: "L2 weight decay on every layer's weights (not the biases).")
        var weightDecay: Double = 0

        @Option(name: .long, help: "L1 penalty on every layer's weights (not the biases): l1 · Σ|w| joins the loss's gradient.")
        var l1: Double = 0

        @Option(name: .long, help: "How the columns are scaled first, from the training rows: minmax (onto [0, 1]), standard (mean 0, deviation 1) or none.")
        var scaling: InputScaling = .minMax

        @Option(name: .long, help: "Random seed of the weights, the batches and the dropout.")
        var seed: UInt64 = 0

        @Option(name: .long, help: ArgumentHelp("The training energies' quantile drawn as the threshold in --report.", valueName: "q"))
        var thresholdQuantile: Double = 0.95

        @OptionGroup var compute: ComputeOptions
        @OptionGroup var output: ModelOutputOptions
        @OptionGroup(title: "Cluster") var cluster: ClusterOptions

        func validate() throws {
            guard (0...1).contains(thresholdQuantile) else { throw ValidationError("--threshold-quantile must be in [0, 1]") }
            do { try options.validate() } catch let error as MixtureError { throw ValidationError("\(error)") }
        }

        var options: DAGMMOptions {
            var options = DAGMMOptions(components: components)
            options.encoder = encoder.values
            options.estimator = estimator.values
            options.activation = activation
            options.settings = DAGMMSettings(energyWeight: energyWeight, covariancePenalty: covariancePenalty, covarianceRidge: covarianceRidge,
                                             estimatorDropout: dropout)
            options.epochs = epochs
            options.batchSize = batchSize
            options.learningRate = lr
            options.weightDecay = weightDecay
            options.l1 = l1
            options.seed = seed
            options.scaling = scaling
            return options
        }

        func run() throws {
            try reportingErrors {
                let out = output.out
                try OutputLocation.checkFile(out, option: "--out")
                if let report = output.report { try OutputLocation.checkFolder(report, option: "--report") }
                let options = options
                let csv = input.layout.csvOptions
                let job = try OpenedJob(
                    path: input.data, csv: csv, shards: compute.shards, threads: compute.threads, cluster: cluster.settings,
                    logFormat: cluster.logFormat, status: cluster.statusRequest,
                    defaultShards: { rows in BatchLayout.defaultShardCount(rows: rows, batchSize: options.batchSize(rows: rows)) },
                    messageLimit: { context in
                        DAGMMJob.messageLimit(architecture: DAGMMArchitecture(
                            inputs: context.dimension, encoder: options.encoder, estimator: options.estimator, components: options.components,
                            activation: options.activation), largestShard: context.largestShardRows)
                    })
                job.warnAboutIdentifierFeatures(path: input.data, csv: csv)
                let imputationMeans = try job.noteMissingValues(path: input.data, csv: csv)
                defer { job.finish() }
                let runner = job.runner
                let trainer = DAGMMTrainer(runner: runner, options: options)
                try trainer.validate()
                let epochs = trainer.epochs
                job.status?.board.expect(steps: epochs)
                let log = job.log
                let text = log.format == .text && !output.quiet
                // Long trainings print about 50 epoch lines; the JSON log has every epoch.
                let every = max(1, epochs / 50)
                if text {
                    let whereComputed = cluster.workers.map { "\($0) local workers" } ?? cluster.bind.map { "workers at \($0)" }
                        ?? "\(compute.threads ?? ProcessInfo.processInfo.activeProcessorCount) threads"
                    let a = trainer.architecture
                    print("DAGMM: \(runner.plan.rows) rows × \(runner.dimension) features (\(runner.plan.count) shards, \(whereComputed)); "
                        + "encoder \(a.inputs)-\(options.encoder.map(String.init).joined(separator: "-")), estimator "
                        + "\(a.latentSize)-\((options.estimator + [options.components]).map(String.init).joined(separator: "-")), "
                        + "\(a.parameterCount) weights; \(epochs) epochs of \(trainer.stepsPerEpoch) steps of "
                        + "\(options.batchSize(rows: runner.plan.rows)) rows")
                    print("  epoch           loss   reconstruction         energy   cov. penalty  seconds")
                }
                let clock = ContinuousClock.now
                var model = try trainer.fit { epoch in
                    log.json("epoch", [
                        ("epoch", epoch.epoch), ("loss", epoch.loss), ("reconstruction", epoch.reconstruction), ("energy", epoch.energy),
                        ("covariance_penalty", epoch.covariancePenalty), ("seconds", epoch.seconds),
                        ("live_workers", job.liveWorkers.map { $0 as Any } ?? NSNull()),
                    ])
                    guard text, epoch.epoch == 1 || epoch.epoch % every == 0 || epoch.epoch == epochs else { return }
                    print(String(format: "%7d %14.6g %16.6g %14.6g %14.6g %8.3f", epoch.epoch, epoch.loss, epoch.reconstruction, epoch.energy,
                                 epoch.covariancePenalty, epoch.seconds))
                    fflush(nil)
                }
                model.featureColumns = try DatasetLoader.featureColumnNames(path: input.data, csv: csv)
                model.imputationMeans = imputationMeans
                try DAGMMModelFile.write(model, to: out)
                if let report = output.report {
                    let scored = try DAGMMTrainer.score(model.state, mixture: model.mixture, runner: runner)
                    var page = Report(title: "emfleet dagmm fit: \(options.components) components on \(URL(fileURLWithPath: input.data).lastPathComponent)")
                    page.addText(String(format: "%d epochs; final loss %.6g. The threshold drawn is the training energies' %.3g quantile.",
                                        model.history.count, model.history.last?.loss ?? .nan, thresholdQuantile))
                    ReportPages.addDAGMM(model, energies: scored.energies, latent: scored.latent, threshold: model.threshold(quantile: thresholdQuantile),
                                         anomalous: nil, to: &page)
                    try ReportPages.write(page, to: report, log: log)
                }
                let seconds = (ContinuousClock.now - clock).seconds
                let last = model.history.last
                log.json("done", [("epochs", model.history.count), ("loss", last?.loss ?? .nan), ("seconds", seconds), ("out", out)])
                if log.format == .text {
                    print(String(format: "trained %d epochs; loss %.6g; %.2f s; model written to %@", model.history.count, last?.loss ?? .nan, seconds, out))
                    let m = model.mixture
                    for k in 0..<m.components {
                        let mean = m.means[k].map { String(format: "%.4g", $0) }.joined(separator: ", ")
                        print(String(format: "  component %2d  weight %.4f  latent mean [%@]", k, m.weights[k], mean))
                    }
                }
            }
        }
    }

    /// A DAGMM model file applied to a data file: every row's energy and latent features.
    struct AppliedDAGMMOptions: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("Model file from `dagmm fit`.", valueName: "file"))
        var model: String

        @OptionGroup var input: DataOptions
        @OptionGroup var threading: ThreadOptions
        @OptionGroup(title: "Cluster") var cluster: ClusterOptions

        func score() throws -> (model: DAGMMModel, energies: [Double], latent: [Double], csv: CSVOptions) {
            try FileKind.require(model, is: DAGMMModelFile.format)
            let fitted = try DAGMMModelFile.read(from: model)
            let csv = try input.csvOptions(forModelColumns: fitted.featureColumns, imputationMeans: fitted.imputationMeans, model: model)
            let job = try OpenedJob(
                path: input.data, csv: csv, shards: nil, threads: threading.threads, cluster: cluster.settings, logFormat: cluster.logFormat,
                status: cluster.statusRequest,
                messageLimit: { DAGMMJob.messageLimit(architecture: fitted.architecture, largestShard: $0.largestShardRows) })
            defer { job.finish() }
            try job.noteMissingValues(path: input.data, csv: csv)
            guard job.runner.plan.rows > 0 else { throw ValidationError("\(input.data) has no rows to score") }
            guard job.runner.dimension == fitted.architecture.inputs else {
                throw ValidationError("\(model) has \(fitted.architecture.inputs) features; \(input.data) has \(job.runner.dimension)")
            }
            let scored = try DAGMMTrainer.score(fitted.state, mixture: fitted.mixture, runner: job.runner)
            return (fitted, scored.energies, scored.latent, csv)
        }
    }

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write each row's energy (−log density of its latent features under the model's mixture; higher is more anomalous).",
            discussion: "With --threshold-quantile Q, rows whose energy is above the training energies' quantile Q are flagged: "
                + "the count is printed, and --flags writes 1 for a flagged row and 0 for the others.")

        @OptionGroup var applied: AppliedDAGMMOptions

        @Option(name: [.short, .long], help: ArgumentHelp("Energies, one per row: .npy or .csv by extension.", valueName: "file"))
        var out: String?

        @Option(name: .long, help: ArgumentHelp("Flag rows above the training energies' quantile q (0.95: the top 5% of the training rows' energies).", valueName: "q"))
        var thresholdQuantile: Double?

        @Option(name: .long, help: ArgumentHelp("Write 0/1 flags, one per row (.npy or .csv), at --threshold-quantile.", valueName: "file"))
        var flags: String?

        @OptionGroup var identifiers: IdentifierColumnOption

        func validate() throws {
            if let thresholdQuantile, !(0...1).contains(thresholdQuantile) { throw ValidationError("--threshold-quantile must be in [0, 1]") }
            if flags != nil, thresholdQuantile == nil { throw ValidationError("--flags needs --threshold-quantile Q, the threshold to flag at") }
        }

        func run() throws {
            try reportingErrors {
                for (path, option) in [(out, "--out"), (flags, "--flags")] {
                    guard let path else { continue }
                    try OutputLocation.checkFile(path, option: option)
                    try checkTableOutput(path, option: option)
                    try identifiers.check(out: path)
                }
                let scored = try applied.score()
                let rows = scored.energies.count
                let ids = try identifiers.read(applied.input, csv: scored.csv, rows: rows)
                if let out {
                    try writeMatrix(scored.energies, rows: rows, columns: 1, header: ["energy"], ids: ids, to: out)
                    print("wrote energies of \(rows) rows to \(out)")
                }
                if let q = thresholdQuantile {
                    let threshold = scored.model.threshold(quantile: q)
                    let marks = scored.energies.map { $0 > threshold ? 1 : 0 }
                    let flagged = marks.reduce(0, +)
                    print(String(format: "threshold %.6g (training energies' %.4g quantile): %d of %d rows flagged (%.2f%%)",
                                 threshold, q, flagged, rows, 100 * Double(flagged) / Double(max(rows, 1))))
                    if let flags {
                        try writeLabels(marks, ids: ids, to: flags)
                        print("wrote flags to \(flags)")
                    }
                }
                if out == nil, thresholdQuantile == nil {
                    let sorted = scored.energies.sorted()
                    print(String(format: "energies of %d rows: min %.6g, median %.6g, 95%% %.6g, max %.6g (give --out to write them)", rows,
                                 sorted.first ?? .nan, AnomalyEvaluation.quantile(sorted, 0.5), AnomalyEvaluation.quantile(sorted, 0.95), sorted.last ?? .nan))
                }
            }
        }
    }

    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Precision, recall and F1 of the energies against labels, and the area under the precision-recall curve.",
            discussion: "As the DAGMM paper evaluates: the threshold flags as many rows as are labelled anomalous (the energies' quantile at "
                + "one minus the anomaly fraction); the area is the average precision (scikit-learn's average_precision_score).")

        @OptionGroup var applied: AppliedDAGMMOptions

        @Option(name: .long, help: ArgumentHelp("One label per row (.npy or text): 1 (or any nonzero number) for an anomaly, 0 for a normal row.", valueName: "file"))
        var labels: String

        @Option(name: .long, help: ArgumentHelp("Write an HTML report (energy histogram with the threshold, the latent plane) to DIR/index.html.", valueName: "dir"))
        var report: String?

        @Flag(name: .long, help: "Print one JSON object instead of text.")
        var json = false

        /// One flag per row of a 1-D `.npy` array or a one-column text file: nonzero is an anomaly.
        static func readLabels(_ path: String) throws -> [Bool] {
            let values: [Double]
            if path.lowercased().hasSuffix(".npy") {
                values = try NPYReader(path: path).readVector()
            } else {
                let table = try DatasetLoader.load(path: path, csv: CSVOptions(), finiteOnly: true).features
                guard table.columns == 1 else { throw DatasetError(file: path, message: "has \(table.columns) columns; --labels wants one label per row") }
                values = (0..<table.rows).map { table[row: $0, column: 0] }
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw DatasetError(file: path, message: "label \(bad) is \(values[bad]); labels are 0 (normal) or nonzero (anomaly)")
            }
            return values.map { $0 != 0 }
        }

        func run() throws {
            try reportingErrors {
                if let report { try OutputLocation.checkFolder(report, option: "--report") }
                let anomalous = try Self.readLabels(labels)
                let scored = try applied.score()
                guard anomalous.count == scored.energies.count else {
                    throw ValidationError("\(labels) has \(anomalous.count) labels; \(applied.input.data) has \(scored.energies.count) rows")
                }
                guard let result = AnomalyEvaluation(scores: scored.energies, anomalous: anomalous) else {
                    throw ValidationError("\(labels): the labels must mark some rows anomalous (nonzero) and some normal (0)")
                }
                if let report {
                    var page = Report(title: "emfleet dagmm evaluate: \(URL(fileURLWithPath: applied.input.data).lastPathComponent)")
                    page.addText(String(format: "%d rows, %d labelled anomalous; threshold %.6g flags %d; precision %.4f, recall %.4f, F1 %.4f, "
                                        + "area under the precision-recall curve %.4f.", result.rows, result.anomalies, result.threshold, result.flagged,
                                        result.precision, result.recall, result.f1, result.averagePrecision))
                    ReportPages.addDAGMM(scored.model, energies: scored.energies, latent: scored.latent, threshold: result.threshold,
                                         anomalous: anomalous, to: &page)
                    // Under --json the one object printed is the result.
                    if json { try page.write(to: report) } else { try ReportPages.write(page, to: report, log: EventLog(format: .text)) }
                }
                if json {
                    // JSONEncoder writes each double so that it reads back to the same bits.
                    struct Printed: Encodable {
                        var rows, anomalies, flagged, true_positives: Int
                        var threshold, precision, recall, f1, average_precision: Double
                    }
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    print(String(decoding: try encoder.encode(Printed(
                        rows: result.rows, anomalies: result.anomalies, flagged: result.flagged, true_positives: result.truePositives,
                        threshold: result.threshold, precision: result.precision, recall: result.recall, f1: result.f1,
                        average_precision: result.averagePrecision)), as: UTF8.self))
                } else {
                    print(String(format: "rows %d  anomalies %d (%.2f%%)  threshold %.6g  flagged %d", result.rows, result.anomalies,
                                 100 * Double(result.anomalies) / Double(result.rows), result.threshold, result.flagged))
                    print(String(format: "precision %.4f  recall %.4f  F1 %.4f  PR AUC %.4f", result.precision, result.recall, result.f1,
                                 result.averagePrecision))
                }
            }
        }
    }
}

extension ReportPages {
    /// The loss terms per epoch, the energy histogram with the threshold, and the latent plane
    /// (the code against the relative reconstruction error) coloured by energy quintile or, with
    /// labels, by label.
    static func addDAGMM(_ model: DAGMMModel, energies: [Double], latent: [Double], threshold: Double, anomalous: [Bool]?, to report: inout Report) {
        let settings = model.options.settings
        // A long training is drawn at about 500 evenly spaced epochs, the last included.
        let every = max(1, model.history.count / 500)
        let history = model.history.enumerated().filter { $0.offset % every == 0 || $0.offset == model.history.count - 1 }.map(\.element)
        func series(_ name: String, _ value: (DAGMMEpoch) -> Double) -> Report.Series {
            .init(name: name, pointClass: name.split(separator: " ").first.map(String.init) ?? name,
                  points: history.map { (Double($0.epoch), value($0)) })
        }
        report.addLineChart(
            id: "loss", title: "Loss and its weighted terms per epoch" + (every > 1 ? " (every \(every)th epoch)" : ""), xLabel: "epoch",
            yLabel: "mean over the epoch's steps",
            series: [series("loss", \.loss), series("reconstruction", \.reconstruction),
                     series("energy × λ1") { $0.energy * settings.energyWeight },
                     series("cov. penalty × λ2") { $0.covariancePenalty * settings.covariancePenalty }])
        let sorted = energies.sorted()
        // A few rows of very high energy would squeeze the rest into one bin: the top 1% share the last bin.
        let top = max(AnomalyEvaluation.quantile(sorted, 0.99), threshold)
        let clipped = sorted.last.map { $0 > top } == true
        report.addHistogram(
            id: "energies",
            title: "Energy of each row (higher is more anomalous)" + (clipped ? String(format: "; rows above %.4g are counted in the last bin", top) : ""),
            xLabel: "energy", values: clipped ? energies.map { min($0, top) } : energies, marker: threshold)
        let m = model.architecture.latentSize, code = model.architecture.codeSize
        let quintiles = (1..<5).map { AnomalyEvaluation.quantile(sorted, Double($0) / 5) }
        // At most 5,000 points keep the page light; the rows are taken evenly.
        let stride = max(1, energies.count / 5000)
        let points = Swift.stride(from: 0, to: energies.count, by: stride).map { r -> (x: Double, y: Double, group: Int) in
            let group = anomalous.map { $0[r] ? 1 : 0 } ?? quintiles.filter { energies[r] > $0 }.count
            return (latent[r * m], code >= 2 ? latent[r * m + 1] : latent[r * m + code], group)
        }
        report.addScatter(
            id: "latent",
            title: code >= 2 ? "The first two code dimensions, " + (anomalous == nil ? "coloured by energy quintile" : "coloured by label (1: anomaly)")
                : "The code against the relative reconstruction error, " + (anomalous == nil ? "coloured by energy quintile (4: the highest)" : "coloured by label (1: anomaly)"),
            xLabel: "code 1", yLabel: code >= 2 ? "code 2" : "‖x − x′‖ / ‖x‖", points: points, ellipses: [],
            groupName: anomalous == nil ? "energy quintile" : "label")
        report.addTable(
            title: "The mixture of the training rows' latent features",
            header: ["component", "weight"] + (0..<m).map { $0 < code ? "mean code \($0 + 1)" : ($0 == code ? "mean rel. error" : "mean cosine") },
            rows: (0..<model.mixture.components).map { k in
                ["\(k)", String(format: "%.4f", model.mixture.weights[k])] + model.mixture.means[k].map { String(format: "%.4g", $0) }
            })
    }
}
