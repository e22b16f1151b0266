import ArgumentParser
import Cluster
import Datasets
import Engine
import Foundation

/// `--shards` and `--threads`: how a fitting command cuts and computes its rows.
struct ComputeOptions: ParsableArguments {
    @Option(name: .long, help: "Shards to cut the rows into (default: from the row count alone: one per 8192 rows, at most 1024; for training at most one per 64 rows of a minibatch). The result depends on it, never on --threads or the workers.")
    var shards: Int?

    @OptionGroup var threading: ThreadOptions

    /// Threads in this process.
    var threads: Int? { threading.threads }

    func validate() throws {
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1") }
    }
}

/// `--threads`: threads in this process when no workers are used.
struct ThreadOptions: ParsableArguments {
    @Option(name: .long, help: "Threads in this process when no workers are used (default: all cores). Never changes the result.")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
    }
}

/// `--out`, `--report` and `--quiet`: what a fitting command writes and prints.
struct ModelOutputOptions: ParsableArguments {
    @Option(name: [.short, .long], help: ArgumentHelp("Where to write the model (JSON).", valueName: "file"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("Write an HTML report of the job (charts and tables) to DIR/index.html.", valueName: "dir"))
    var report: String?

    @Flag(name: .long, help: "Print only the summary.")
    var quiet = false
}

/// `--checkpoint`, `--checkpoint-every` and `--resume`: how a long job survives being stopped.
struct CheckpointOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Checkpoint written as --checkpoint-every says (default: OUT.checkpoint; removed on success).", valueName: "file"))
    var checkpoint: String?

    @Option(name: .long, help: ArgumentHelp(
        "When to write the checkpoint: N (every N epochs or EM iterations), a time such as 30s or 5m, or auto: after the first, "
            + "then whenever 50 times what the last write took has passed (checkpoints cost at most about 2% of the time). "
            + "The last epoch or iteration is always followed by one.",
        valueName: "N|Ts|auto"))
    var checkpointEvery: CheckpointSchedule = .auto

    @Option(name: .customLong("resume"), help: ArgumentHelp("Continue the job saved in this checkpoint; the model is the one an uninterrupted run gives.", valueName: "file"))
    var resumeFrom: String?

    @Flag(name: .long, help: ArgumentHelp(
        "Continue from the job's own checkpoint (--checkpoint, default OUT.checkpoint) when it exists, else start afresh: "
            + "for schedulers that restart a killed job with the same command (Slurm's --requeue, a Kubernetes Job's restarts)."))
    var resumeIfPresent = false

    func validate() throws {
        if resumeFrom != nil, resumeIfPresent { throw ValidationError("--resume names a checkpoint; --resume-if-present finds the job's own: use one") }
    }

    /// The checkpoint to continue from for a job writing `out`, or nil to start afresh.
    func resume(out: String) -> String? {
        if let resumeFrom { return resumeFrom }
        let own = checkpoint ?? out + ".checkpoint"
        return resumeIfPresent && FileManager.default.fileExists(atPath: own) ? own : nil
    }
}

/// `--sample-weight` and `--weight-column`: how much each row counts, for the commands that fit or score.
struct SampleWeightOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Per-row sample weights: a 1-D .npy or a one-column text file, one non-negative finite weight per row "
            + "(each worker reads those of its rows). Integer weights give the model of the rows repeated that many times.",
        valueName: "file"))
    var sampleWeight: String?

    @Option(name: .long, help: ArgumentHelp(
        "Take each row's sample weight from this column of the data file (header name or 0-based index); it is then not a feature.",
        valueName: "name"))
    var weightColumn: String?

    func validate() throws {
        if sampleWeight != nil, weightColumn != nil {
            throw ValidationError("--sample-weight and --weight-column both give weights; use one")
        }
    }

    /// Whether rows carry weights.
    var isWeighted: Bool { sampleWeight != nil || weightColumn != nil }

    /// `csv` with the weight column named, so that it is not read as a feature.
    func csv(_ csv: CSVOptions) -> CSVOptions {
        var csv = csv
        csv.weightColumn = weightColumn
        return csv
    }

    /// The data's fingerprint extended by the weights' (a file's fingerprint or the column's
    /// name), for checkpoints: a resumed job with other weights is refused.
    func fingerprint(data: String) throws -> String {
        let fingerprint = try DataFingerprint.of(path: data)
        if let sampleWeight { return fingerprint + " weights " + (try DataFingerprint.of(path: sampleWeight)) }
        if let weightColumn { return fingerprint + " weight column " + weightColumn }
        return fingerprint
    }
}
