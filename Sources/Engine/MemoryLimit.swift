import Datasets
import Foundation
import Numerics

/// The memory a process may give its shards (`--memory-limit`), and the choice, shard by shard,
/// between keeping a shard's rows in memory and reading them from the file on every pass.
///
/// The limit covers the whole process. A fixed reserve (``reserveBytes``: the runtime, BLAS's
/// buffers, per-shard workspaces, the model and the messages) comes off the top; shards are kept
/// in memory, in the order they are first needed, while their rows fit in what is left, and the
/// rest are read from their `.npy` file on every use. Either way a shard's rows give the same
/// values, so the model does not depend on the choice.
///
/// ```swift
/// let limit = try MemoryLimit(parsing: "512M")   // 536,870,912 bytes
/// limit.description                              // "512M"
/// ```
public struct MemoryLimit: Sendable, Equatable, CustomStringConvertible {
    /// The limit in bytes.
    public var bytes: Int

    /// What the process needs besides its kept shards: 128 MiB.
    public static let reserveBytes = 128 << 20
    /// The smallest limit accepted: the reserve and 64 MiB of rows.
    public static let minimumBytes = reserveBytes + (64 << 20)

    /// A limit of `bytes`.
    public init(bytes: Int) { self.bytes = bytes }

    /// Parses a size: a number with an optional suffix K, M, G or T (powers of 1024, case and a
    /// trailing `B` or `iB` ignored): `512M`, `4G`, `1.5G`, `800000000`.
    ///
    /// - Throws: ``MemoryLimitError`` for anything else, or for a limit under ``minimumBytes``.
    public init(parsing text: String) throws {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces)).uppercased()[...]
        for suffix in ["IB", "B"] where digits.hasSuffix(suffix) && digits.count > suffix.count {
            digits = digits.dropLast(suffix.count)
            break
        }
        var scale = 1.0
        if let last = digits.last, let power = ["K": 1, "M": 2, "G": 3, "T": 4][String(last)] {
            scale = pow(1024.0, Double(power))
            digits = digits.dropLast()
        }
        guard let number = Double(digits), number.isFinite, number > 0, number * scale < 0x1p62 else {
            throw MemoryLimitError("\"\(text)\" is not a size; write it like 512M, 4G or 1.5G (K, M, G, T are powers of 1024)")
        }
        bytes = Int(number * scale)
        guard bytes >= Self.minimumBytes else {
            throw MemoryLimitError("\(text) is too small: a process needs at least \(MemoryLimit(bytes: Self.minimumBytes)) (\(MemoryLimit(bytes: Self.reserveBytes)) for itself and 64M for rows)")
        }
    }

    /// Bytes left for rows: kept shards' and ``stagingBytes``.
    public var shardBytes: Int { max(0, bytes - Self.reserveBytes) }

    /// Of ``shardBytes``, what shards read from the file may hold of rows read ahead of their
    /// use (a stepwise fit's next minibatches): an eighth, at most 64 MiB.
    public var stagingBytes: Int { min(64 << 20, shardBytes / 8) }

    /// Bytes left for kept shards' rows.
    public var keptShardBytes: Int { shardBytes - stagingBytes }

    /// The limit in the largest unit that writes it with at most one decimal: `512M`, `1.5G`.
    public var description: String { Self.format(bytes) }

    /// `bytes` written as `512M`, `1.5G`, `40K` or `300B`.
    public static func format(_ bytes: Int) -> String {
        let units: [(String, Double)] = [("T", 0x1p40), ("G", 0x1p30), ("M", 0x1p20), ("K", 0x1p10)]
        for (unit, size) in units where Double(bytes) >= size {
            let value = Double(bytes) / size
            let rounded = (value * 10).rounded() / 10
            return (rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)) + unit
        }
        return "\(bytes)B"
    }
}

/// A size that cannot be a memory limit.
public struct MemoryLimitError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, as one line.
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Which of a process's shards are kept in memory and which are read from their file on every
/// pass, under an optional ``MemoryLimit``; safe to use from several threads.
///
/// Shards are kept while they fit in the limit's ``MemoryLimit/keptShardBytes``; the rest of its
/// rows' part (``MemoryLimit/stagingBytes``) is shared by the shards read from the file for rows
/// they read ahead of their use.
public final class ShardResidency: Sendable {
    /// The limit (nil: every shard is kept in memory).
    public let limit: MemoryLimit?
    /// The memory the shards read from the file share for rows read ahead.
    public let staging: RowStagingPool
    private struct State {
        var kept: [Int: Int] = [:]  // shard: bytes
        var streamed: [Int: Int] = [:]  // shard: bytes per pass
        var reported: (kept: Int, streamed: Int) = (0, 0)
    }
    private let state = Locked(State())

    /// Creates the accounting for a process with `limit`.
    public init(limit: MemoryLimit?) {
        self.limit = limit
        staging = RowStagingPool(bytes: limit?.stagingBytes ?? 0)
    }

    /// Whether `shard`, whose rows take `bytes` in memory, is kept (and counted) or must be read
    /// from its file.
    public func keep(_ shard: Int, bytes: Int) -> Bool {
        state.withLock { state in
            guard let limit else {
                state.kept[shard] = bytes
                return true
            }
            let used = state.kept.values.reduce(0, +) - (state.kept[shard] ?? 0)
            guard used + bytes <= limit.keptShardBytes else { return false }
            state.kept[shard] = bytes
            return true
        }
    }

    /// Notes that `shard` is read from its file, `bytesPerPass` bytes for every pass.
    public func noteStreamed(_ shard: Int, bytesPerPass: Int) {
        state.withLock { $0.streamed[shard] = bytesPerPass }
    }

    /// Forgets `shards` (they moved away or the job ended).
    public func release(_ shards: [Int]) {
        state.withLock { state in
            for shard in shards {
                state.kept[shard] = nil
                state.streamed[shard] = nil
            }
        }
    }

    /// Forgets every shard.
    public func removeAll() { state.withLock { $0 = State() } }

    /// Shards kept and their bytes; shards read from the file and their bytes per pass.
    public var summary: (kept: Int, keptBytes: Int, streamed: Int, streamedBytes: Int) {
        state.withLock { ($0.kept.count, $0.kept.values.reduce(0, +), $0.streamed.count, $0.streamed.values.reduce(0, +)) }
    }

    /// A line saying how the shards are held, when it changed since the last call and some
    /// shard is read from its file (nil otherwise): "keeps 3 shards in memory (384M), reads 5
    /// from big.npy on every pass (640M per pass) under --memory-limit 512M".
    public func changedReport(file: String) -> String? {
        state.withLock { state -> String? in
            let now = (state.kept.count, state.streamed.count)
            guard let limit, now != state.reported, !state.streamed.isEmpty else { return nil }
            state.reported = now
            let kept = state.kept.values.reduce(0, +), streamed = state.streamed.values.reduce(0, +)
            let shards = { (n: Int) in n == 1 ? "1 shard" : "\(n) shards" }
            return "keeps \(shards(now.0)) in memory (\(MemoryLimit.format(kept))), reads \(shards(now.1)) from \(file) on every pass "
                + "(\(MemoryLimit.format(streamed)) per pass) under --memory-limit \(limit)"
        }
    }
}

/// Opens a shard's rows under a ``ShardResidency``: in memory when they fit, else from the file.
public enum JobDataSource {
    /// Bytes `rows` rows of `columns` features of `path` take in memory: the `.npy` file's
    /// precision, or `Double` for text.
    public static func bytesInMemory(path: String, rows: Int, columns: Int) throws -> Int {
        let width = try DataFileFormat(path: path) == .npy ? try NPYReader(path: path).scalarType.byteWidth : 8
        return rows * columns * width
    }

    /// Refuses, before any work, a text file whose rows would not fit in `processes` processes
    /// under `limit` (text cannot be read a piece at a time): the message names the
    /// `emfleet data convert` to run.
    public static func checkFits(path: String, rows: Int, columns: Int, processes: Int, limit: MemoryLimit?) throws {
        guard let limit, try DataFileFormat(path: path) == .text else { return }
        let perProcess = (rows + max(1, processes) - 1) / max(1, processes) * columns * 8
        guard perProcess > limit.shardBytes else { return }
        throw DatasetError(
            file: path,
            message: "its rows take \(MemoryLimit.format(perProcess)) per process, more than --memory-limit \(limit) leaves for rows "
                + "(\(MemoryLimit.format(limit.shardBytes))), and a text file cannot be read a piece at a time; convert it once with "
                + "`emfleet data convert \(path) \(FileBackedRows.npyName(for: path))` and fit the .npy file")
    }

    /// The rows `range` of `path` (with `csv`'s column selection) for `shard`: loaded with
    /// `load` when `residency` keeps them, otherwise opened from the `.npy` file, checked to be
    /// finite (one read of the rows) and returned as a file-backed matrix.
    ///
    /// - Parameters:
    ///   - bytes: what the rows take in memory.
    /// - Throws: ``DatasetError`` from `load`, from opening the file, or for a value that is not
    ///   finite; ``FatalJobError`` for a text file whose rows do not fit (it names the
    ///   `emfleet data convert` it needs).
    public static func rows(
        shard: Int, range: Range<Int>, path: String, csv: CSVOptions, bytes: Int, residency: ShardResidency,
        load: () throws -> FeatureMatrix
    ) throws -> FeatureMatrix {
        if residency.keep(shard, bytes: bytes) { return try load() }
        if try DataFileFormat(path: path) == .text {
            // Every process under this limit would fail alike: the job stops with what to do.
            throw FatalJobError(
                "\(path): its shards do not fit under --memory-limit \(residency.limit.map(\.description) ?? "")"
                    + " and a text file cannot be read a piece at a time; convert it once with"
                    + " `emfleet data convert \(path) \(FileBackedRows.npyName(for: path))` and fit the .npy file")
        }
        if csv.missing != .error {
            // A file-backed shard reads the file's rows as they are: with gaps to drop or fill, the
            // rows read would not be the job's.
            throw FatalJobError(
                "\(path): its shards do not fit under --memory-limit \(residency.limit.map(\.description) ?? ""), and shards read from the file"
                    + " need a file without missing values; write one once with"
                    + " `emfleet data convert \(path) filled.npy --missing \(csv.missing.rawValue)` and fit that")
        }
        let source = try FileBackedRows(path: path, csv: csv, rows: range, staging: residency.staging)
        try source.verifyFinite()
        _ = source.takeBytesRead()  // the check is not a pass of the job
        residency.noteStreamed(shard, bytesPerPass: source.bytesPerPass)
        return FeatureMatrix(fileBacked: source)
    }
}
