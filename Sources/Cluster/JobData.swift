import Datasets
import Engine
import Foundation

/// The dataset of a cluster job, as the coordinator describes it to workers.
///
/// Workers read their own rows from `path` (shared storage) or, with `stream`, ask the
/// coordinator for them. The coordinator itself reads only the shape (and, when streaming,
/// the rows it sends).
public struct JobSpec: Sendable {
    /// The data file, as every host sees it.
    public var path: String
    /// Column selection and text layout.
    public var csv: CSVOptions
    /// Rows and feature columns (after selection).
    public var rows: Int
    /// Feature columns.
    public var columns: Int
    /// How many shards the rows are cut into.
    public var shards: Int
    /// The file's fingerprint as the coordinator sees it (empty when streaming).
    public var fingerprint: String
    /// Whether rows come from the coordinator instead of the file.
    public var stream: Bool
    /// Where each row's label comes from, for training jobs.
    public var labels: LabelSource = .none
    /// The sample-weight file (a 1-D `.npy` or one-column text file, one weight per row), as
    /// every host sees it; nil with no weights or when they are ``CSVOptions/weightColumn`` of the data.
    public var weightFile: String?
    /// The weight file's fingerprint as the coordinator sees it (empty without a weight file).
    public var weightFingerprint = ""
    /// With ``MissingPolicy/dropRows`` (``CSVOptions/missing``): the file's data rows left out
    /// (0-based, increasing); ``rows`` and every row range of the job count the rows kept. The
    /// coordinator finds them (``describe(path:csv:shards:stream:)``) and sends them, so every
    /// worker leaves out the same rows; nil in process, where they come from
    /// ``MissingValueScan/of(path:csv:)`` when needed.
    public var droppedRows: [Int]?

    /// Where labels come from and what they mean.
    public enum LabelSource: Sendable, Equatable {
        /// No labels (mixture jobs).
        case none
        /// Class labels from `file` (or the CSV label column when `file` is empty), mapped to
        /// indices into `classes`.
        case classes(file: String, classes: [String])
        /// Numeric targets (regression) from `file` (or the CSV label column when empty).
        case values(file: String)
    }

    /// Creates a spec.
    public init(path: String, csv: CSVOptions, rows: Int, columns: Int, shards: Int, fingerprint: String, stream: Bool) {
        self.path = path; self.csv = csv; self.rows = rows; self.columns = columns
        self.shards = shards; self.fingerprint = fingerprint; self.stream = stream
    }

    /// Describes `path` for a job: its shape and fingerprint, reading no more than the header
    /// and sampled blocks of a `.npy` file (a text file is scanned for its row count).
    ///
    /// With ``MissingPolicy/dropRows`` or ``MissingPolicy/mean`` the whole file is scanned once
    /// (``MissingValueScan``): the rows to leave out and the means to fill in travel in the job.
    public static func describe(path: String, csv: CSVOptions, shards: Int?, stream: Bool) throws -> JobSpec {
        let shape = try DatasetLoader.shape(path: path, csv: csv)
        guard shape.rows > 0 else { throw DatasetError(file: path, message: "has no rows") }
        var csv = csv
        var rows = shape.rows
        var dropped: [Int]?
        switch csv.missing {
        case .error:
            break
        case .dropRows:
            let scan = try MissingValueScan.of(path: path, csv: csv)
            guard scan.keptRows > 0 else { throw keptNoRows(path) }
            guard scan.rowsWithMissing.count <= maxDroppedRows else {
                throw DatasetError(file: path, message: "\(scan.rowsWithMissing.count) rows have missing values, more than the \(maxDroppedRows) "
                    + "a distributed job can leave out; drop them from the file first, or use --missing mean")
            }
            dropped = scan.rowsWithMissing
            rows = scan.keptRows
        case .mean:
            if csv.imputationMeans == nil { csv.imputationMeans = try MissingValueScan.of(path: path, csv: csv).checkedMeans(file: path) }
        }
        var spec = JobSpec(
            path: path, csv: csv, rows: rows, columns: shape.columns,
            shards: shards ?? ShardPlan.defaultShardCount(rows: rows),
            fingerprint: try DataFingerprint.of(path: path), stream: stream)
        spec.droppedRows = dropped
        return spec
    }

    /// Most rows a distributed job leaves out (their indices travel in the `job` message).
    public static let maxDroppedRows = 1 << 22

    static func keptNoRows(_ path: String) -> DatasetError {
        DatasetError(file: path, message: "every row has a missing value, so --missing drop-rows leaves none; use --missing mean, or leave the columns with gaps out with --exclude-columns")
    }

    /// The file's data rows that the job leaves out (empty unless ``MissingPolicy/dropRows``).
    public func leftOutRows() throws -> [Int] {
        if let droppedRows { return droppedRows }
        guard csv.missing == .dropRows else { return [] }
        return try MissingValueScan.of(path: path, csv: csv).rowsWithMissing
    }

    /// The reader options for a range of rows: under ``MissingPolicy/mean``, with the means of
    /// the whole data, never those of the range alone.
    private func rangeOptions() throws -> CSVOptions {
        var csv = csv
        if csv.missing == .mean, csv.imputationMeans == nil {
            csv.imputationMeans = try MissingValueScan.of(path: path, csv: csv).checkedMeans(file: path)
        }
        return csv
    }

    /// The shard layout.
    public var plan: ShardPlan { ShardPlan(rows: rows, shards: shards) }

    /// Whether rows carry sample weights (a weight file or a weight column of the data).
    public var hasWeights: Bool { weightFile != nil || csv.weightColumn != nil }

    /// Names the weight file of the job and takes its fingerprint.
    public mutating func setWeightFile(_ file: String?) throws {
        weightFile = file
        weightFingerprint = try file.map(DataFingerprint.of(path:)) ?? ""
    }

    /// What a worker that sees the same files answers in `ready`: the data file's fingerprint,
    /// then the weight file's.
    public var expectedFingerprint: String {
        weightFile == nil ? fingerprint : fingerprint + " " + weightFingerprint
    }

    /// The fingerprints of the job's files as this host sees them (compare with ``expectedFingerprint``).
    public func localFingerprint() throws -> String {
        let data = try DataFingerprint.of(path: path)
        return try weightFile.map { data + " " + (try DataFingerprint.of(path: $0)) } ?? data
    }

    /// The sample weights of the rows of `range`, checked to be finite and non-negative, from the
    /// weight file (which must have one weight per row) or the data's weight column.
    public func readWeights(_ range: Range<Int>) throws -> [Double] {
        let dropped = try leftOutRows()
        let fileRange = KeptRows.fileRange(range, dropped: dropped)
        if let weightFile {
            let all = try SampleWeights.read(path: weightFile)
            try SampleWeights.check(all.count, file: weightFile, rows: rows + dropped.count, dataFile: path)
            return KeptRows.keep(Array(all[fileRange]), fileRange: fileRange, dropped: dropped)
        }
        guard csv.weightColumn != nil else { throw DatasetError(file: path, message: "this job has no sample weights") }
        return KeptRows.keep(try SampleWeights.read(columnOf: path, csv: csv, rows: fileRange), fileRange: fileRange, dropped: dropped)
    }

    /// Every row's sample weight, checked as ``readWeights(_:)`` does and for a positive total;
    /// nil without weights. Run before a job starts, so a bad weight stops it before any work.
    public func checkedWeights() throws -> [Double]? {
        guard hasWeights else { return nil }
        let weights = try readWeights(0..<rows)
        try SampleWeights.checkTotal(weights, file: weightFile ?? "\(path) (column \"\(csv.weightColumn ?? "")\")")
        return weights
    }

    /// Reads the rows of `range` from the file and checks they are finite, applying the job's
    /// ``MissingPolicy`` (the range counts kept rows).
    public func readRows(_ range: Range<Int>) throws -> FeatureMatrix {
        let dropped = try leftOutRows()
        let fileRange = KeptRows.fileRange(range, dropped: dropped)
        let loaded = try DatasetLoader.load(path: path, csv: try rangeOptions(), rows: fileRange, finiteOnly: true)
        guard loaded.droppedRows[...] == KeptRows.dropped(in: fileRange, dropped: dropped) else {
            throw DatasetError(file: path, message: "rows \(fileRange.lowerBound)..<\(fileRange.upperBound) do not have their missing values where the job's coordinator saw them; did the file change?")
        }
        guard loaded.features.rows == range.count, loaded.features.columns == columns else {
            throw DatasetError(
                file: path,
                message: "expected rows \(range.lowerBound)..<\(range.upperBound) of \(columns) columns, read \(loaded.features.rows) × \(loaded.features.columns); did the file change?")
        }
        return loaded.features
    }

    /// The targets of the rows of `range`: class indices or values, as the label source says.
    public func readTargets(_ range: Range<Int>) throws -> TargetRows {
        let dropped = try leftOutRows()
        let fileRange = KeptRows.fileRange(range, dropped: dropped)
        let text: [String]
        let file: String
        switch labels {
        case .none:
            throw DatasetError(file: path, message: "this job has no labels")
        case let .classes(source, _), let .values(source):
            file = source.isEmpty ? path : source
            if source.isEmpty {
                guard let column = try DatasetLoader.load(path: path, csv: csv, rows: fileRange).labels else {
                    throw DatasetError(file: path, message: "no label column was named")
                }
                text = KeptRows.keep(column, fileRange: fileRange, dropped: dropped)
            } else {
                let all = try DatasetLoader.loadLabels(path: source)
                guard all.count == rows + dropped.count else {
                    throw DatasetError(file: source, message: "has \(all.count) labels but \(path) has \(rows + dropped.count) rows")
                }
                text = KeptRows.keep(Array(all[fileRange]), fileRange: fileRange, dropped: dropped)
            }
        }
        switch labels {
        case let .classes(_, classes):
            let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
            return .classes(try text.enumerated().map { offset, label in
                guard let value = index[label] else {
                    throw DatasetError(file: file, row: range.lowerBound + offset, message: "label \"\(label)\" is not one of the \(classes.count) classes")
                }
                return value
            })
        default:
            return .values(try text.enumerated().map { offset, label in
                guard let value = Double(label), value.isFinite else {
                    throw DatasetError(file: file, row: range.lowerBound + offset, message: "target \"\(label)\" is not a finite number")
                }
                return value
            })
        }
    }

    var body: [UInt8] {
        var w = WireWriter()
        w.string(path)
        w.string(csv.delimiter.map(String.init) ?? "")
        w.string(csv.header.rawValue)
        w.bool(csv.columns != nil)
        w.u32(UInt32(csv.columns?.count ?? 0))
        for column in csv.columns ?? [] { w.string(column) }
        w.string(csv.labelColumn ?? "")
        w.bool(csv.labelColumn != nil)
        w.int(rows); w.int(columns); w.int(shards)
        w.string(fingerprint)
        w.bool(stream)
        switch labels {
        case .none:
            w.u8(0)
        case let .classes(file, classes):
            w.u8(1); w.string(file)
            w.u32(UInt32(classes.count))
            for name in classes { w.string(name) }
        case let .values(file):
            w.u8(2); w.string(file)
        }
        w.bool(csv.weightColumn != nil); w.string(csv.weightColumn ?? "")
        w.bool(weightFile != nil); w.string(weightFile ?? "")
        w.string(weightFingerprint)
        w.bool(csv.excludedColumns != nil)
        w.u32(UInt32(csv.excludedColumns?.count ?? 0))
        for column in csv.excludedColumns ?? [] { w.string(column) }
        w.string(csv.missing.rawValue)
        w.bool(csv.imputationMeans != nil); w.doubles(csv.imputationMeans ?? [])
        w.bool(droppedRows != nil); w.ints(droppedRows ?? [])
        return w.bytes
    }

    init(body: [UInt8]) throws {
        var r = WireReader(body, context: "job")
        path = try r.string("path", maxBytes: 4096)
        let delimiter = try r.string("delimiter", maxBytes: 8)
        guard let header = CSVOptions.Header(rawValue: try r.string("header", maxBytes: 16)) else {
            throw WireError("job: unknown header mode")
        }
        let hasColumns = try r.bool("column selection")
        let count = Int(try r.u32("column count"))
        guard count <= 1 << 16 else { throw WireError("job: \(count) columns is too many") }
        let selected = try (0..<count).map { _ in try r.string("column", maxBytes: 1024) }
        let label = try r.string("label column", maxBytes: 1024)
        let hasLabel = try r.bool("label column present")
        csv = CSVOptions(
            delimiter: delimiter.first, header: header, columns: hasColumns ? selected : nil, labelColumn: hasLabel ? label : nil)
        rows = try r.int("rows", in: 1...Int(Int32.max) * 64)
        columns = try r.int("columns", in: 1...(1 << 16))
        shards = try r.int("shards", in: 1...rows)
        fingerprint = try r.string("fingerprint", maxBytes: 128)
        stream = try r.bool("stream")
        switch try r.u8("label kind") {
        case 0:
            labels = .none
        case 1:
            let file = try r.string("labels file", maxBytes: 4096)
            let count = Int(try r.u32("class count"))
            guard count >= 1, count <= 1 << 16 else { throw WireError("job: \(count) classes") }
            labels = .classes(file: file, classes: try (0..<count).map { _ in try r.string("class", maxBytes: 1024) })
        case 2:
            labels = .values(file: try r.string("labels file", maxBytes: 4096))
        case let other:
            throw WireError("job: unknown label kind \(other)")
        }
        let hasWeightColumn = try r.bool("weight column present")
        let weightColumn = try r.string("weight column", maxBytes: 1024)
        csv.weightColumn = hasWeightColumn ? weightColumn : nil
        let hasWeightFile = try r.bool("weight file present")
        let file = try r.string("weight file", maxBytes: 4096)
        weightFile = hasWeightFile ? file : nil
        weightFingerprint = try r.string("weight fingerprint", maxBytes: 128)
        let hasExclusions = try r.bool("column exclusion")
        let excludedCount = Int(try r.u32("excluded column count"))
        guard excludedCount <= 1 << 16 else { throw WireError("job: \(excludedCount) excluded columns is too many") }
        let excluded = try (0..<excludedCount).map { _ in try r.string("excluded column", maxBytes: 1024) }
        csv.excludedColumns = hasExclusions ? excluded : nil
        guard let missing = MissingPolicy(rawValue: try r.string("missing policy", maxBytes: 16)) else {
            throw WireError("job: unknown missing-value policy")
        }
        csv.missing = missing
        let hasMeans = try r.bool("imputation means present")
        let means = try r.doubles("imputation means")
        guard !hasMeans || means.count == columns, means.allSatisfy(\.isFinite) else {
            throw WireError("job: \(means.count) imputation means for \(columns) columns, or one not finite")
        }
        csv.imputationMeans = hasMeans ? means : nil
        let hasDropped = try r.bool("dropped rows present")
        let dropped = try r.ints("dropped rows", in: 0...(Int(Int32.max) * 64), maxCount: Self.maxDroppedRows)
        guard zip(dropped, dropped.dropFirst()).allSatisfy({ $0 < $1 }) else { throw WireError("job: dropped rows out of order") }
        droppedRows = hasDropped ? dropped : nil
        try r.finish()
    }
}

/// A cheap identity of a data file: its size and a hash of its first 64 KiB (the header and
/// first rows), 16 evenly spaced 4 KiB blocks and its last 4 KiB.
///
/// Workers compute it before a job starts; one that sees a different file is refused.
public enum DataFingerprint {
    /// The fingerprint of the file at `path`, as "size-hash" in hexadecimal.
    public static func of(path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DatasetError(file: path, message: FileManager.default.fileExists(atPath: path) ? "cannot be read" : "no such file")
        }
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a 64
        func mix(_ data: Data) {
            for byte in data {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01B3
            }
        }
        var offsets: [(UInt64, Int)] = [(0, 65536)]
        for i in 1...16 { offsets.append((size * UInt64(i) / 17, 4096)) }
        offsets.append((size > 4096 ? size - 4096 : 0, 4096))
        for (offset, length) in offsets where offset < size {
            try handle.seek(toOffset: offset)
            mix(try handle.read(upToCount: length) ?? Data())
        }
        return String(size, radix: 16) + "-" + String(hash, radix: 16)
    }
}
