import Foundation
import Numerics

/// What a command does with missing feature values (empty cells, `NA`, `NaN`, `nan`, `null`
/// and the other ``MissingValues`` words in text files; NaN in `.npy` files).
///
/// ```swift
/// var csv = CSVOptions(missing: .mean)
/// let loaded = try DatasetLoader.load(path: "wine.csv", csv: csv, finiteOnly: true)
/// loaded.imputationMeans   // the column means every gap was filled with
/// ```
public enum MissingPolicy: String, Sendable, CaseIterable, Codable {
    /// Refuse the data, naming the first missing cell (the default).
    case error
    /// Leave out every row with a missing feature.
    case dropRows = "drop-rows"
    /// Fill each missing feature with its column's mean over the training rows (a model file
    /// remembers those means, and applying the model fills gaps with them).
    case mean
}

/// What one pass over a data file found about its missing feature values, for
/// ``MissingPolicy/dropRows`` and ``MissingPolicy/mean``: which rows have one, and each
/// feature column's mean over its present values.
///
/// A distributed job's coordinator takes it once and sends the dropped rows and the means in
/// the job, so every worker leaves out and fills in the same cells.
public struct MissingValueScan: Sendable, Equatable {
    /// Data rows in the file.
    public var fileRows: Int
    /// The 0-based data rows with at least one missing feature, in increasing order.
    public var rowsWithMissing: [Int]
    /// Missing feature cells in the whole file.
    public var missingCells: Int
    /// Each feature column's mean over its present values (the rows read in order, summed in
    /// order); NaN for a column with no present value.
    public var means: [Double]
    /// The feature columns' names (header names, or 0-based positions as text).
    public var columnNames: [String]

    /// Rows left after dropping ``rowsWithMissing``.
    public var keptRows: Int { fileRows - rowsWithMissing.count }

    /// Scans `path` for missing feature values (in blocks of rows, never the whole file at
    /// once), refusing infinite values; the result is kept while the file is unchanged.
    ///
    /// - Throws: ``DatasetError`` from the readers or for an infinite value.
    public static func of(path: String, csv: CSVOptions) throws -> MissingValueScan {
        let key = [path, try ReadableFile(path: path).identity(), csv.delimiter.map { String($0) } ?? "-", csv.header.rawValue,
                   csv.columns?.joined(separator: "\u{1}") ?? "-", csv.excludedColumns?.joined(separator: "\u{1}") ?? "-",
                   csv.labelColumn ?? "-", csv.weightColumn ?? "-"].joined(separator: "\u{0}")
        if let hit = cache.withLock({ $0.first { $0.key == key }?.scan }) { return hit }
        let scan = try run(path: path, csv: csv)
        cache.withLock { cache in
            cache.removeAll { $0.key == key }
            cache.append((key, scan))
            if cache.count > 4 { cache.removeFirst() }
        }
        return scan
    }

    private static let cache = Locked<[(key: String, scan: MissingValueScan)]>([])

    private static func run(path: String, csv: CSVOptions) throws -> MissingValueScan {
        var plain = csv
        plain.missing = .error
        plain.imputationMeans = nil
        let shape = try DatasetLoader.shape(path: path, csv: plain)
        let names = try DatasetLoader.featureColumnNames(path: path, csv: plain)
        var sums = [Double](repeating: 0, count: shape.columns)
        var counts = [Int](repeating: 0, count: shape.columns)
        var rowsWithMissing: [Int] = []
        var missingCells = 0
        let block = max(1, (1 << 20) / max(1, shape.columns))
        for start in stride(from: 0, to: shape.rows, by: block) {
            let range = start..<min(shape.rows, start + block)
            let features = try DatasetLoader.load(path: path, csv: plain, rows: range).features
            try checkNoInfinity(features, file: path, firstRow: start, columnNames: names)
            let values = features.doubles(), columns = features.columns
            for row in 0..<features.rows {
                var missing = false
                for column in 0..<columns {
                    let value = values[row * columns + column]
                    if value.isNaN {
                        missing = true
                        missingCells += 1
                    } else {
                        sums[column] += value
                        counts[column] += 1
                    }
                }
                if missing { rowsWithMissing.append(start + row) }
            }
        }
        let means = (0..<shape.columns).map { counts[$0] > 0 ? sums[$0] / Double(counts[$0]) : .nan }
        return MissingValueScan(fileRows: shape.rows, rowsWithMissing: rowsWithMissing, missingCells: missingCells, means: means, columnNames: names)
    }

    /// The means to fill gaps with, checked: every column with a gap needs a present value.
    ///
    /// - Throws: ``DatasetError`` naming a column with no present value.
    public func checkedMeans(file: String) throws -> [Double] {
        if let column = means.firstIndex(where: \.isNaN) {
            throw DatasetError(file: file, column: column, columnName: columnNames[column],
                               message: "every value of the column is missing, so it has no mean to fill in; leave it out with --exclude-columns")
        }
        return means
    }
}

/// Kept rows against file rows, when the rows listed in `dropped` (0-based data rows of the
/// file, increasing) are left out.
public enum KeptRows {
    /// The file row of kept row `kept`.
    public static func fileRow(_ kept: Int, dropped: [Int]) -> Int {
        // dropped[j] - j never decreases: count the dropped rows at or before the answer.
        var low = 0, high = dropped.count
        while low < high {
            let mid = (low + high) / 2
            if dropped[mid] - mid <= kept { low = mid + 1 } else { high = mid }
        }
        return kept + low
    }

    /// The file rows that hold the kept rows of `range` (dropped ones among them).
    public static func fileRange(_ range: Range<Int>, dropped: [Int]) -> Range<Int> {
        guard !dropped.isEmpty else { return range }
        guard !range.isEmpty else { let f = fileRow(range.lowerBound, dropped: dropped); return f..<f }
        return fileRow(range.lowerBound, dropped: dropped)..<(fileRow(range.upperBound - 1, dropped: dropped) + 1)
    }

    /// The dropped rows inside `fileRange`.
    public static func dropped(in fileRange: Range<Int>, dropped: [Int]) -> ArraySlice<Int> {
        let start = dropped.partitioningIndex { $0 >= fileRange.lowerBound }
        let end = dropped.partitioningIndex { $0 >= fileRange.upperBound }
        return dropped[start..<end]
    }

    /// `values` (one per file row of `fileRange`) without those of the dropped rows.
    public static func keep<T>(_ values: [T], fileRange: Range<Int>, dropped: [Int]) -> [T] {
        let gone = Set(Self.dropped(in: fileRange, dropped: dropped))
        guard !gone.isEmpty else { return values }
        return values.enumerated().compactMap { gone.contains(fileRange.lowerBound + $0.offset) ? nil : $0.element }
    }
}

extension Array {
    /// The first index whose element satisfies `belongs` (which must be false, then true).
    fileprivate func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if belongs(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}

/// Refuses ±infinity (NaN is a missing value, handled by the policy).
func checkNoInfinity(_ matrix: FeatureMatrix, file: String, firstRow: Int, columnNames: [String]?) throws {
    let values = matrix.doubles()
    guard let index = values.firstIndex(where: \.isInfinite) else { return }
    let row = index / matrix.columns, column = index % matrix.columns
    throw DatasetError(file: file, row: firstRow + row, column: column,
                       columnName: columnNames.flatMap { column < $0.count ? $0[column] : nil },
                       numbering: .index, message: nonFiniteMessage(values[index]))
}

extension LoadedDataset {
    /// Applies `policy` to rows read from `file` (data rows from `firstRow` on): drops the rows
    /// with a missing feature (and their labels) or fills each gap with `means` (computed from
    /// these rows when nil). Infinite values are refused under every policy.
    mutating func applyMissing(_ policy: MissingPolicy, means given: [Double]?, file: String, firstRow: Int) throws {
        let names = columnNames
        try checkNoInfinity(features, file: file, firstRow: firstRow, columnNames: names)
        let columns = features.columns
        switch policy {
        case .error:
            try validateFinite(features, file: file, firstRow: firstRow, columnNames: names)
        case .dropRows:
            let values = features.doubles()
            var keep: [Int] = []
            keep.reserveCapacity(features.rows)
            for row in 0..<features.rows {
                if (0..<columns).contains(where: { values[row * columns + $0].isNaN }) {
                    droppedRows.append(firstRow + row)
                } else {
                    keep.append(row)
                }
            }
            guard !droppedRows.isEmpty else { return }
            features = features.gatheringRows(keep)
            if let all = labels { labels = keep.map { all[$0] } }
        case .mean:
            let means: [Double]
            if let given {
                guard given.count == columns else {
                    throw DatasetError(file: file, message: "has \(columns) feature columns but \(given.count) imputation means were given")
                }
                means = given
            } else {
                let scanNames = names ?? (0..<columns).map(String.init)
                var sums = [Double](repeating: 0, count: columns), counts = [Int](repeating: 0, count: columns)
                let values = features.doubles()
                for row in 0..<features.rows {
                    for column in 0..<columns where !values[row * columns + column].isNaN {
                        sums[column] += values[row * columns + column]
                        counts[column] += 1
                    }
                }
                let scan = MissingValueScan(fileRows: features.rows, rowsWithMissing: [], missingCells: 0,
                                            means: (0..<columns).map { counts[$0] > 0 ? sums[$0] / Double(counts[$0]) : .nan },
                                            columnNames: scanNames)
                means = try scan.checkedMeans(file: file)
            }
            imputationMeans = means
            switch features.inMemory().storage {
            case .float64(var values):
                for i in values.indices where values[i].isNaN { values[i] = means[i % columns]; imputedCells += 1 }
                features.storage = .float64(values)
            case .float32(var values):
                for i in values.indices where values[i].isNaN { values[i] = Float(means[i % columns]); imputedCells += 1 }
                features.storage = .float32(values)
            case .file:
                preconditionFailure("inMemory() holds its rows in memory")
            }
        }
    }
}

extension FeatureMatrix {
    /// The rows at `indices` (0-based, in the given order) as a new matrix of the same precision.
    public func gatheringRows(_ indices: [Int]) -> FeatureMatrix {
        func gather<T>(_ values: [T]) -> [T] {
            var result: [T] = []
            result.reserveCapacity(indices.count * columns)
            for row in indices { result.append(contentsOf: values[(row * columns)..<((row + 1) * columns)]) }
            return result
        }
        switch inMemory().storage {
        case .float32(let values): return FeatureMatrix(rows: indices.count, columns: columns, float32: gather(values))
        case .float64(let values): return FeatureMatrix(rows: indices.count, columns: columns, values: gather(values))
        case .file: preconditionFailure("inMemory() holds its rows in memory")
        }
    }
}
