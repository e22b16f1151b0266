import ArgumentParser
import Cluster
import Datasets
import Engine
import Foundation
import Mixture
import Neural
import Numerics
import Reports
import Training

/// `emfleet pipeline …`: a mixture that finds the structure, then a network that learns from it.
struct PipelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Fit a Gaussian mixture, then train a network from it (distilling the mixture, or with its posteriors as features).",
        subcommands: [Fit.self, Predict.self]
    )
}

extension PipelineCommand {
    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit a mixture (K given, or chosen by BIC), then a network: without labels it learns the mixture's component; with labels it learns them from the features and the posteriors.",
            discussion: "Prints the mixture's cluster sizes, then the network's epochs and its held-out figures. One file holds both models.")

        @OptionGroup var input: DataOptions
        @OptionGroup var labelOptions: LabelOptions
        @OptionGroup var weighting: SampleWeightOptions

        @Option(name: [.short, .long], help: ArgumentHelp("Components: K, or LOW...HIGH to choose by BIC as `gmm select` does (default: 1...10, at most one per row).", valueName: "range"))
        var components: ComponentCounts?

        @Option(name: .long, help: "Covariance type of the mixture.")
        var covariance: CovarianceType = .full

        @Option(name: .long, help: "The criterion for a range of components: bic or aic.")
        var criterion: InformationCriterion = .bic

        @Option(name: .long, help: "Hidden layer widths of the network, comma-separated.")
        var hidden = LayerWidths([16, 8])

        @Option(name: .long, help: "Hidden activation.")
        var activation: Activation = .relu

        @Option(name: .long, help: "Epochs (default: until the held-out loss has not improved by 1e-4 for 10 epochs in a row, at most 200, as mlp train without --epochs).")
        var epochs: Int?

        @Option(name: .long, help: "Minibatch size (default: min(256, rows)).")
        var batchSize: Int?

        @Option(name: .long, help: "Adam's learning rate.")
        var lr: Double = 0.001

        @Option(name: .long, help: "Fraction of each shard's rows held out to measure the network.")
        var validationSplit: Double = 0.2

        @Option(name: .long, help: "Seed of the mixture and the network.")
        var seed: UInt64 = 0

        @Option(name: .long, help: "Precision of the network's passes: float32 (default) or float64.")
        var precision: NetworkPrecision = .float32

        @Flag(name: .long, help: "Fit the mixture by stepwise (online) EM: one pass over the data (see `gmm fit --online`).")
        var online = false

        @Option(name: .long, help: "With --online: rows per minibatch of the mixture's stepwise EM (--batch-size is the network's). (default: 10000)")
        var onlineBatchSize: Int?

        @OptionGroup var compute: ComputeOptions
        @OptionGroup var output: ModelOutputOptions

        /// The mixture's stepwise settings, or nil without --online.
        func stepwiseOptions() -> OnlineOptions? {
            guard online else { return nil }
            var options = OnlineOptions()
            if let onlineBatchSize { options.batchSize = onlineBatchSize }
            return options
        }

        var shards: Int? { compute.shards }
        var threads: Int? { compute.threads }
        var out: String { output.out }
        var report: String? { output.report }

        @OptionGroup(title: "Cluster") var cluster: ClusterOptions

        /// The largest number of components tried when `--components` is not given.
        static let untunedComponents = 10

        /// The ratio of the widest to the narrowest feature's deviation beyond which a mixture's
        /// components follow the widest columns alone.
        static let scaleRatioLimit = 100.0

        /// Warns when the features' scales differ so much that the mixture, which sees raw
        /// distances, is shaped by the widest columns (the network standardises its inputs; the
        /// mixture does not).
        static func warnAboutScales(path: String, csv: CSVOptions, log: EventLog) {
            guard let summaries = try? DatasetInspector.summarize(path: path, csv: csv).summaries else { return }
            let spread = summaries.filter { $0.standardDeviation.isFinite && $0.standardDeviation > 0 }
            guard let narrowest = spread.min(by: { $0.standardDeviation < $1.standardDeviation }),
                  let widest = spread.max(by: { $0.standardDeviation < $1.standardDeviation }),
                  widest.standardDeviation / narrowest.standardDeviation > scaleRatioLimit else { return }
            let name = { (summary: ColumnSummary) in summary.name.map { "\"\($0)\"" } ?? "column \(summary.index)" }
            log.note(String(format: "warning: the features' scales differ (std %.3g of %@ to %.3g of %@): the mixture's components follow the widest "
                + "columns; standardise them first with `emfleet data convert IN OUT --standardise`",
                narrowest.standardDeviation, name(narrowest), widest.standardDeviation, name(widest)))
        }

        func validate() throws {
            guard (epochs ?? 1) >= 1, (batchSize ?? 1) >= 1, lr > 0 else { throw ValidationError("--epochs and --batch-size must be at least 1, --lr positive") }
            if onlineBatchSize != nil, !online { throw ValidationError("--online-batch-size sets up --online; add --online") }
            guard validationSplit > 0, validationSplit < 1 else { throw ValidationError("--validation-split must be in (0, 1): the held-out rows measure the network") }
            if cluster.streamData { throw ValidationError("--stream-data is for mixture jobs") }
        }

        func run() throws {
            try reportingErrors {
                try OutputLocation.checkFile(out, option: "--out")
                if let report { try OutputLocation.checkFolder(report, option: "--report") }
                let csv = weighting.csv(input.layout.csvOptions)
                let shape = try DatasetLoader.shape(path: input.data, csv: csv)
                let counts = components?.values ?? Array(1...max(1, min(Self.untunedComponents, shape.rows)))
                let batchSize = self.batchSize ?? TrainingOptions.untunedBatchSize(rows: shape.rows)
                let labelled = labelOptions.labels != nil || input.layout.labelColumn != nil
                var classes: [String]? = nil
                var labels = JobSpec.LabelSource.none
                if labelled {
                    let texts = try labelOptions.read(data: input)
                    guard texts.count == shape.rows else {
                        throw ValidationError("\(labelOptions.labels ?? input.data): \(texts.count) labels for \(shape.rows) rows")
                    }
                    classes = sortedClasses(texts)
                    guard classes!.count >= 2 else { throw ValidationError("the labels hold a single class") }
                    labels = .classes(file: labelOptions.labels ?? "", classes: classes!)
                }
                let widths = hidden.values
                let largestK = counts.max() ?? 1, precision = self.precision
                let job = try OpenedJob(
                    path: input.data, csv: csv, shards: shards, threads: threads, cluster: cluster.settings, logFormat: cluster.logFormat, status: cluster.statusRequest,
                    labels: labels, weights: weighting.sampleWeight,
                    defaultShards: { rows in BatchLayout.defaultShardCount(rows: rows, batchSize: batchSize) },
                    messageLimit: { context in
                        // The mixture's statistics, or the largest network the pipeline can train (posteriors as inputs).
                        let network = NetworkArchitecture(
                            inputs: context.dimension + largestK, hidden: widths,
                            outputs: max(classes?.count ?? 0, largestK), activation: .relu, loss: .softmaxCrossEntropy)
                        return max(MixtureJob.messageLimit(largestShard: context.largestShardRows, columns: context.dimension),
                                   TrainingJob.messageLimit(architecture: network, precision: precision, largestShard: context.largestShardRows))
                    })
                defer { job.finish() }
                job.coordinator?.onShardDone = nil
                job.warnAboutIdentifierFeatures(path: input.data, csv: csv)
                let imputationMeans = try job.noteMissingValues(path: input.data, csv: csv)
                Self.warnAboutScales(path: input.data, csv: csv, log: job.log)
                let runner = job.runner
                let summary = job.log.format == .text, text = summary && !output.quiet

                // 1. The mixture.
                var selectionRows = [SelectionCandidate]()
                var mixtureOptions = FitOptions(components: counts[0])
                mixtureOptions.covarianceType = covariance
                mixtureOptions.seed = seed
                let mixture: GaussianMixture
                let online = stepwiseOptions()
                if let online { try OnlineMixtureFitter(runner: runner, options: mixtureOptions, online: online).validate() }
                if counts.count == 1 {
                    mixture = try online.map { try OnlineMixtureFitter(runner: runner, options: mixtureOptions, online: $0).fit() }
                        ?? MixtureFitter(runner: runner, options: mixtureOptions).fit()
                } else {
                    if text { print("choosing the number of components by \(criterion.rawValue.uppercased())"); print(GMMCommand.Select.header) }
                    mixture = try ModelSelection.run(
                        runner, counts: counts, types: [covariance], options: mixtureOptions, criterion: criterion, online: online
                    ) { row in
                        selectionRows.append(row)
                        if text { print(GMMCommand.Select.line(row)) }
                        job.log.json("candidate", [("components", row.components), ("bic", row.bic), ("aic", row.aic)])
                    }.best
                }
                var page = Report(title: "emfleet pipeline fit on \(URL(fileURLWithPath: input.data).lastPathComponent)")
                let k = mixture.parameters.components
                let assigned = try mixture.evaluate(on: runner, output: .labels).perRow
                var sizes = [Int](repeating: 0, count: k)
                for label in assigned { sizes[Int(label)] += 1 }
                if text {
                    print("mixture: \(k) \(covariance.rawValue) components after \(mixture.iterations) iterations; cluster sizes "
                        + sizes.map(String.init).joined(separator: ", "))
                }
                job.log.json("mixture", [("components", k), ("sizes", sizes), ("iterations", mixture.iterations)])
                let prepared = try mixture.prepared()

                // 2. The network.
                var options = TrainingOptions()
                options.hidden = widths
                options.activation = activation
                options.learningRate = lr
                options.batchSize = batchSize
                options.setStopping(epochs: epochs, patience: nil, tolerance: nil)
                options.seed = seed
                options.validationFraction = validationSplit
                options.precision = precision
                func train(_ features: MixtureFeatures?, outputs: Int, title: String) throws -> TrainedNetwork {
                    if text { print(title); print(EpochReport.header(classification: true, validation: true)) }
                    return try NetworkTrainer(runner: runner, options: options, outputs: outputs, mixture: features).train(progress: { record in
                        if text { print(EpochReport.line(record)); fflush(nil) }
                        job.log.json("epoch", [("epoch", record.epoch), ("loss", record.loss),
                                               ("validation_accuracy", record.validationAccuracy ?? .nan)])
                    })
                }
                var file: PipelineModelFile
                if let classes {
                    let features = MixtureFeatures(model: prepared, appendPosteriors: true, componentTargets: false)
                    let with = try train(features, outputs: classes.count, title: "network on the features and the \(k) posteriors:")
                    let without = try train(nil, outputs: classes.count, title: "the same network on the features alone:")
                    let accuracyWith = with.history[with.bestEpoch - 1].validationAccuracy ?? .nan
                    let accuracyWithout = without.history[without.bestEpoch - 1].validationAccuracy ?? .nan
                    if summary {
                        print(String(format: "held-out accuracy: %.2f%% with the posteriors, %.2f%% without", 100 * accuracyWith, 100 * accuracyWithout))
                    }
                    ReportPages.addTraining(with, title: "network with the posteriors", to: &page)
                    ReportPages.addTraining(without, title: "network without them", to: &page)
                    file = PipelineModelFile(
                        targets: "labels", posteriorsAsInputs: true, mixture: .init(mixture),
                        network: NetworkModelFile(with, classes: classes),
                        heldOut: ["accuracy_with_posteriors": accuracyWith, "accuracy_without_posteriors": accuracyWithout])
                } else {
                    let features = MixtureFeatures(model: prepared, appendPosteriors: false, componentTargets: true)
                    let network = try train(features, outputs: k, title: "network learning the mixture's component:")
                    let agreement = network.history[network.bestEpoch - 1].validationAccuracy ?? .nan
                    if summary { print(String(format: "held-out agreement of the network with the mixture: %.2f%%", 100 * agreement)) }
                    ReportPages.addTraining(network, title: "network learning the component", to: &page)
                    file = PipelineModelFile(
                        targets: "components", posteriorsAsInputs: false, mixture: .init(mixture),
                        network: NetworkModelFile(network, classes: (0..<k).map(String.init)),
                        heldOut: ["agreement_with_mixture": agreement])
                }
                file.network.training.featureColumns = try DatasetLoader.featureColumnNames(path: input.data, csv: csv)
                file.network.training.imputationMeans = imputationMeans
                try file.write(to: out)
                if let report {
                    page.addText("Held out: " + file.heldOut.sorted { $0.key < $1.key }.map { String(format: "%@ %.2f%%", $0.key, 100 * $0.value) }.joined(separator: "; "))
                    if !selectionRows.isEmpty { ReportPages.addSelection(selectionRows, to: &page) }
                    try ReportPages.addMixture(mixture, runner: runner, to: &page)
                    try ReportPages.write(page, to: report, log: job.log)
                }
                job.log.json("done", [("out", out)])
                if summary { print("pipeline written to \(out)") }
            }
        }
    }

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply a pipeline: the mixture, then the network; labels (or components), or probabilities.")

        @Option(name: .long, help: ArgumentHelp("Pipeline file from `pipeline fit`.", valueName: "file"))
        var model: String

        @OptionGroup var input: DataOptions

        @Option(name: [.short, .long], help: "Output file, .npy or .csv by extension.")
        var out: String

        @Flag(name: .long, help: "Write probabilities instead of labels.")
        var proba = false

        @OptionGroup var identifiers: IdentifierColumnOption

        @OptionGroup var threading: ThreadOptions

        var threads: Int? { threading.threads }

        @OptionGroup(title: "Cluster") var cluster: ClusterOptions

        func run() throws {
            try reportingErrors {
                try OutputLocation.checkFile(out, option: "--out")
                try checkTableOutput(out)
                try identifiers.check(out: out)
                try FileKind.require(model, is: PipelineModelFile.formatName)
                let file = try PipelineModelFile.read(from: model)
                let features = try file.features()
                let csv = try input.csvOptions(forModelColumns: file.network.training.featureColumns, imputationMeans: file.network.training.imputationMeans, model: model)
                let shape = try DatasetLoader.shape(path: input.data, csv: csv)
                guard shape.columns == features.model.parameters.dimension else {
                    throw ValidationError("\(input.data) has \(shape.columns) feature columns but the pipeline was fitted on \(features.model.parameters.dimension)")
                }
                let architecture = file.network.architecture
                let job = try OpenedJob(path: input.data, csv: csv, shards: nil, threads: threads,
                                        cluster: cluster.settings, logFormat: cluster.logFormat, status: cluster.statusRequest,
                                        messageLimit: { TrainingJob.messageLimit(architecture: architecture, precision: .float64, largestShard: $0.largestShardRows) })
                defer { job.finish() }
                job.coordinator?.onShardDone = nil
                try job.noteMissingValues(path: input.data, csv: csv)
                let network = file.network
                let state = NeuralModelState(architecture: network.architecture,
                                             parameters: try network.parameters(extraInputs: features.appendPosteriors ? features.model.parameters.components : 0),
                                             standardisation: network.standardisation, mixture: features)
                let outputs = try job.runner.outputs(state)
                let width = network.architecture.outputs, rows = outputs.count / width
                let names = network.classes ?? (0..<width).map(String.init)
                let ids = try identifiers.read(input, csv: csv, rows: rows)
                if proba {
                    try writeMatrix(outputs, rows: rows, columns: width, header: probabilityHeader(names), ids: ids, to: out)
                } else {
                    let predicted = VectorMath.argmaxOfRows(outputs, width: width).map { names[$0] }
                    try writeClassLabels(predicted, ids: ids, to: out)
                }
                print("wrote \(proba ? "probabilities" : "predictions") for \(rows) rows to \(out)")
            }
        }
    }
}
