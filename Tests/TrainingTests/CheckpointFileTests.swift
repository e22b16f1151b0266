import Datasets
import Engine
import Foundation
import Mixture
import Neural
import Numerics
import Testing
import Training

/// A fresh folder for one test.
private struct Folder {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-checkpoint-\(UUID().uuidString)").path
    init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    func file(_ name: String) -> String { path + "/" + name }
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Two noisy blobs in two dimensions, labelled by blob.
func blobs(rows: Int, seed: UInt64) -> (FeatureMatrix, [Int]) {
    var generator = SeededGenerator(seed: seed)
    var values = [Double](), labels = [Int]()
    for r in 0..<rows {
        let label = r % 2, centre = label == 0 ? -1.0 : 1.0
        values += [centre + generator.nextNormal(), 3 * centre + 2 * generator.nextNormal()]
        labels.append(label)
    }
    return (FeatureMatrix(rows: rows, columns: 2, values: values), labels)
}

/// Doubles whose bits a decimal form could lose or change: a non-float fraction, −0, the
/// smallest subnormal, the largest finite, and a NaN with a payload.
private let awkward: [Double] = [0.1, -0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, Double(bitPattern: 0x7FF8_0000_0000_1234), 1 / 3]

@Suite("Checkpoint files")
struct CheckpointFileTests {
    /// A checkpoint after two epochs of a real training, its weights made awkward.
    static func checkpoint() throws -> TrainingCheckpoint {
        let (data, labels) = blobs(rows: 64, seed: 1)
        var options = TrainingOptions()
        options.hidden = [5]
        options.epochs = 2
        options.batchSize = 16
        options.validationFraction = 0.25
        var saved: TrainingCheckpoint?
        let runner = LocalShards(data: data, targets: .classes(labels), plan: ShardPlan(rows: 64, shards: 2), threads: 1)
        _ = try NetworkTrainer(runner: runner, options: options, outputs: 2).train(checkpoint: { saved = $0 })
        var state = try #require(saved)
        state.parameters.replaceSubrange(0..<awkward.count, with: awkward)
        state.optimizer.second.replaceSubrange(0..<awkward.count, with: awkward.reversed())
        state.dataFingerprint = "npy:1234"
        return state
    }

    @Test("a training checkpoint reads back with every double's bits, its history and its counters")
    func trainingRoundTrip() throws {
        let folder = try Folder()
        defer { folder.remove() }
        let state = try Self.checkpoint()
        let path = folder.file("m.json.checkpoint")
        try state.write(to: path)
        let bytes = try #require(FileManager.default.contents(atPath: path))
        #expect(bytes.starts(with: Array("EMFCKPT".utf8) + [0]))
        // Four copies of the weights as raw doubles, and little else.
        #expect(bytes.count < 8 * 4 * state.parameters.count + 4096)
        let read = try TrainingCheckpoint.read(from: path)
        #expect(read.parameters.map(\.bitPattern) == state.parameters.map(\.bitPattern))
        #expect(read.optimizer.second.map(\.bitPattern) == state.optimizer.second.map(\.bitPattern))
        #expect(read.optimizer.first == state.optimizer.first && read.optimizer.step == state.optimizer.step)
        #expect(read.bestParameters == state.bestParameters && read.bestLoss.bitPattern == state.bestLoss.bitPattern)
        #expect(read.options == state.options && read.architecture == state.architecture && read.standardisation == state.standardisation)
        #expect(read.nextEpoch == 2 && read.bestEpoch == state.bestEpoch && read.epochsWithoutImprovement == state.epochsWithoutImprovement)
        #expect(read.dataFingerprint == "npy:1234" && read.rows == 64 && read.shards == 2)
        // Timings stay in the log, as in model files.
        var history = state.history
        try #require(read.history.count == history.count)
        for i in history.indices { history[i].seconds = 0; history[i].samplesPerSecond = 0; history[i].profile = read.history[i].profile }
        #expect(read.history == history && history.allSatisfy { $0.validationLoss != nil && $0.accuracy != nil })
    }

    @Test("a JSON checkpoint of an earlier emfleet is still read")
    func oldJSONCheckpoint() throws {
        let folder = try Folder()
        defer { folder.remove() }
        var state = try Self.checkpoint()
        state.parameters[4] = 0.5  // JSON cannot hold the NaN
        state.optimizer.second = state.optimizer.first
        try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: folder.file("old.json")))
        let read = try TrainingCheckpoint.read(from: folder.file("old.json"))
        #expect(read.parameters == state.parameters && read.nextEpoch == state.nextEpoch)
    }

    @Test("a truncated, damaged, foreign or missing checkpoint is refused naming the file", arguments: ["truncated", "damaged", "text", "mixture", "missing", "version"])
    func refused(_ kind: String) throws {
        let folder = try Folder()
        defer { folder.remove() }
        let path = folder.file("c.checkpoint")
        try Self.checkpoint().write(to: path)
        var bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
        let expected: String
        switch kind {
        case "truncated":
            bytes.removeLast(100)
            expected = "truncated: the header announces"
        case "damaged":
            bytes[bytes.count - 50] ^= 0x10
            expected = "damaged"
        case "text":
            bytes = Array("weights: 1 2 3\n".utf8)
            expected = "not an emfleet.mlp.checkpoint file"
        case "mixture":
            bytes = try Self.fitCheckpoint().payload()
            try CheckpointFile.write(format: FitCheckpoint.format, version: FitCheckpoint.version, payload: bytes, to: path)
            bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
            expected = "is an emfleet.gaussian-mixture.checkpoint file, not an emfleet.mlp.checkpoint"
        case "version":
            try CheckpointFile.write(format: TrainingCheckpoint.format, version: 9, payload: [], to: path)
            bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
            expected = "version 9; this emfleet reads version 1"
        default:
            try FileManager.default.removeItem(atPath: path)
            expected = "no such file"
        }
        if kind != "missing" { try Data(bytes).write(to: URL(fileURLWithPath: path)) }
        let error = try #require(throws: CheckpointFileError.self) { try TrainingCheckpoint.read(from: path) }
        #expect(error.file == path)
        #expect(error.description.hasPrefix(path + ": ") && error.description.contains(expected), "\(error)")
    }

    /// A fit checkpoint in the middle of a second start, with the first start's model.
    static func fitCheckpoint() throws -> FitCheckpoint {
        let (data, _) = blobs(rows: 200, seed: 4)
        var options = FitOptions(components: 2)
        options.restarts = 2
        options.maxIterations = 5
        options.tolerance = 0
        var saved = [FitCheckpoint]()
        let runner = LocalShards(data: data, plan: ShardPlan(rows: 200, shards: 3), threads: 1)
        _ = try MixtureFitter(runner: runner, options: options).fit(checkpoint: { saved.append($0) })
        var state = saved[7]
        state.dataFingerprint = "npy:99"
        return state
    }

    @Test("a fit checkpoint reads back equal, the best earlier start included, with the bits of every double")
    func fitRoundTrip() throws {
        let folder = try Folder()
        defer { folder.remove() }
        let state = try Self.fitCheckpoint()
        #expect(state.start == 1 && state.best != nil && !state.finished)
        let path = folder.file("g.checkpoint")
        try state.write(to: path)
        let read = try FitCheckpoint.read(from: path)
        #expect(read == state)
        #expect(read.parameters.covariances.map(\.bitPattern) == state.parameters.covariances.map(\.bitPattern))
        #expect(read.best?.logLikelihoodHistory.map(\.bitPattern) == state.best?.logLikelihoodHistory.map(\.bitPattern))
        // And the JSON form of earlier versions.
        try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: folder.file("old.json")))
        #expect(try FitCheckpoint.read(from: folder.file("old.json")) == state)
        try Data(try #require(FileManager.default.contents(atPath: path)).dropLast(8)).write(to: URL(fileURLWithPath: path))
        #expect(throws: CheckpointFileError.self) { try FitCheckpoint.read(from: path) }
    }

    @Test("--checkpoint-every parses counts, seconds, minutes and auto", arguments: [
        ("auto", CheckpointSchedule.auto), ("5", .every(5)), ("1", .every(1)), ("30s", .seconds(30)), ("2m", .seconds(120)),
        ("0.5s", .seconds(0.5)), ("0", nil), ("-3", nil), ("s", nil), ("5h", nil), ("-1s", nil), ("often", nil),
    ] as [(String, CheckpointSchedule?)])
    func parse(_ text: String, _ expected: CheckpointSchedule?) {
        #expect(CheckpointSchedule(text) == expected)
    }

    @Test("a count schedule writes every N-th unit and the last; a long interval only the last")
    func timer() {
        var timer = CheckpointTimer(.every(3))
        var written = [Int]()
        for unit in 1...8 { timer.writeIfDue(completed: unit, last: unit == 8) { written.append(unit) } }
        #expect(written == [3, 6, 8] && timer.written == 3)
        var hourly = CheckpointTimer(.seconds(3600))
        written = []
        for unit in 1...5 { hourly.writeIfDue(completed: unit, last: unit == 5) { written.append(unit) } }
        #expect(written == [5])
        // auto: the first unit always (the cost is not known yet).
        let auto = CheckpointTimer(.auto)
        #expect(auto.isDue(completed: 1, last: false))
    }

    @Test("training writes its checkpoints on the schedule, the last epoch always, and resumes from any to the same weights")
    func scheduledTrainingResumes() throws {
        let (data, labels) = blobs(rows: 120, seed: 8)
        var options = TrainingOptions()
        options.hidden = [6]
        options.epochs = 7
        options.batchSize = 32
        let runner = LocalShards(data: data, targets: .classes(labels), plan: ShardPlan(rows: 120, shards: 3), threads: 1)
        let trainer = NetworkTrainer(runner: runner, options: options, outputs: 2)
        var saved = [TrainingCheckpoint]()
        let whole = try trainer.train(checkpointEvery: .every(3), checkpoint: { saved.append($0) })
        #expect(saved.map(\.nextEpoch) == [3, 6, 7])
        let folder = try Folder()
        defer { folder.remove() }
        try saved[0].write(to: folder.file("c"))
        let resumed = try trainer.train(resuming: try TrainingCheckpoint.read(from: folder.file("c")))
        #expect(resumed.parameters.map(\.bitPattern) == whole.parameters.map(\.bitPattern))
        #expect(resumed.history.map(\.loss) == whole.history.map(\.loss))
    }
}
