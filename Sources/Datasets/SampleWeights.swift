import Foundation
import Numerics

/// Per-row sample weights: read from a weight file or a column of the data file, and checked.
///
/// A weight file is a 1-D `.npy` array (float32, float64 or integers) or a one-column text
/// file (a header line is allowed), one weight per data row. Every weight must be a finite,
/// non-negative number and at least one must be positive. Errors name the file and the place:
/// a text file's 1-based line, an array's 0-based row (see ``DatasetError``).
///
/// ```swift
/// let weights = try SampleWeights.read(path: "w.npy")
/// try SampleWeights.check(weights.count, file: "w.npy", rows: 1000, dataFile: "x.npy")
/// ```
public enum SampleWeights {
    /// Reads every weight of `path` and checks each is a non-negative finite number.
    ///
    /// Workers read a shared weight file once per shard: the last file read is kept while it is unchanged.
    ///
    /// - Throws: ``DatasetError`` for a missing or empty file, a cell that is not a number, a
    ///   negative, NaN or infinite weight (with its line or row), or a 2-D array.
    public static func read(path: String) throws -> [Double] {
        let key = "\(path)\u{0}\(try ReadableFile(path: path).identity())"
        if let hit = cache.withLock({ $0?.key == key ? $0?.weights : nil }) { return hit }
        let weights = try readFile(path: path)
        cache.withLock { $0 = (key, weights) }
        return weights
    }

    private static let cache = Locked<(key: String, weights: [Double])?>(nil)

    /// Reads the weights in `csv`'s ``CSVOptions/weightColumn`` of the data file `path`, for `rows`
    /// (nil: all), and checks each is a non-negative finite number.
    ///
    /// - Throws: ``DatasetError`` from the reader, or for a negative, NaN or infinite weight
    ///   (naming the 0-based data row and the column).
    public static func read(columnOf path: String, csv: CSVOptions, rows: Range<Int>? = nil) throws -> [Double] {
        guard let column = csv.weightColumn else { throw DatasetError(file: path, message: "no weight column was named") }
        let only = CSVOptions(delimiter: csv.delimiter, header: csv.header, columns: [column])
        let values = try DatasetLoader.load(path: path, csv: only, rows: rows).features.doubles()
        let first = rows?.lowerBound ?? 0
        for (offset, value) in values.enumerated() {
            if let problem = problem(value) {
                throw DatasetError(file: path, row: first + offset, columnName: column, numbering: .index, message: problem)
            }
        }
        return values
    }

    /// Checks that a weight file has one weight per data row.
    ///
    /// - Throws: ``DatasetError`` naming `file` and both counts.
    public static func check(_ count: Int, file: String, rows: Int, dataFile: String) throws {
        guard count == rows else {
            throw DatasetError(file: file, message: "has \(count) weights but \(dataFile) has \(rows) rows; give one weight per row")
        }
    }

    /// Checks that some weight is positive.
    ///
    /// - Throws: ``DatasetError`` naming `file` when every weight is zero.
    public static func checkTotal(_ weights: [Double], file: String) throws {
        guard weights.contains(where: { $0 > 0 }) else {
            throw DatasetError(file: file, message: "every sample weight is zero; at least one row needs a positive weight")
        }
    }

    /// What is wrong with a weight, or nil.
    static func problem(_ value: Double) -> String? {
        if value.isNaN { return "weight is NaN; weights must be non-negative finite numbers" }
        if value.isInfinite { return "weight is \(value < 0 ? "-" : "+")infinity; weights must be non-negative finite numbers" }
        if value < 0 { return "weight \(value) is negative; weights must be non-negative finite numbers" }
        return nil
    }

    private static func readFile(path: String) throws -> [Double] {
        if case .npy = try DataFileFormat(path: path) {
            let values = try NPYReader(path: path).readVector()
            for (row, value) in values.enumerated() {
                if let problem = problem(value) { throw DatasetError(file: path, row: row, numbering: .index, message: problem) }
            }
            guard !values.isEmpty else { throw DatasetError(file: path, message: "has no weights") }
            return values
        }
        let file = try ReadableFile(path: path)
        var splitter: CSVLineSplitter?
        var cells: [CSVCell] = []
        var weights: [Double] = []
        var lines = 0
        try forEachLine(of: file) { line, lineNumber in
            guard line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) else { return true }
            if splitter == nil {
                let tab = path.lowercased().hasSuffix(".tsv")
                splitter = CSVLineSplitter(mode: tab ? .delimiter(UInt8(ascii: "\t")) : line.contains(UInt8(ascii: ",")) ? .delimiter(UInt8(ascii: ",")) : .whitespace)
            }
            if let problem = splitter!.split(line, into: &cells) {
                throw DatasetError(file: path, row: lineNumber, numbering: .line, message: problem)
            }
            guard cells.count == 1 else {
                throw DatasetError(file: path, row: lineNumber, numbering: .line, message: "expected one weight per line, found \(cells.count) cells")
            }
            lines += 1
            guard let value = CSVLineSplitter.number(in: cells[0], of: line) else {
                if lines == 1 { return true }  // a header
                throw DatasetError(
                    file: path, row: lineNumber, numbering: .line,
                    message: "\"\(CSVLineSplitter.text(of: cells[0], in: line))\" is not a number; expected one weight per line")
            }
            if let problem = problem(value) { throw DatasetError(file: path, row: lineNumber, numbering: .line, message: problem) }
            weights.append(value)
            return true
        }
        guard !weights.isEmpty else { throw DatasetError(file: path, message: "has no weights") }
        return weights
    }
}
