import Foundation
import Numerics

/// Features (and optional labels) loaded from any supported file.
public struct LoadedDataset: Sendable {
    /// The feature matrix; `.npy` files keep their precision, text files give `float64`.
    public var features: FeatureMatrix
    /// The feature column names, when the file has a header.
    public var columnNames: [String]?
    /// The label of each row, when a label column was named.
    public var labels: [String]?
    /// The data rows (0-based, in the file) left out by ``MissingPolicy/dropRows``.
    public var droppedRows: [Int] = []
    /// The means that filled gaps under ``MissingPolicy/mean``.
    public var imputationMeans: [Double]?
    /// How many cells ``MissingPolicy/mean`` filled.
    public var imputedCells = 0

    /// Creates a dataset.
    public init(features: FeatureMatrix, columnNames: [String]?, labels: [String]?) {
        self.features = features
        self.columnNames = columnNames
        self.labels = labels
    }
}

/// The kinds of data file this package reads, told by extension.
public enum DataFileFormat: String, Sendable, CaseIterable {
    /// numpy's binary format, `.npy`.
    case npy
    /// Delimited text: `.csv`, `.tsv` or `.txt`.
    case text

    /// The format of `path` by its extension (case-insensitive).
    ///
    /// - Throws: ``DatasetError`` for any other extension.
    public init(path: String) throws {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let ext = name.contains(".") ? String(name.split(separator: ".").last!).lowercased() : ""
        switch ext {
        case "npy": self = .npy
        case "csv", "tsv", "txt": self = .text
        default:
            throw DatasetError(
                file: path,
                message: ext.isEmpty
                    ? "has no extension; expected .npy, .csv, .tsv or .txt"
                    : "unsupported file type '.\(ext)'; expected .npy, .csv, .tsv or .txt"
            )
        }
    }

    /// The text options to use for `path`: a `.tsv` file with no delimiter given is tab-separated.
    static func textOptions(_ options: CSVOptions, path: String) -> CSVOptions {
        var options = options
        if options.delimiter == nil, path.lowercased().hasSuffix(".tsv") { options.delimiter = "\t" }
        return options
    }
}

/// Loads features, shapes and labels from `.npy` and delimited text files by extension.
///
/// Column selection (``CSVOptions/columns``, ``CSVOptions/labelColumn``) also applies
/// to `.npy` files, by 0-based index only since they have no names.
public enum DatasetLoader {
    /// Loads the features of `path` (`.npy`, `.csv`, `.tsv` or `.txt`), and labels if a label column is named.
    ///
    /// - Parameters:
    ///   - csv: column selection for any file; delimiter and header for text files.
    ///   - rows: the data rows (0-based) to read; `nil` reads all.
    /// - Throws: ``DatasetError`` from the readers, or for an unsupported extension.
    ///   - finiteOnly: refuse an infinite feature value, and treat missing ones as
    ///     ``CSVOptions/missing`` says: refuse them (a text file names its line and column,
    ///     "line 12, column 3", an `.npy` file its 0-based row and column), drop their rows
    ///     (listed in ``LoadedDataset/droppedRows``) or fill them with column means.
    public static func load(path: String, csv: CSVOptions = .init(), rows: Range<Int>? = nil, finiteOnly: Bool = false) throws -> LoadedDataset {
        guard finiteOnly, csv.missing != .error else { return try loadRows(path: path, csv: csv, rows: rows, finiteOnly: finiteOnly) }
        var loaded = try loadRows(path: path, csv: csv, rows: rows, finiteOnly: false)
        try loaded.applyMissing(csv.missing, means: csv.imputationMeans, file: path, firstRow: rows?.lowerBound ?? 0)
        return loaded
    }

    private static func loadRows(path: String, csv: CSVOptions, rows: Range<Int>?, finiteOnly: Bool) throws -> LoadedDataset {
        switch try DataFileFormat(path: path) {
        case .npy:
            let reader = try NPYReader(path: path)
            let (features, labelIndex) = try npyColumns(csv, reader: reader)
            let matrix = try reader.readRows(rows ?? 0..<reader.rows)
            let labels = labelIndex.map { index in
                (0..<matrix.rows).map { labelText(matrix[row: $0, column: index]) }
            }
            let loaded = LoadedDataset(features: matrix.columns(features), columnNames: nil, labels: labels)
            if finiteOnly { try validateFinite(loaded.features, file: path, firstRow: rows?.lowerBound ?? 0) }
            return loaded
        case .text:
            return try CSVReader.read(path: path, options: DataFileFormat.textOptions(csv, path: path), rows: rows, finiteOnly: finiteOnly)
        }
    }

    /// How a model file names the feature columns `csv` selects in `path`: their header
    /// names, or their 0-based positions (as text) in a file without names.
    public static func featureColumnNames(path: String, csv: CSVOptions = .init()) throws -> [String] {
        let indices = try featureColumns(path: path, csv: csv)
        guard let names = try fileColumns(path: path, csv: csv).names else { return indices.map(String.init) }
        return indices.map { names[$0] }
    }

    /// Every column of `path`: how many, and their header names when it has them (a text
    /// file's header; never for `.npy`). Column selection in `csv` is not applied.
    public static func fileColumns(path: String, csv: CSVOptions = .init()) throws -> (count: Int, names: [String]?) {
        switch try DataFileFormat(path: path) {
        case .npy:
            return (try NPYReader(path: path).columns, nil)
        case .text:
            let layoutOnly = CSVOptions(delimiter: csv.delimiter, header: csv.header)
            let scan = CSVScan(path: path, options: DataFileFormat.textOptions(layoutOnly, path: path))
            let layout = try scan.run(rows: 0..<0, parse: false) { _, _ in }.layout
            return (layout.cellCount, layout.header)
        }
    }

    /// Every row's cell of one column as text (an ID column to carry into a prediction file),
    /// with the column's header name (or its position for a file without names).
    ///
    /// - Parameter column: a header name or a 0-based index, as in ``CSVOptions/columns``.
    public static func columnText(path: String, csv: CSVOptions = .init(), column: String) throws -> (name: String, values: [String]) {
        let file = try fileColumns(path: path, csv: csv)
        let unnamed = (try DataFileFormat(path: path)) == .npy ? ".npy files have no column names" : "the file has no header"
        let index = try ColumnSelection(file: path, names: file.names, count: file.count, unnamedHint: unnamed).column(column)
        let name = file.names?[index] ?? String(index)
        switch try DataFileFormat(path: path) {
        case .npy:
            let reader = try NPYReader(path: path)
            let matrix = try reader.readRows(0..<reader.rows)
            return (name, (0..<matrix.rows).map { labelText(matrix[row: $0, column: index]) })
        case .text:
            var values: [String] = []
            let layoutOnly = CSVOptions(delimiter: csv.delimiter, header: csv.header)
            _ = try CSVScan(path: path, options: DataFileFormat.textOptions(layoutOnly, path: path)).runCells { cells, _ in values.append(cells[index]) }
            return (name, values)
        }
    }

    /// The 0-based indices in the file of the feature columns `csv` selects, in order.
    public static func featureColumns(path: String, csv: CSVOptions = .init()) throws -> [Int] {
        switch try DataFileFormat(path: path) {
        case .npy:
            return try npyColumns(csv, reader: NPYReader(path: path)).features
        case .text:
            let scan = CSVScan(path: path, options: DataFileFormat.textOptions(csv, path: path))
            return try scan.run(rows: 0..<0, parse: false) { _, _ in }.layout.featureIndices
        }
    }

    /// The number of data rows and feature columns of `path`, without reading the data.
    ///
    /// `.npy`: from the header. Text: one counting pass; only the first line is split, so
    /// a malformed later line is reported when the rows are read, not here.
    public static func shape(path: String, csv: CSVOptions = .init()) throws -> (rows: Int, columns: Int) {
        switch try DataFileFormat(path: path) {
        case .npy:
            let reader = try NPYReader(path: path)
            let (features, _) = try npyColumns(csv, reader: reader)
            if reader.shape.count != 2 || reader.elementType.scalarType == nil {
                _ = try reader.readRows(0..<0)  // not features: throws the reader's explanation
            }
            return (reader.rows, features.count)
        case .text:
            let scan = CSVScan(path: path, options: DataFileFormat.textOptions(csv, path: path))
            let (layout, rows) = try scan.run(parse: false) { _, _ in }
            return (rows, layout.featureIndices.count)
        }
    }

    /// The header of the label column emfleet writes in prediction files.
    public static let labelHeader = "label"

    /// Loads labels: a 1-D integer `.npy` file, or a one-column text file (strings allowed).
    ///
    /// A text file's first line is taken as a header when `header` says so, or, with
    /// `.auto`, when it is not a number and the second line is, or when it is
    /// ``labelHeader`` (the header of emfleet's prediction files).
    ///
    /// - Returns: one label per row, as text.
    /// - Throws: ``DatasetError`` for a missing or empty file, a float `.npy` array, or a
    ///   text line with more than one cell.
    public static func loadLabels(path: String, header: CSVOptions.Header = .auto) throws -> [String] {
        // Workers read a shared labels file once per shard: keep the last file read while it is unchanged.
        let key = "\(path)\u{0}\(try ReadableFile(path: path).identity())\u{0}\(header.rawValue)"
        if let hit = labelCache.withLock({ $0?.key == key ? $0?.labels : nil }) { return hit }
        let labels = try readLabels(path: path, header: header)
        labelCache.withLock { $0 = (key, labels) }
        return labels
    }

    private static let labelCache = Locked<(key: String, labels: [String])?>(nil)

    private static func readLabels(path: String, header: CSVOptions.Header) throws -> [String] {
        if case .npy = try DataFileFormat(path: path) {
            return try NPYReader(path: path).readIntegerLabels().map(String.init)
        }
        let file = try ReadableFile(path: path)
        var splitter: CSVLineSplitter?
        var cells: [CSVCell] = []
        var labels: [String] = []
        var firstIsNumber = true
        var lines = 0
        try forEachLine(of: file) { line, lineNumber in
            guard line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) else { return true }
            if splitter == nil {
                splitter = CSVLineSplitter(mode: line.contains(UInt8(ascii: ",")) ? .delimiter(UInt8(ascii: ",")) : .whitespace)
                if path.lowercased().hasSuffix(".tsv") { splitter = CSVLineSplitter(mode: .delimiter(UInt8(ascii: "\t"))) }
            }
            if let problem = splitter!.split(line, into: &cells) {
                throw DatasetError(file: path, row: lineNumber, numbering: .line, message: problem)
            }
            guard cells.count == 1 else {
                throw DatasetError(file: path, row: lineNumber, numbering: .line, message: "expected one label per line, found \(cells.count) cells")
            }
            lines += 1
            if lines == 1 { firstIsNumber = CSVLineSplitter.number(in: cells[0], of: line) != nil }
            if lines == 2, header == .auto, !firstIsNumber, CSVLineSplitter.number(in: cells[0], of: line) != nil {
                labels.removeAll()  // a name above numbers: the header
            }
            labels.append(CSVLineSplitter.text(of: cells[0], in: line))
            return true
        }
        if header == .present, !labels.isEmpty { labels.removeFirst() }
        // emfleet's own prediction files: a "label" header above text labels.
        if header == .auto, labels.count > 1, labels[0] == Self.labelHeader { labels.removeFirst() }
        guard !labels.isEmpty else { throw DatasetError(file: path, message: "has no labels") }
        return labels
    }

    /// Resolves the feature and label columns of an `.npy` file (indices only).
    static func npyColumns(_ options: CSVOptions, reader: NPYReader) throws -> (features: [Int], label: Int?) {
        let selection = ColumnSelection(file: reader.path, names: nil, count: reader.columns, unnamedHint: ".npy files have no column names")
        let (features, label, _) = try selection.resolve(options)
        return (features, label)
    }

    /// A label value as text: integers without a fraction (`3`, not `3.0`).
    private static func labelText(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 0x1p53 { return String(Int(value)) }
        return value.description
    }
}

/// Checks that every value of `matrix` is finite.
///
/// - Parameters:
///   - file: the file the matrix came from, for the message.
///   - firstRow: the 0-based data row of the matrix's first row in that file.
///   - columnNames: names to show for the columns, if the file has them.
/// - Throws: ``DatasetError`` naming the 0-based row and column of the first NaN or ±Inf
///   ("row 17, column 3: missing value (NaN); ...").
public func validateFinite(_ matrix: FeatureMatrix, file: String, firstRow: Int = 0, columnNames: [String]? = nil) throws {
    func firstNonFinite<T: BinaryFloatingPoint>(_ values: [T]) -> Int? {
        values.withUnsafeBufferPointer { buffer in
            for i in 0..<buffer.count where !buffer[i].isFinite { return i }
            return nil
        }
    }
    let index: Int?
    let value: Double
    switch matrix.storage {
    case .float32(let values):
        index = firstNonFinite(values)
        value = index.map { Double(values[$0]) } ?? 0
    case .float64(let values):
        index = firstNonFinite(values)
        value = index.map { values[$0] } ?? 0
    case .file(let rows):
        return try rows.verifyFinite()
    }
    guard let index else { return }
    let row = index / matrix.columns, column = index % matrix.columns
    throw DatasetError(
        file: file, row: firstRow + row, column: column,
        columnName: columnNames.flatMap { column < $0.count ? $0[column] : nil },
        numbering: .index,
        message: nonFiniteMessage(value)
    )
}

/// What to say of a NaN or infinite value where finite ones are needed.
func nonFiniteMessage(_ value: Double) -> String {
    if value.isNaN { return missingValueMessage("NaN") }
    return "value is \(value < 0 ? "-" : "+")infinity; remove or impute non-finite values first"
}

/// What to do about a missing value (`what`: "an empty cell", "\"NA\"", "NaN") in rows to be fitted or applied.
func missingValueMessage(_ what: String) -> String {
    "missing value (\(what)); pass --missing drop-rows (leave out rows with gaps) or --missing mean (fill gaps with "
        + "the column's mean), or leave the column out with --exclude-columns (`emfleet data inspect` counts them per column)"
}
