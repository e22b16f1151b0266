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

extension Activation: ExpressibleByArgument {}
extension LossFunction: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension WeightInitialisation: ExpressibleByArgument {}
extension NetworkPrecision: ExpressibleByArgument {}

/// `emfleet mlp …`: train neural networks by minibatch gradients and apply them.
struct MLPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mlp",
        abstract: "Train multilayer perceptrons by data-parallel minibatch gradient descent, and apply them.",
        subcommands: [Train.self, Predict.self, Evaluate.self]
    )
}

/// Where labels come from: a labels file or the data's label column.
struct LabelOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Labels: one per row, a text file (one per line) or a 1-D integer .npy (default: --label-column).", valueName: "file"))
    var labels: String?

    /// The labels of every row, as text (read once, here, to learn the classes).
    ///
    /// - Parameter csv: how to read `data` (its layout options unless given: a model's columns).
    func read(data: DataOptions, csv: CSVOptions? = nil) throws -> [String] {
        if let labels { return try DatasetLoader.loadLabels(path: labels) }
        guard data.layout.labelColumn != nil else {
            throw ValidationError("give --labels FILE or --label-column COLUMN")
        }
        guard let column = try DatasetLoader.load(path: data.data, csv: csv ?? data.layout.csvOptions).labels else {
            throw ValidationError("--label-column names no column")
        }
        return column
    }
}

/// Hidden layer widths, for `--hidden 128,64`.
struct LayerWidths: ExpressibleByArgument, CustomStringConvertible {
    var values: [Int]

    init(_ values: [Int]) { self.values = values }

    init?(argument: String) {
        let widths = argument.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !widths.isEmpty, widths.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
        values = widths.map { $0! }
    }

    var description: String { values.map(String.init).joined(separator: ",") }
}

/// Dropout rates for `--dropout 0.5` (every hidden layer) or `--dropout 0.5,0.2` (one per layer).
struct DropoutRates: ExpressibleByArgument, CustomStringConvertible {
    var values: [Double]

    init(_ values: [Double]) { self.values = values }

    init?(argument: String) {
        let rates = argument.split(separator: ",", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !rates.isEmpty, rates.allSatisfy({ $0.map { (0..<1).contains($0) } ?? false }) else { return nil }
        values = rates.map { $0! }
    }

    /// One rate per hidden layer of `hidden` widths, or nil when the count fits neither form.
    func perLayer(_ hidden: [Int]) -> [Double]? {
        if values.count == 1 { return Array(repeating: values[0], count: hidden.count) }
        return values.count == hidden.count ? values : nil
    }

    var description: String { values.map { String($0) }.joined(separator: ",") }
}

/// Class names sorted as numbers when they all are numbers, else as text.
func sortedClasses(_ labels: [String]) -> [String] {
    let unique = Array(Set(labels))
    if unique.allSatisfy({ Double($0) != nil }) { return unique.sorted { Double($0)! < Double($1)! } }
    return unique.sorted()
}

extension MLPCommand {
    struct Train: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Train a network and write the model file.",
            discussion: "Prints one line per epoch. The weights depend on the data, the options, --seed and --shards, never on --threads or the number of workers.")

        @OptionGroup var input: DataOptions
        @OptionGroup var labelOptions: LabelOptions
        @OptionGroup var weighting: SampleWeightOptions

        @Option(name: .long, help: "Hidden layer widths, comma-separated.")
        var hidden = LayerWidths([128, 64])

        @Option(name: .long, help: "Hidden activation: relu, tanh, sigmoid, linear.")
        var activation: Activation = .relu

        @Option(name: .long, help: "Loss: cross-entropy (classes), binary-cross-entropy (two classes), mse (regression).")
        var loss: LossFunction = .softmaxCrossEntropy

        @Option(name: .long, help: "Weight initialisation: glorot or he (default: he for relu, glorot otherwise).")
        var initialisation: WeightInitialisation?

        @Option(name: .long, help: "Optimizer: adam or sgd.")
        var optimizer: OptimizerKind = .adam

        @Option(name: .long, help: "Learning rate.")
        var lr: Double = 0.001

        @Option(name: .long, help: "SGD momentum.")
        var momentum: Double = 0.9

        @Flag(name: .long, help: "SGD: Nesterov momentum.")
        var nesterov = false

        @Option(name: .long, help: "Adam β1.")
        var beta1: Double = 0.9

        @Option(name: .long, help: "Adam β2.")
        var beta2: Double = 0.999

        @Option(name: .long, help: "Adam ε.")
        var epsilon: Double = 1e-8

        @Option(name: .long, help: "L2 weight decay on the weights.")
        var weightDecay: Double = 0

        @Option(name: .long, help: ArgumentHelp(
            "Start from this network model file's weights and input standardisation (the same architecture and classes) instead of seeded weights; the optimizer starts afresh (scikit-learn's warm_start).",
            valueName: "FILE"))
        var initModel: String?

        @Option(name: .long, help: ArgumentHelp(
            "The optimizer's state between runs (scikit-learn's partial_fit): when FILE exists, training goes on with its optimizer "
                + "(Adam's moments and step, SGD's velocity) and its epoch count (the data order and the learning-rate schedule go on "
                + "from there) from the weights of --init-model, which must be the model written with it; at the end the final state "
                + "is written to FILE. --epochs counts this run's epochs. With --resume the checkpoint carries them instead.",
            valueName: "FILE"))
        var optimizerState: String?

        @Option(name: .long, help: ArgumentHelp(
            "The class names, comma-separated, in the order of the network's outputs (default: those the labels hold, sorted); "
                + "every label must be one of them. For training on batches that may lack a class (scikit-learn's partial_fit classes=).",
            valueName: "NAMES"))
        var classes: String?

        @Option(name: .customLong("l1"), help: "L1 penalty on the weights (λ·Σ|w| added to the loss; drives weights to 0).")
        var l1: Double = 0

        @Option(name: .long, help: ArgumentHelp(
            "Dropout: the probability of dropping each hidden unit in a training step, for every hidden layer or one per layer (0.5 or 0.5,0.2).",
            valueName: "P"))
        var dropout = DropoutRates([0])

        @Option(name: .long, help: "Learning-rate schedule: constant, step:EPOCHS:FACTOR, cosine[:MIN_FRACTION].")
        var schedule: String = "constant"

        @Option(name: .long, help: "Global minibatch size (default: min(256, rows)).")
        var batchSize: Int?

        @Option(name: .long, help: ArgumentHelp(
            "Epochs to run (stopping earlier only with --patience). Default: until the monitored loss stops improving, as scikit-learn's "
                + "MLPClassifier does: 10 epochs in a row that do not lower the best loss by --tol 1e-4 end it, at most 200 epochs."))
        var epochs: Int?

        @Option(name: .long, help: "Seed of the weights and the data order.")
        var seed: UInt64 = 0

        @Option(name: .long, help: "Fraction of each shard's rows held out for validation.")
        var validationSplit: Double = 0

        @Option(name: .long, help: ArgumentHelp("Validation rows in their own file (same columns as --data), evaluated after every epoch in this process.", valueName: "file"))
        var validationData: String?

        @Option(name: .long, help: ArgumentHelp("Labels of --validation-data (default: its --label-column).", valueName: "file"))
        var validationLabels: String?

        @Option(name: .long, help: "Precision of the forward and backward passes: float32 (default, as in Keras) or float64; weights, optimizer and model file are always float64.")
        var precision: NetworkPrecision = .float32

        @Option(name: .long, help: "Stop after this many epochs in a row without improvement (of the validation loss when there is a split, else the training loss); the best weights are kept (default: 10 without --epochs, else none).")
        var patience: Int?

        @Option(name: .long, help: "How much an epoch must lower the best loss to count as an improvement for --patience (default: 1e-4 without --epochs, else 0: any decrease).")
        var tol: Double?

        @OptionGroup var compute: ComputeOptions
        @OptionGroup var output: ModelOutputOptions
        @OptionGroup var checkpoints: CheckpointOptions

        var shards: Int? { compute.shards }
        var threads: Int? { compute.threads }
        var out: String { output.out }
        var report: String? { output.report }
        var quiet: Bool { output.quiet }
        var checkpoint: String? { checkpoints.checkpoint }
        var checkpointEvery: CheckpointSchedule { checkpoints.checkpointEvery }
        var resume: String? { checkpoints.resume(out: out) }

        @OptionGroup(title: "Cluster") var cluster: ClusterOptions

        func validate() throws {
            if let batchSize { guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") } }
            if let epochs { guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") } }
            if let tol { guard tol >= 0 else { throw ValidationError("--tol must not be negative") } }
            guard lr > 0 else { throw ValidationError("--lr must be positive") }
            guard (0..<1).contains(validationSplit) else { throw ValidationError("--validation-split must be in [0, 1)") }
            if validationData != nil, validationSplit > 0 { throw ValidationError("give --validation-split or --validation-data, not both") }
            if validationLabels != nil, validationData == nil { throw ValidationError("--validation-labels needs --validation-data") }
            guard weightDecay >= 0 else { throw ValidationError("--weight-decay must not be negative") }
            guard l1 >= 0, l1.isFinite else { throw ValidationError("--l1 must be a finite number, not negative") }
            guard dropout.perLayer(hiddenWidths) != nil else {
                throw ValidationError("--dropout \(dropout) gives \(dropout.values.count) rates for \(hiddenWidths.count) hidden layers; give one rate or one per layer")
            }
            if let patience { guard patience >= 1 else { throw ValidationError("--patience must be at least 1") } }
            if let shards { guard shards >= 1 else { throw ValidationError("--shards must be at least 1") } }
            if initModel != nil, resume != nil { throw ValidationError("--resume continues a checkpoint; --init-model starts a new training: choose one") }
            // A resumed run takes the optimizer from its checkpoint and writes the state at its end.
            if let optimizerState, initModel == nil, resume == nil, FileManager.default.fileExists(atPath: optimizerState) {
                throw ValidationError("--optimizer-state \(optimizerState) exists: give the model written with it as --init-model, or remove the file to start afresh")
            }
            if let classes {
                guard loss != .meanSquaredError else { throw ValidationError("--classes names the classes of a classifier; --loss mse trains a regression") }
                let names = Self.classNames(classes)
                guard Set(names).count == names.count, !names.contains("") else {
                    throw ValidationError("--classes \(classes): give distinct, non-empty names separated by commas")
                }
            }
            if cluster.streamData { throw ValidationError("--stream-data is for mixture jobs; training workers read their rows from the file") }
            _ = try LearningRateSchedule.parse(schedule, totalEpochs: epochs ?? TrainingOptions.untunedEpochs)
        }

        var hiddenWidths: [Int] { hidden.values }

        /// The names of `--classes`, in their order.
        static func classNames(_ text: String) -> [String] {
            text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        }

        /// The weights and standardisation of the `--init-model` file, refused (before any work)
        /// unless its network is the one this command trains, with the same classes.
        static func startingNetwork(_ path: String, architecture: NetworkArchitecture, classes: [String]?) throws
            -> (parameters: [Double], standardisation: Standardisation)
        {
            try FileKind.require(path, is: NetworkModelFile.formatName)
            let model = try NetworkModelFile.read(from: path)
            let theirs = model.architecture
            func shape(_ a: NetworkArchitecture) -> String {
                "\(a.inputs)-\(a.hidden.map(String.init).joined(separator: "-"))-\(a.outputs) \(a.activation.rawValue) (\(a.loss.rawValue))"
            }
            guard theirs == architecture else {
                throw ValidationError("--init-model \(path): its network is \(shape(theirs)); this training's is \(shape(architecture)) (give the same --hidden, --activation, --loss and data columns)")
            }
            guard model.classes == classes else {
                throw ValidationError("--init-model \(path): its classes are \((model.classes ?? []).joined(separator: ", ")); these labels have \((classes ?? []).joined(separator: ", "))")
            }
            return (try model.parameters(), model.standardisation)
        }

        func run() throws {
            try reportingErrors {
                try OutputLocation.checkFile(out, option: "--out")
                try OutputLocation.checkFile(checkpoint ?? out + ".checkpoint", option: "--checkpoint")
                if let report { try OutputLocation.checkFolder(report, option: "--report") }
                if let optimizerState { try OutputLocation.checkFile(optimizerState, option: "--optimizer-state") }
                var options = TrainingOptions()
                options.hidden = hiddenWidths
                options.activation = activation
                options.loss = loss
                options.initialisation = initialisation
                options.optimizer = OptimizerSettings(
                    kind: optimizer, momentum: momentum, nesterov: nesterov, beta1: beta1, beta2: beta2, epsilon: epsilon)
                options.learningRate = lr
                options.setStopping(epochs: epochs, patience: patience, tolerance: tol)
                options.schedule = try LearningRateSchedule.parse(schedule, totalEpochs: options.epochs)
                options.seed = seed
                options.weightDecay = weightDecay
                options.l1 = l1
                let rates = dropout.perLayer(hiddenWidths) ?? []
                options.dropout = rates.contains { $0 > 0 } ? rates : []
                options.validationFraction = validationSplit
                options.precision = precision

                let texts = try labelOptions.read(data: input)
                let csv = weighting.csv(input.layout.csvOptions)
                let shape = try DatasetLoader.shape(path: input.data, csv: csv)
                let batchSize = self.batchSize ?? TrainingOptions.untunedBatchSize(rows: shape.rows)
                options.batchSize = batchSize
                guard texts.count == shape.rows else {
                    throw ValidationError("\(labelOptions.labels ?? input.data): \(texts.count) labels for \(shape.rows) rows of \(input.data)")
                }
                let source = labelOptions.labels ?? ""
                let classes: [String]?
                let labels: JobSpec.LabelSource
                let outputs: Int
                if loss == .meanSquaredError {
                    classes = nil
                    labels = .values(file: source)
                    outputs = 1
                } else {
                    let found = try self.classes.map { given in
                        let names = Self.classNames(given), known = Set(names)
                        if let stray = texts.first(where: { !known.contains($0) }) {
                            throw ValidationError("\(labelOptions.labels ?? input.data): the label \"\(stray)\" is not one of --classes \(given)")
                        }
                        return names
                    } ?? sortedClasses(texts)
                    guard found.count >= 2 else { throw ValidationError("the labels hold a single class (\(found.first ?? "")); a classifier needs two or more") }
                    if loss == .binaryCrossEntropy, found.count != 2 {
                        throw ValidationError("binary-cross-entropy needs exactly two classes; the labels hold \(found.count): use cross-entropy")
                    }
                    classes = found
                    labels = .classes(file: source, classes: found)
                    outputs = loss == .binaryCrossEntropy ? 1 : found.count
                }
                let resumed = try resume.map(Self.readCheckpoint)
                let fingerprint = try weighting.fingerprint(data: input.data)
                if let resumed, resumed.dataFingerprint != fingerprint {
                    throw ValidationError("\(resume!): the checkpoint was written for another version of \(weighting.isWeighted ? "\(input.data) or its sample weights" : input.data)")
                }
                let architecture = NetworkArchitecture(
                    inputs: shape.columns, hidden: hiddenWidths, outputs: outputs, activation: activation, loss: loss)
                let start = try initModel.map { try Self.startingNetwork($0, architecture: architecture, classes: classes) }
                let continuation = try optimizerState.flatMap { path -> TrainingContinuation? in
                    guard let start, FileManager.default.fileExists(atPath: path) else { return nil }
                    try FileKind.require(path, is: TrainingContinuation.format)
                    let continuation = try TrainingContinuation.read(from: path)
                    try continuation.check(architecture: architecture, optimizer: options.optimizer, weights: start.parameters, file: path)
                    return continuation
                }
                let job = try OpenedJob(
                    path: input.data, csv: csv, shards: shards, threads: threads, cluster: cluster.settings, logFormat: cluster.logFormat, status: cluster.statusRequest,
                    labels: labels, weights: weighting.sampleWeight, defaultShards: { rows in BatchLayout.defaultShardCount(rows: rows, batchSize: batchSize) },
                    messageLimit: { TrainingJob.messageLimit(architecture: architecture, precision: precision, largestShard: $0.largestShardRows) })
                defer { job.finish() }
                job.status?.board.expect(steps: options.epochs)
                job.coordinator?.onShardDone = nil
                job.warnAboutIdentifierFeatures(path: input.data, csv: csv)
                let imputationMeans = try job.noteMissingValues(path: input.data, csv: csv)
                var validationRunner: ShardRunner?
                if let validationData {
                    let validationLabels: JobSpec.LabelSource = switch labels {
                    case .values: .values(file: self.validationLabels ?? "")
                    default: .classes(file: self.validationLabels ?? "", classes: classes ?? [])
                    }
                    // The validation rows' gaps are filled with the training rows' means.
                    var heldCSV = csv
                    if csv.missing == .mean { heldCSV.imputationMeans = imputationMeans }
                    let held = try OpenedJob(path: validationData, csv: heldCSV, shards: 1, threads: threads,
                                             cluster: ClusterSettings(), labels: validationLabels)
                    guard held.runner.dimension == job.runner.dimension else {
                        throw ValidationError("\(validationData) has \(held.runner.dimension) feature columns; \(input.data) has \(job.runner.dimension)")
                    }
                    validationRunner = held.runner
                }
                let log = job.log
                if let resume, let resumed {
                    log.note("resuming \(resume) after epoch \(resumed.nextEpoch) of \(options.epochs)")
                }
                if let optimizerState, let continuation {
                    log.note("continuing after epoch \(continuation.epochs) with the \(continuation.settings.kind.rawValue) state of \(optimizerState) (step \(continuation.optimizer.step))")
                }
                if let asked = self.batchSize, asked > shape.rows {
                    log.note("warning: --batch-size \(asked) is more than the \(shape.rows) rows: every step takes all the training rows")
                }
                let text = log.format == .text && !quiet
                // A process computes whole shards on its threads, so a step uses at most as many
                // threads as its batch has shards; more shards are another (equally good) model.
                let computing = threads ?? ProcessInfo.processInfo.activeProcessorCount
                let planned = job.runner.plan.count
                if text, shards == nil, cluster.workers == nil, cluster.bind == nil, computing > planned,
                   planned < ShardPlan.defaultShardCount(rows: shape.rows) {
                    log.note("note: a \(batchSize)-row batch makes \(planned) shards (at least \(BatchLayout.defaultRowsPerShard) rows each), so a step uses "
                        + "\(planned) of \(computing) threads; --shards \(computing) would use all (another summation order, so another model)")
                }
                if text {
                    let whereComputed = cluster.workers.map { "\($0) local workers" } ?? cluster.bind.map { "workers at \($0)" } ?? "this process"
                    print("training \(job.runner.dimension)-\(hiddenWidths.map(String.init).joined(separator: "-"))-\(outputs) "
                        + "\(activation.rawValue) network (\(loss.rawValue), \(optimizer.rawValue)) on \(shape.rows) rows, "
                        + "\(job.runner.plan.count) shards, \(whereComputed)")
                    print(EpochReport.header(classification: loss != .meanSquaredError, validation: validationSplit > 0 || validationData != nil))
                }
                let checkpointPath = checkpoint ?? out + ".checkpoint"
                InterruptCleanup.noteCheckpoint(checkpointPath)
                let clock = ContinuousClock.now
                let trained = try NetworkTrainer(runner: job.runner, options: options, outputs: outputs, validation: validationRunner).train(
                    resuming: resumed,
                    startingFrom: start,
                    continuing: continuation,
                    checkpointEvery: checkpointEvery,
                    checkpoint: { state in
                        var state = state
                        state.dataFingerprint = fingerprint
                        try state.write(to: checkpointPath)
                    },
                    progress: { record in
                        var fields: [(String, Any)] = [("epoch", record.epoch), ("loss", record.loss), ("seconds", record.seconds),
                                                       ("samples_per_second", record.samplesPerSecond)]
                        for (key, value) in [("accuracy", record.accuracy), ("validation_loss", record.validationLoss),
                                             ("validation_accuracy", record.validationAccuracy), ("validation_mse", record.validationMSE),
                                             ("validation_mae", record.validationMAE), ("validation_r2", record.validationR2)] {
                            if let value { fields.append((key, value)) }
                        }
                        if let workers = job.liveWorkers {
                            let p = record.profile, steps = Double(max(p.steps, 1))
                            fields += [("live_workers", workers), ("steps", p.steps),
                                       ("step_ms", 1000 * record.seconds / steps),
                                       ("coordinator_ms_per_step", 1000 * (p.roundSeconds - p.waitSeconds + p.updateSeconds) / steps),
                                       ("wait_ms_per_step", 1000 * p.waitSeconds / steps),
                                       ("worker_compute_ms_per_step", 1000 * p.workerComputeSeconds / steps / Double(max(workers, 1))),
                                       ("bytes_per_step", Double(p.bytes) / steps)]
                        }
                        log.json("epoch", fields)
                        if text { print(EpochReport.line(record)); fflush(nil) }
                    })
                var modelFile = NetworkModelFile(trained, classes: classes)
                modelFile.training.featureColumns = try DatasetLoader.featureColumnNames(path: input.data, csv: csv)
                modelFile.training.imputationMeans = imputationMeans
                try modelFile.write(to: out)
                if let optimizerState { try TrainingContinuation(trained).write(to: optimizerState) }
                try? FileManager.default.removeItem(atPath: checkpointPath)
                if let report {
                    var page = Report(title: "emfleet mlp train: \(trained.architecture.layerSizes.map(String.init).joined(separator: "-")) on \(URL(fileURLWithPath: input.data).lastPathComponent)")
                    ReportPages.addTraining(trained, title: "network", to: &page)
                    try ReportPages.write(page, to: report, log: job.log)
                }
                let seconds = (ContinuousClock.now - clock).seconds
                log.json("done", [("epochs", trained.history.count), ("best_epoch", trained.bestEpoch), ("seconds", seconds), ("out", out)])
                if log.format == .text {
                    print(String(format: "trained %d epochs in %.2f s; kept epoch %d; model written to %@",
                                 trained.history.count, seconds, trained.bestEpoch, out))
                }
            }
        }

        static func readCheckpoint(_ path: String) throws -> TrainingCheckpoint {
            try FileKind.require(path, is: TrainingCheckpoint.format)
            return try TrainingCheckpoint.read(from: path)
        }
    }

    /// A network model applied to data, for `mlp predict` and `mlp evaluate`.
    struct AppliedNetwork: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("Model file from `mlp train`.", valueName: "file"))
        var model: String

        @OptionGroup var input: DataOptions

        @OptionGroup var threading: ThreadOptions

        var threads: Int? { threading.threads }

        @OptionGroup(title: "Cluster") var cluster: ClusterOptions

        /// Throws unless the data has as many feature columns as the model has inputs.
        func checkFeatureCount(of file: NetworkModelFile, csv: CSVOptions) throws {
            let shape = try DatasetLoader.shape(path: input.data, csv: csv)
            guard shape.columns == file.architecture.inputs else {
                throw ValidationError("\(input.data) has \(shape.columns) feature columns but the model was trained on \(file.architecture.inputs)")
            }
        }

        /// Reads the model and opens the data (with `weights`, when given) for it.
        func open(labels: JobSpec.LabelSource, weights: SampleWeightOptions? = nil) throws -> (NetworkModelFile, NeuralModelState, OpenedJob) {
            try FileKind.require(model, is: NetworkModelFile.formatName)
            let file = try NetworkModelFile.read(from: model)
            let chosen = try input.csvOptions(forModelColumns: file.training.featureColumns, imputationMeans: file.training.imputationMeans, model: model)
            let csv = weights?.csv(chosen) ?? chosen
            try checkFeatureCount(of: file, csv: csv)
            let architecture = file.architecture
            let job = try OpenedJob(path: input.data, csv: csv, shards: nil, threads: threads,
                                    cluster: cluster.settings, status: cluster.statusRequest, labels: labels, weights: weights?.sampleWeight,
                                    messageLimit: { TrainingJob.messageLimit(architecture: architecture, precision: .float64, largestShard: $0.largestShardRows) })
            job.coordinator?.onShardDone = nil
            try job.noteMissingValues(path: input.data, csv: csv)
            return (file, NeuralModelState(architecture: file.architecture, parameters: try file.parameters(), standardisation: file.standardisation), job)
        }
    }

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Predict with a trained network: labels in the training labels' names, probabilities, or values.")

        @OptionGroup var applied: AppliedNetwork

        @Option(name: [.short, .long], help: "Output file, .npy or .csv by extension.")
        var out: String

        @Flag(name: .long, help: "Write class probabilities instead of labels.")
        var proba = false

        @OptionGroup var identifiers: IdentifierColumnOption

        func run() throws {
            try reportingErrors {
                try OutputLocation.checkFile(out, option: "--out")
                try checkTableOutput(out)
                try identifiers.check(out: out)
                let (file, state, job) = try applied.open(labels: .none)
                defer { job.finish() }
                let outputs = try job.runner.outputs(state)
                let width = file.architecture.outputs, rows = outputs.count / width
                let ids = try identifiers.read(applied.input, csv: try applied.input.csvOptions(
                    forModelColumns: file.training.featureColumns, imputationMeans: file.training.imputationMeans, model: applied.model), rows: rows)
                if file.task == "regression" {
                    try writeMatrix(outputs, rows: rows, columns: width, header: ["prediction"], ids: ids, to: out)
                } else if proba {
                    let names = file.classes ?? (0..<width).map(String.init)
                    let probabilities = width == 1 ? (0..<rows).flatMap { [1 - outputs[$0], outputs[$0]] } : outputs
                    try writeMatrix(probabilities, rows: rows, columns: names.count, header: probabilityHeader(names), ids: ids, to: out)
                } else {
                    let classes = file.classes ?? []
                    let predicted = width == 1 ? outputs.map { $0 >= 0.5 ? 1 : 0 } : VectorMath.argmaxOfRows(outputs, width: width)
                    try writeClassLabels(predicted.map { classes[$0] }, ids: ids, to: out)
                }
                print("wrote \(proba ? "probabilities" : "predictions") for \(rows) rows to \(out)")
            }
        }
    }

    struct Evaluate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Loss and accuracy (or MSE, MAE, R²) of a trained network on labelled data.")

        @OptionGroup var applied: AppliedNetwork
        @OptionGroup var labelOptions: LabelOptions
        @OptionGroup var weighting: SampleWeightOptions

        @Flag(name: .long, help: "Print JSON instead of text.")
        var json = false

        func run() throws {
            try reportingErrors {
                try FileKind.require(applied.model, is: NetworkModelFile.formatName)
                let file = try NetworkModelFile.read(from: applied.model)
                // The columns first: with the wrong ones, any complaint about the labels misleads.
                let chosen = try applied.input.csvOptions(forModelColumns: file.training.featureColumns, imputationMeans: file.training.imputationMeans, model: applied.model)
                try applied.checkFeatureCount(of: file, csv: weighting.csv(chosen))
                let texts = try labelOptions.read(data: applied.input, csv: chosen)
                let shape = try DatasetLoader.shape(path: applied.input.data, csv: weighting.csv(applied.input.layout.csvOptions))
                guard texts.count == shape.rows else {
                    throw ValidationError("\(labelOptions.labels ?? applied.input.data): \(texts.count) labels for \(shape.rows) rows")
                }
                let labels: JobSpec.LabelSource
                if file.task == "regression" {
                    labels = .values(file: labelOptions.labels ?? "")
                } else {
                    let classes = file.classes ?? []
                    if let unknown = Set(texts).subtracting(classes).sorted().first {
                        throw ValidationError("label \"\(unknown)\" is not one of the model's classes (\(classes.joined(separator: ", ")))")
                    }
                    labels = .classes(file: labelOptions.labels ?? "", classes: classes)
                }
                let (_, state, job) = try applied.open(labels: labels, weights: weighting)
                defer { job.finish() }
                let layout = BatchLayout(plan: job.runner.plan, batchSize: 1, validationFraction: 0, seed: 0)
                let sums = try job.runner.trainingSums(.evaluate(state, layout: layout, part: .all))
                // With sample weights every mean is over Σ w: the rows repeated by their weights.
                let n = sums.batch.weight > 0 ? sums.batch.weight : 1
                var report: [(String, Double)] = [("rows", Double(sums.batch.rows))]
                if weighting.isWeighted { report.append(("total_weight", sums.batch.weight)) }
                report.append(("loss", sums.batch.lossSum / n))
                if file.task == "regression" {
                    report += [("mse", sums.batch.squaredErrorSum / n), ("mae", sums.batch.absoluteErrorSum / n),
                               ("r2", sums.r2 ?? .nan)]
                } else {
                    report.append(("accuracy", sums.batch.correctWeight / n))
                }
                if json {
                    let body = report.map { key, value in
                        "\"\(key)\": " + (key == "rows" ? String(Int(value)) : (value.isFinite ? "\(value)" : "null"))
                    }
                    print("{" + body.joined(separator: ", ") + "}")
                } else {
                    for (key, value) in report { print(key.padding(toLength: key.count > 10 ? key.count + 1 : 10, withPad: " ", startingAt: 0) + (key == "rows" ? String(Int(value)) : "\(value)")) }
                }
            }
        }
    }
}

/// Writes text labels as a one-column CSV, or as a 1-D integer .npy when they are all integers.
func writeClassLabels(_ labels: [String], ids: IdentifierColumn? = nil, to path: String) throws {
    if path.lowercased().hasSuffix(".npy") {
        let integers = labels.compactMap { Int($0) }
        guard integers.count == labels.count else {
            throw ValidationError("\(path): the class labels are text; write them to a .csv or .txt file")
        }
        try NPYWriter.writeIntegers(integers, to: path)
    } else {
        // The header every prediction file has; labels files read it back as a header.
        try writeTextLabels(labels, ids: ids, to: path)
    }
}

/// Lines printed per epoch.
enum EpochReport {
    static func header(classification: Bool, validation: Bool) -> String {
        var titles = [("epoch", 5), ("loss", 12)]
        if classification { titles.append(("accuracy", 9)) }
        if validation { titles += classification ? [("val loss", 12), ("val acc", 9)] : [("val loss", 12), ("val R²", 9)] }
        titles += [("seconds", 8), ("rows/s", 10)]
        return titles.map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: " ")
    }

    static func line(_ record: EpochRecord) -> String {
        var parts = [String(format: "%5d", record.epoch), String(format: "%12.6f", record.loss)]
        if let accuracy = record.accuracy { parts.append(String(format: "%9.4f", accuracy)) }
        if let loss = record.validationLoss { parts.append(String(format: "%12.6f", loss)) }
        if let accuracy = record.validationAccuracy { parts.append(String(format: "%9.4f", accuracy)) }
        if record.validationLoss != nil, record.validationAccuracy == nil {
            parts.append(record.validationR2.map { String(format: "%9.4f", $0) } ?? "        -")
        }
        parts += [String(format: "%8.2f", record.seconds), String(format: "%10.0f", record.samplesPerSecond)]
        return parts.joined(separator: " ")
    }
}
