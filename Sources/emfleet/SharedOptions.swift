import ArgumentParser
import Engine

/// `--shards` and `--threads`: how a fitting command cuts and computes its rows.
struct ComputeOptions: ParsableArguments {
    @Option(name: .long, help: "Shards to cut the rows into (default: from the row count alone: one per 8192 rows, at most 1024; for training at most one per 32 rows of a minibatch). The result depends on it, never on --threads or the workers.")
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

    @Option(name: .long, help: ArgumentHelp("Continue the job saved in this checkpoint; the model is the one an uninterrupted run gives.", valueName: "file"))
    var resume: String?
}
