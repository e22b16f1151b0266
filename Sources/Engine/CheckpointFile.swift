import Datasets
import Foundation

/// A checkpoint file: a fixed header, then the job's state as little-endian fields.
///
/// The layout (all integers little-endian):
///
/// | bytes | field |
/// |---|---|
/// | 8 | magic `EMFCKPT` and a zero byte |
/// | 4 + n | the format's name (`u32` length, UTF-8), e.g. `emfleet.mlp.checkpoint` |
/// | 4 | the format's version |
/// | 8 | the payload's length in bytes |
/// | 8 | the payload's hash (``hash(_:)``) |
/// | … | the payload, written with ``WireWriter`` (doubles as their bit patterns) |
///
/// A file is published by atomic rename, so a reader sees the old checkpoint or the new one,
/// never half of one; a file that is not a checkpoint, is of another format or version, is
/// truncated or damaged is refused with a ``CheckpointFileError`` naming it.
///
/// ```swift
/// var writer = WireWriter()
/// writer.doubles(weights)
/// try CheckpointFile.write(format: "emfleet.mlp.checkpoint", version: 1, payload: writer.bytes, to: path)
/// let payload = try CheckpointFile.read(from: path, format: "emfleet.mlp.checkpoint", version: 1)
/// var reader = WireReader(payload, context: path)
/// let weights = try reader.doubles("weights")
/// ```
public enum CheckpointFile {
    /// The first eight bytes of every checkpoint.
    public static let magic: [UInt8] = Array("EMFCKPT".utf8) + [0]

    /// Writes a checkpoint atomically (a temporary file in the same folder, then a rename).
    ///
    /// - Throws: `DatasetError` naming `path` when the file cannot be created or written.
    public static func write(format: String, version: UInt32, payload: [UInt8], to path: String) throws {
        var header = WireWriter(capacity: 64)
        for byte in magic { header.u8(byte) }
        header.string(format)
        header.u32(version)
        header.u64(UInt64(payload.count))
        header.u64(hash(payload))
        try AtomicFileWriter.write(to: path) { file in
            try file.write(header.bytes)
            try file.write(payload)
        }
    }

    /// Reads a checkpoint's payload, checking its header, length and hash.
    ///
    /// - Returns: the payload, to be read with a `WireReader` whose context is `path`.
    /// - Throws: ``CheckpointFileError`` when the file is missing, not a checkpoint, of another
    ///   format or version, truncated or damaged.
    public static func read(from path: String, format: String, version: UInt32) throws -> [UInt8] {
        let bytes = try contents(of: path)
        guard isCheckpoint(bytes) else {
            throw CheckpointFileError(file: path, message: "not an \(format) file (it does not start with emfleet's checkpoint header)")
        }
        var header = WireReader(bytes, context: path)
        do {
            for _ in magic { _ = try header.u8("magic") }
            let name = try header.string("format", maxBytes: 256)
            guard name == format else {
                throw CheckpointFileError(file: path, message: "is an \(name) file, not an \(format)")
            }
            let found = try header.u32("version")
            guard found == version else {
                throw CheckpointFileError(
                    file: path, message: "is \(format) version \(found); this emfleet reads version \(version) (resume it with the emfleet that wrote it)")
            }
            let length = try header.u64("payload length")
            let hash = try header.u64("payload hash")
            guard UInt64(header.remaining) == length else {
                let reason = UInt64(header.remaining) < length ? "truncated" : "longer than its header says"
                throw CheckpointFileError(
                    file: path, message: "\(reason): the header announces \(length) bytes of state, \(header.remaining) follow it")
            }
            let payload = Array(bytes[(bytes.count - header.remaining)...])
            guard Self.hash(payload) == hash else {
                throw CheckpointFileError(file: path, message: "damaged: its contents do not match the hash in its header")
            }
            return payload
        } catch let error as WireError {
            throw CheckpointFileError(file: path, message: "truncated header (\(error.message))")
        }
    }

    /// Whether `bytes` start with the checkpoint magic.
    public static func isCheckpoint(_ bytes: [UInt8]) -> Bool { bytes.starts(with: magic) }

    /// Reads a checkpoint of `format` at `path`: the binary form, or the JSON form earlier
    /// emfleet versions wrote (a file starting with `{`), whose `format` field `jsonFormat` reads.
    ///
    /// - Parameters:
    ///   - kind: what the checkpoint is, for messages ("fit", "training").
    ///   - decode: builds the state from a verified binary payload.
    /// - Throws: ``CheckpointFileError`` naming `path`.
    public static func read<State: Decodable>(
        _ type: State.Type, from path: String, format: String, version: UInt32, kind: String,
        jsonFormat: (State) -> String, decode: ([UInt8]) throws -> State
    ) throws -> State {
        let bytes = try contents(of: path)
        if !isCheckpoint(bytes), bytes.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) == UInt8(ascii: "{") {
            let state: State
            do {
                state = try JSONDecoder().decode(State.self, from: Data(bytes))
            } catch {
                throw CheckpointFileError(file: path, message: "not an emfleet \(kind) checkpoint (\(error.localizedDescription))")
            }
            guard jsonFormat(state) == format else { throw CheckpointFileError(file: path, message: "is an \(jsonFormat(state)) file, not an \(format)") }
            return state
        }
        return try decode(read(from: path, format: format, version: version))
    }

    /// The whole file, or an error naming it.
    public static func contents(of path: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointFileError(file: path, message: "cannot read the checkpoint: no such file")
        }
        guard !isDirectory.boolValue else { throw CheckpointFileError(file: path, message: "is a folder, not a checkpoint") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointFileError(file: path, message: "cannot read the checkpoint: permission denied")
        }
        return [UInt8](data)
    }

    /// Turns a decoding error of a payload read from `path` into a ``CheckpointFileError``.
    public static func damaged(_ path: String, _ error: any Error) -> CheckpointFileError {
        if let error = error as? CheckpointFileError { return error }
        var text = (error as? WireError)?.message ?? String(describing: error)
        if text.hasPrefix(path + ": ") { text.removeFirst(path.count + 2) }
        return CheckpointFileError(file: path, message: "damaged checkpoint: \(text)")
    }

    /// FNV-1a's 64-bit offset and prime applied to the 8-byte little-endian words of `bytes`,
    /// then to the bytes after the last whole word.
    ///
    /// Each step is a bijection of the running hash, so any one damaged word changes the result;
    /// taking words rather than bytes makes it about eight times cheaper than byte-wise FNV-1a
    /// (a tenth of a millisecond for the 0.4 MB of a small network's checkpoint).
    public static func hash(_ bytes: [UInt8]) -> UInt64 {
        let prime: UInt64 = 0x0000_0100_0000_01B3
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        bytes.withUnsafeBytes { raw in
            let words = raw.count / 8
            for i in 0..<words { hash = (hash ^ UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))) &* prime }
            for byte in raw[(8 * words)...] { hash = (hash ^ UInt64(byte)) &* prime }
        }
        return hash
    }
}

/// A checkpoint file that cannot be used: what is wrong, and with which file.
public struct CheckpointFileError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file, as the user named it.
    public var file: String
    /// What is wrong with it.
    public var message: String

    /// Creates an error.
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }

    public var description: String { "\(file): \(message)" }
}

/// When a job writes its checkpoint: every N epochs (or EM iterations), every so many seconds,
/// or by default as often as costs at most about 2% of the time.
///
/// Parsed from `auto`, `N` (units of work), or seconds as `30s` or minutes as `5m`. Whatever the
/// schedule, the last unit of work is always followed by a checkpoint.
public enum CheckpointSchedule: Equatable, Sendable, CustomStringConvertible {
    /// After the first unit, then whenever the time since the last checkpoint is at least
    /// ``autoRatio`` times what writing it took: checkpoints cost at most about 2% of the run.
    case auto
    /// After every N-th unit (numbered from the job's start, so a resumed job keeps the rhythm).
    case every(Int)
    /// After the first unit that ends at least this many seconds after the last checkpoint
    /// (or the start).
    case seconds(Double)

    /// How many times a checkpoint's writing time must pass before `auto` writes the next.
    public static let autoRatio = 50.0

    /// Parses `auto`, `5` or `30s` / `2m`; nil for anything else.
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed == "auto" {
            self = .auto
        } else if let count = Int(trimmed) {
            guard count >= 1 else { return nil }
            self = .every(count)
        } else if let unit = trimmed.last, unit == "s" || unit == "m", let value = Double(trimmed.dropLast()),
                  value.isFinite, value >= 0 {
            self = .seconds(unit == "m" ? value * 60 : value)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .auto: "auto"
        case let .every(count): "\(count)"
        case let .seconds(seconds): "\(seconds)s"
        }
    }
}

/// Decides, after each unit of work, whether the checkpoint is due, and times its writing.
public struct CheckpointTimer {
    /// The schedule followed.
    public let schedule: CheckpointSchedule
    private var lastEnd: ContinuousClock.Instant
    private var lastCost: Duration?
    /// Checkpoints written and the seconds spent writing them.
    public private(set) var written = 0
    public private(set) var secondsWriting = 0.0

    /// Starts the clock of a schedule now.
    public init(_ schedule: CheckpointSchedule) {
        self.schedule = schedule
        lastEnd = .now
    }

    /// Whether a checkpoint is due after unit `completed` (1-based, counted from the job's start).
    ///
    /// - Parameter last: whether this was the job's last unit (always due).
    public func isDue(completed: Int, last: Bool) -> Bool {
        if last { return true }
        switch schedule {
        case .auto:
            guard let lastCost else { return true }
            return (ContinuousClock.now - lastEnd) >= lastCost * CheckpointSchedule.autoRatio
        case let .every(count):
            return completed % count == 0
        case let .seconds(seconds):
            return (ContinuousClock.now - lastEnd) >= .milliseconds(Int64((seconds * 1000).rounded()))
        }
    }

    /// Runs `write` when a checkpoint is due after unit `completed`, timing it.
    public mutating func writeIfDue(completed: Int, last: Bool, _ write: () throws -> Void) rethrows {
        guard isDue(completed: completed, last: last) else { return }
        let start = ContinuousClock.now
        try write()
        lastEnd = .now
        lastCost = lastEnd - start
        written += 1
        secondsWriting += lastCost!.seconds
    }
}
