import Datasets
import Engine
import Foundation
import Mixture
import Neural
import Numerics

// MARK: - Training

/// How to train a network.
public struct TrainingOptions: Codable, Equatable, Sendable {
    /// Hidden layer widths.
    public var hidden: [Int] = [128, 64]
    /// Hidden activation.
    public var activation: Activation = .relu
    /// Loss (and with it the output layer).
    public var loss: LossFunction = .softmaxCrossEntropy
    /// Weight initialisation (default: He for ReLU, Glorot otherwise).
    public var initialisation: WeightInitialisation?
    /// Optimizer.
    public var optimizer = OptimizerSettings(kind: .adam)
    /// Base learning rate.
    public var learningRate = 0.001
    /// Learning-rate schedule.
    public var schedule = LearningRateSchedule.constant
    /// Global minibatch size.
    public var batchSize = 256
    /// Most epochs.
    public var epochs = 10
    /// Seed of the weights and of the data order.
    public var seed: UInt64 = 0
    /// L2 weight decay on the weights.
    public var weightDecay = 0.0
    /// L1 penalty on the weights (not the biases): `l1 · Σ|w|` added to the loss, so the
    /// gradient gains `l1 · sign(w)`.
    public var l1 = 0.0
    /// The probability of dropping each unit of each hidden layer in a training step (inverted
    /// dropout: kept units are scaled by 1/(1 − p), evaluations and predictions drop nothing);
    /// one rate per hidden layer, or empty for none.
    public var dropout: [Double] = []
    /// Fraction of each shard's rows held out for validation.
    public var validationFraction = 0.0
    /// Stop after this many consecutive epochs without improvement of the monitored loss
    /// (validation loss when there is a validation split, else the training loss).
    public var patience: Int?
    /// How much an epoch must lower the best monitored loss so far to count as an improvement
    /// for `patience` (0: any decrease). scikit-learn's `tol`: with 1e-4 and a patience of 10,
    /// training stops once 10 epochs in a row failed to beat the best loss by 1e-4.
    public var tolerance = 0.0
    /// The precision of the forward and backward passes (weights and optimizer stay `Double`).
    public var precision = NetworkPrecision.float32

    /// Default options.
    public init() {}

    // MARK: Training until the loss stops improving (scikit-learn's MLPClassifier defaults)

    /// The most epochs when none are asked for (scikit-learn's `max_iter`).
    public static let untunedEpochs = 200
    /// Epochs in a row without improvement that end an untuned training (scikit-learn's `n_iter_no_change`).
    public static let untunedPatience = 10
    /// The improvement an epoch must make to count (scikit-learn's `tol`).
    public static let untunedTolerance = 1e-4
    /// The largest batch when none is asked for.
    public static let untunedBatchLimit = 256

    /// The batch size when none is asked for: min(256, rows), as scikit-learn's min(200, n).
    public static func untunedBatchSize(rows: Int) -> Int { max(1, min(untunedBatchLimit, rows)) }

    /// Sets the epochs and the stopping rule: `epochs` when given (stopping earlier only with
    /// `patience`), else until the monitored loss has not improved by 1e-4 for 10 epochs in a
    /// row, at most 200 epochs.
    public mutating func setStopping(epochs: Int?, patience: Int?, tolerance: Double?) {
        self.epochs = epochs ?? Self.untunedEpochs
        self.patience = patience ?? (epochs == nil ? Self.untunedPatience : nil)
        self.tolerance = tolerance ?? (epochs == nil ? Self.untunedTolerance : 0)
    }

    enum CodingKeys: String, CodingKey {
        case hidden, activation, loss, initialisation, optimizer, schedule, epochs, seed, patience, precision, tolerance, l1, dropout
        case learningRate = "learning_rate"
        case batchSize = "batch_size"
        case weightDecay = "weight_decay"
        case validationFraction = "validation_fraction"
    }

    /// Reads options; files written before `precision` existed were trained in `float64`, and
    /// before `tolerance` existed with a tolerance of 0.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hidden = try c.decode([Int].self, forKey: .hidden)
        activation = try c.decode(Activation.self, forKey: .activation)
        loss = try c.decode(LossFunction.self, forKey: .loss)
        initialisation = try c.decodeIfPresent(WeightInitialisation.self, forKey: .initialisation)
        optimizer = try c.decode(OptimizerSettings.self, forKey: .optimizer)
        learningRate = try c.decode(Double.self, forKey: .learningRate)
        schedule = try c.decode(LearningRateSchedule.self, forKey: .schedule)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        epochs = try c.decode(Int.self, forKey: .epochs)
        seed = try c.decode(UInt64.self, forKey: .seed)
        weightDecay = try c.decode(Double.self, forKey: .weightDecay)
        l1 = try c.decodeIfPresent(Double.self, forKey: .l1) ?? 0
        dropout = try c.decodeIfPresent([Double].self, forKey: .dropout) ?? []
        validationFraction = try c.decode(Double.self, forKey: .validationFraction)
        patience = try c.decodeIfPresent(Int.self, forKey: .patience)
        tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? 0
        precision = try c.decodeIfPresent(NetworkPrecision.self, forKey: .precision) ?? .float64
    }
}

/// Training that cannot go on: the weights diverged.
public struct TrainingError: Error, CustomStringConvertible, Sendable {
    /// What happened and what to do, as one line.
    public var description: String
}

/// What one epoch gave.
public struct EpochRecord: Codable, Equatable, Sendable {
    /// 1-based epoch.
    public var epoch: Int
    /// Mean training loss over the epoch's steps.
    public var loss: Double
    /// Training accuracy over the epoch's steps (classification).
    public var accuracy: Double?
    /// Validation loss, accuracy, and for regression MSE, MAE and R².
    public var validationLoss: Double?
    public var validationAccuracy: Double?
    public var validationMSE: Double?
    public var validationMAE: Double?
    public var validationR2: Double?
    /// Wall seconds of the epoch and training rows per second (in the log, not in files:
    /// model files stay the same bytes from run to run).
    public var seconds: Double = 0
    public var samplesPerSecond: Double = 0
    /// Where the epoch's steps spent their time (log only).
    public var profile = StepProfile()

    enum CodingKeys: String, CodingKey {
        case epoch, loss, accuracy
        case validationLoss = "validation_loss"
        case validationAccuracy = "validation_accuracy"
        case validationMSE = "validation_mse"
        case validationMAE = "validation_mae"
        case validationR2 = "validation_r2"
    }
}

/// Where the steps of an epoch spent their time, seen from the coordinator.
public struct StepProfile: Equatable, Sendable {
    /// Steps taken.
    public var steps = 0
    /// Seconds in rounds (task out, results in and checked, tree sum).
    public var roundSeconds = 0.0
    /// Of those, seconds waiting for workers (their computing and the transport).
    public var waitSeconds = 0.0
    /// Seconds in optimizer updates.
    public var updateSeconds = 0.0
    /// The workers' seconds of computing steps, summed over workers.
    public var workerComputeSeconds = 0.0
    /// Bytes sent and received by the coordinator.
    public var bytes = 0
}

/// Everything needed to continue training bit-identically from the end of an epoch.
public struct TrainingCheckpoint: Codable, Equatable, Sendable {
    /// The value of `format`.
    public static let format = "emfleet.mlp.checkpoint"
    public var format = TrainingCheckpoint.format
    public var options: TrainingOptions
    public var architecture: NetworkArchitecture
    public var standardisation: Standardisation
    public var shards: Int
    public var rows: Int
    /// The next epoch to run (0-based).
    public var nextEpoch: Int
    public var parameters: [Double]
    public var optimizer: OptimizerState
    public var history: [EpochRecord]
    public var bestParameters: [Double]
    public var bestEpoch: Int
    public var bestLoss: Double
    public var epochsWithoutImprovement: Int
    /// The data file's fingerprint, checked on resume by the caller.
    public var dataFingerprint: String?

    enum CodingKeys: String, CodingKey {
        case format, options, architecture, standardisation, shards, rows, parameters, optimizer, history
        case nextEpoch = "next_epoch"
        case bestParameters = "best_parameters"
        case bestEpoch = "best_epoch"
        case bestLoss = "best_loss"
        case epochsWithoutImprovement = "epochs_without_improvement"
        case dataFingerprint = "data_fingerprint"
    }
}

/// A trained network: the best parameters, how to standardise inputs, and the history.
public struct TrainedNetwork: Sendable, Equatable {
    public var architecture: NetworkArchitecture
    public var parameters: [Double]
    public var standardisation: Standardisation
    public var options: TrainingOptions
    public var history: [EpochRecord]
    /// The 1-based epoch whose parameters were kept.
    public var bestEpoch: Int
    public var rows: Int
    public var shards: Int
    /// The optimizer's state after the last epoch (for ``TrainingContinuation``).
    public var optimizer = OptimizerState(parameterCount: 0, settings: OptimizerSettings(kind: .sgd))
    /// Epochs trained in all, those of a continued training included: the next epoch's 0-based index.
    public var epochsCompleted = 0
}

/// Synchronous data-parallel minibatch training over a `NeuralRunner`.
///
/// Each step, every shard contributes its next rows (see `BatchLayout`); their gradient sums
/// are added by the shard tree, divided by the step's row count, and the optimizer updates
/// the weights here. Nothing depends on how many workers there are.
public struct NetworkTrainer {
    /// Where the shards are computed: in this process (`LocalShards`) or on workers.
    public let runner: ShardRunner
    package let options: TrainingOptions
    /// Number of outputs (classes, or 1 for a single regression target / binary CE).
    package let outputs: Int
    /// Separate validation rows (`--validation-data`), evaluated whole after every epoch.
    package let validation: ShardRunner?
    /// A fitted mixture feeding the network (posterior inputs, component targets).
    package let mixture: MixtureFeatures?

    /// Creates a trainer.
    ///
    /// - Parameters:
    ///   - runner: the training rows (with their targets) cut into shards.
    ///   - outputs: classes, or 1 for one regression target or binary cross-entropy.
    ///   - validation: separate validation rows, evaluated whole after every epoch.
    ///   - mixture: a fitted mixture feeding the network.
    public init(runner: ShardRunner, options: TrainingOptions, outputs: Int, validation: ShardRunner? = nil, mixture: MixtureFeatures? = nil) {
        self.runner = runner
        self.options = options
        self.outputs = outputs
        self.validation = validation
        self.mixture = mixture
    }

    /// Trains until `options.epochs` or, with `options.patience`, until the monitored loss has
    /// not improved by at least `options.tolerance` for that many epochs in a row.
    ///
    /// The kept parameters are those of the epoch with the lowest monitored loss (validation
    /// loss when there are validation rows) when there are validation rows or a patience;
    /// otherwise those of the last epoch.
    ///
    /// - Parameters:
    ///   - resuming: a checkpoint of an earlier run of this training; the result is bit-identical
    ///     to an uninterrupted run.
    ///   - start: weights and standardisation of an earlier network of the same architecture to
    ///     train on from (scikit-learn's `warm_start`), with a fresh optimizer; nil: seeded weights
    ///     and the standardisation of these rows.
    ///   - continuation: the optimizer's state and epoch count at the end of the training that
    ///     wrote `start` (scikit-learn's `partial_fit`): this training's epochs are the ones after
    ///     those (their data order and learning rates), with that optimizer; needs `start`.
    ///     `options.epochs` still counts this training's epochs.
    ///   - checkpointEvery: when `checkpoint` is called: after epochs as this schedule says, and
    ///     always after the last epoch.
    ///   - checkpoint: called with everything needed to continue; its time counts in the epoch's seconds.
    ///   - progress: called with each epoch's record.
    public func train(
        resuming: TrainingCheckpoint? = nil,
        startingFrom start: (parameters: [Double], standardisation: Standardisation)? = nil,
        continuing continuation: TrainingContinuation? = nil,
        checkpointEvery: CheckpointSchedule = .every(1),
        checkpoint: (TrainingCheckpoint) throws -> Void = { _ in },
        progress: (EpochRecord) -> Void = { _ in }
    ) throws -> TrainedNetwork {
        let plan = runner.plan
        let layout = BatchLayout(plan: plan, batchSize: options.batchSize, validationFraction: options.validationFraction, seed: options.seed,
                                 dropout: options.dropout)
        guard layout.totalTrainingRows > 0 else { throw MixtureError.invalidData("no training rows are left after the validation split") }
        let hasValidation = layout.totalValidationRows > 0 || validation != nil
        // The best epoch is kept when something chose it: held-out rows, or a patience that
        // stops on the training loss. Otherwise the last epoch is the model, as in scikit-learn
        // and Keras; an earlier epoch's lower training loss is no sign of a better network.
        let keepsBestEpoch = hasValidation || options.patience != nil
        var state: TrainingCheckpoint
        if let resuming {
            if resuming.options.precision != options.precision {
                var others = options
                others.precision = resuming.options.precision
                if others == resuming.options {
                    throw MixtureError.invalidData(
                        "the checkpoint was trained with --precision \(resuming.options.precision.rawValue); give --precision \(resuming.options.precision.rawValue) to continue it")
                }
            }
            if resuming.options != options {
                let which = OptionDifference.first(saved: resuming.options, current: options).map { ": \($0)" } ?? ""
                throw MixtureError.invalidData("the checkpoint was written by a training run with other options\(which)")
            }
            guard resuming.format == TrainingCheckpoint.format, resuming.shards == plan.count, resuming.rows == plan.rows
            else {
                throw MixtureError.invalidData("the checkpoint was written for \(resuming.rows) rows in \(resuming.shards) shards; "
                    + "this run has \(plan.rows) rows in \(plan.count) (give the same data and --shards)")
            }
            state = resuming
        } else {
            let extraInputs = mixture.map { $0.appendPosteriors ? $0.model.parameters.components : 0 } ?? 0
            let architecture = NetworkArchitecture(
                inputs: runner.dimension + extraInputs, hidden: options.hidden, outputs: outputs, activation: options.activation, loss: options.loss)
            let parameters: [Double], standardisation: Standardisation
            if let start {
                // The earlier network's weights read its own standardised inputs: keep both.
                guard start.parameters.count == architecture.parameterCount,
                      start.standardisation.mean.count == runner.dimension, start.standardisation.scale.count == runner.dimension
                else {
                    throw MixtureError.invalidData("the starting network has \(start.parameters.count) weights for \(start.standardisation.mean.count) inputs; "
                        + "this one needs \(architecture.parameterCount) for \(runner.dimension)")
                }
                parameters = start.parameters
                standardisation = start.standardisation
            } else {
                let summary = try DataSummary.compute(runner)
                parameters = architecture.initialParameters(seed: options.seed, scheme: options.initialisation)
                standardisation = Standardisation(mean: summary.mean, scale: summary.variance.map { $0 > 0 ? 1 / $0.squareRoot() : 1 })
            }
            if let continuation {
                guard start != nil else { throw MixtureError.invalidData("an optimizer state continues a training from its model's weights: give them as the start") }
                try continuation.check(architecture: architecture, optimizer: options.optimizer, weights: parameters, file: "the optimizer state")
            }
            state = TrainingCheckpoint(
                options: options, architecture: architecture,
                standardisation: standardisation, shards: plan.count, rows: plan.rows,
                nextEpoch: continuation?.epochs ?? 0, parameters: parameters,
                optimizer: continuation?.optimizer ?? OptimizerState(parameterCount: parameters.count, settings: options.optimizer),
                history: [], bestParameters: parameters, bestEpoch: continuation?.epochs ?? 0, bestLoss: .infinity, epochsWithoutImprovement: 0)
        }
        let architecture = state.architecture
        let classification = options.loss != .meanSquaredError
        let options = self.options
        // `options.epochs` counts this training's epochs: the history's, which for a continued
        // training start after the `nextEpoch` it was handed.
        func goesOn(_ state: TrainingCheckpoint) -> Bool {
            state.history.count < options.epochs && (options.patience.map { state.epochsWithoutImprovement < $0 } ?? true)
        }
        var timer = CheckpointTimer(checkpointEvery)
        // `state.parameters` rounded to single precision once they have been by an update (nil:
        // the next task rounds them).
        var narrowParameters: [Float]? = nil
        while goesOn(state) {
            let epoch = state.nextEpoch
            let clock = ContinuousClock.now
            let rate = options.schedule.rate(base: options.learningRate, epoch: epoch)
            var lossSum = 0.0, correct = 0.0, rows = 0, weight = 0.0
            var profile = StepProfile()
            for step in 0..<layout.stepsPerEpoch {
                let stepStart = ContinuousClock.now
                let task = NeuralTask.step(
                    NeuralModelState(architecture: architecture, parameters: state.parameters, standardisation: state.standardisation,
                                     mixture: mixture, precision: options.precision, narrowParameters: narrowParameters),
                    layout: layout, epoch: epoch, step: step)
                let sums = try runner.trainingSums(task)
                guard sums.batch.isFinite else { throw TrainingError(description: task.divergence) }
                // A step divides by its batch's total weight (its row count without weights);
                // a batch of zero weight moves nothing.
                guard sums.batch.rows > 0, sums.batch.weight > 0 else { continue }
                lossSum += sums.batch.lossSum
                correct += sums.batch.correctWeight
                rows += sums.batch.rows
                weight += sums.batch.weight
                let scale = 1 / sums.batch.weight
                let updateStart = ContinuousClock.now
                if options.weightDecay > 0 || options.l1 > 0 {
                    narrowParameters = nil
                    var gradient = sums.batch.wideGradient
                    for i in gradient.indices { gradient[i] *= scale }
                    addWeightDecay(options.weightDecay, parameters: state.parameters, to: &gradient, architecture: architecture)
                    addL1Penalty(options.l1, parameters: state.parameters, to: &gradient, architecture: architecture)
                    state.optimizer.update(parameters: &state.parameters, gradient: gradient, learningRate: rate, settings: options.optimizer)
                } else if !sums.batch.narrowGradient.isEmpty {
                    // The next task's single-precision weights come out of the update's pass
                    // rather than a rounding pass of their own.
                    var narrow = narrowParameters ?? []
                    narrowParameters = nil
                    state.optimizer.update(
                        parameters: &state.parameters, narrowGradient: sums.batch.narrowGradient, learningRate: rate,
                        settings: options.optimizer, gradientScale: scale, narrowParameters: &narrow)
                    narrowParameters = narrow
                } else {
                    narrowParameters = nil
                    state.optimizer.update(
                        parameters: &state.parameters, gradient: sums.batch.wideGradient, learningRate: rate, settings: options.optimizer,
                        gradientScale: scale)
                }
                profile.steps += 1
                profile.updateSeconds += (ContinuousClock.now - updateStart).seconds
                profile.roundSeconds += (updateStart - stepStart).seconds
                if let round = runner.lastRound {
                    profile.waitSeconds += round.waitSeconds
                    profile.workerComputeSeconds += round.workerComputeSeconds
                    profile.bytes += round.bytesIn + round.bytesOut
                }
            }
            var record = EpochRecord(
                epoch: epoch + 1, loss: lossSum / (weight > 0 ? weight : 1),
                accuracy: classification ? correct / (weight > 0 ? weight : 1) : nil,
                seconds: 0, samplesPerSecond: 0)
            var monitored = record.loss
            if hasValidation {
                let model = NeuralModelState(architecture: architecture, parameters: state.parameters, standardisation: state.standardisation,
                                             mixture: mixture, precision: options.precision)
                let validation: TrainingSums
                if let separate = self.validation {
                    let whole = BatchLayout(plan: separate.plan, batchSize: 1, validationFraction: 0, seed: 0)
                    validation = try separate.trainingSums(.evaluate(model, layout: whole, part: .all))
                } else {
                    validation = try runner.trainingSums(.evaluate(model, layout: layout, part: .validation))
                }
                guard validation.batch.isFinite else {
                    throw TrainingError(description: NeuralTask.evaluate(model, layout: layout, part: .validation).divergence)
                }
                let n = validation.batch.weight > 0 ? validation.batch.weight : 1
                record.validationLoss = validation.batch.lossSum / n
                monitored = record.validationLoss!
                if classification {
                    record.validationAccuracy = validation.batch.correctWeight / n
                } else {
                    record.validationMSE = validation.batch.squaredErrorSum / n
                    record.validationMAE = validation.batch.absoluteErrorSum / n
                    record.validationR2 = validation.r2
                }
            }
            let previousBest = state.bestLoss
            if monitored < previousBest { state.bestLoss = monitored }
            if !keepsBestEpoch || monitored < previousBest {
                state.bestParameters = state.parameters
                state.bestEpoch = epoch + 1
            }
            // scikit-learn's rule: an epoch improves when it beats the best so far by at least tol.
            let improved = options.tolerance > 0 ? monitored <= previousBest - options.tolerance : monitored < previousBest
            state.epochsWithoutImprovement = improved ? 0 : state.epochsWithoutImprovement + 1
            record.profile = profile
            state.history.append(record)
            state.nextEpoch += 1
            try timer.writeIfDue(completed: state.history.count, last: !goesOn(state)) { try checkpoint(state) }
            // The epoch's time includes its checkpoint.
            let seconds = (ContinuousClock.now - clock).seconds
            record.seconds = seconds
            record.samplesPerSecond = Double(rows) / max(seconds, 1e-9)
            state.history[state.history.count - 1] = record
            progress(record)
        }
        return TrainedNetwork(
            architecture: architecture, parameters: state.bestParameters, standardisation: state.standardisation,
            options: options, history: state.history, bestEpoch: state.bestEpoch, rows: plan.rows, shards: plan.count,
            optimizer: state.optimizer, epochsCompleted: state.nextEpoch)
    }
}
