/// How to read a delimited text file (CSV, TSV or whitespace-separated columns).
public struct CSVOptions: Sendable {
    /// Whether the first non-blank line is a header.
    public enum Header: String, Sendable, CaseIterable {
        /// A header if any cell of the first line is not a number.
        case auto
        /// The first line is a header.
        case present
        /// Every line is data.
        case absent
    }

    /// The cell separator; `nil` detects it: a comma if the first line has one, else runs
    /// of spaces and tabs. A space also means runs of spaces and tabs.
    public var delimiter: Character?
    /// Whether the first line is a header.
    public var header: Header
    /// The feature columns to read, in this order, by header name or 0-based index
    /// (`"3"`), or runs of them as ranges of either (`"2...14"`, `"alcohol...proline"`,
    /// both ends included; a range skips the label and weight columns); a name matching a
    /// header cell wins over an index. `nil`: every column but the label and weight columns.
    public var columns: [String]?
    /// Columns never read as features, named as in ``columns`` (ranges too); left out of
    /// ``columns`` when it is given, else of every column.
    public var excludedColumns: [String]?
    /// The label column, by header name or 0-based index; never read as a feature.
    public var labelColumn: String?
    /// The sample-weight column, by header name or 0-based index; never read as a feature
    /// (``SampleWeights/read(column:of:csv:rows:)`` reads it).
    public var weightColumn: String?
    /// What a read that needs finite features (`finiteOnly`) does with missing values; any file type.
    public var missing: MissingPolicy
    /// With ``MissingPolicy/mean``: the means to fill each feature column's gaps with (a model's
    /// training means, or a distributed job's); nil computes them from the rows read.
    public var imputationMeans: [Double]?

    /// Creates options; the defaults detect the delimiter and header and read every column as a feature.
    public init(
        delimiter: Character? = nil, header: Header = .auto, columns: [String]? = nil, excludedColumns: [String]? = nil,
        labelColumn: String? = nil, weightColumn: String? = nil, missing: MissingPolicy = .error, imputationMeans: [Double]? = nil
    ) {
        self.missing = missing
        self.imputationMeans = imputationMeans
        self.delimiter = delimiter
        self.header = header
        self.columns = columns
        self.excludedColumns = excludedColumns
        self.labelColumn = labelColumn
        self.weightColumn = weightColumn
    }
}

/// Reads delimited text files of numbers, streaming them in blocks.
///
/// Rules: blank lines are skipped; cells may be quoted (`"a, b"`, with `""` for a
/// quote) within a line; spaces around cells are trimmed; `nan`, `inf` and `-inf`
/// are numbers (`finiteOnly` refuses them, as fitting needs). Errors give the
/// 1-based line and column as an editor shows them (see ``DatasetError``).
public enum CSVReader {
    /// Reads the features (and labels) of `path`.
    ///
    /// - Parameters:
    ///   - options: delimiter, header, column selection and label column.
    ///   - rows: the data rows (0-based, not counting the header) to read; lines before
    ///     them are skipped without being parsed, and reading stops after them.
    /// - Returns: the feature matrix (`float64`), the feature column names and the labels.
    /// - Throws: ``DatasetError`` for a missing or empty file, no data rows, a cell that is
    ///   not a number (with its line, column and text), a row with the wrong number of
    ///   cells, an unknown column, or a row range beyond the end of the file.
    ///   - finiteOnly: refuse a NaN or infinite feature value, naming its line and column.
    public static func read(path: String, options: CSVOptions = .init(), rows: Range<Int>? = nil, finiteOnly: Bool = false) throws -> LoadedDataset {
        var values: [Double] = []
        var labels: [String] = []
        let wantsLabels = options.labelColumn != nil
        let scan = CSVScan(path: path, options: options)
        // Rows deep in the file: start at the nearest indexed row, not at the top.
        let resume = try rows.flatMap { $0.lowerBound >= CSVRowIndex.stride ? try CSVRowIndex.of(scan).resume(for: $0.lowerBound) : nil }
        let (layout, _) = try scan.run(rows: rows, finiteOnly: finiteOnly, resume: resume) { row, label in
            values.append(contentsOf: row)
            if wantsLabels, let label { labels.append(label) }
        }
        let columns = layout.featureIndices.count
        return LoadedDataset(
            features: FeatureMatrix(rows: values.count / columns, columns: columns, values: values),
            columnNames: layout.featureNames,
            labels: wantsLabels ? labels : nil
        )
    }
}

/// Writes delimited text files, atomically.
public enum CSVWriter {
    /// Writes `matrix` as comma-separated text with an optional header line.
    ///
    /// Numbers are written in Swift's shortest round-trip form (`0.1`, `1e-300`), so
    /// reading the file back gives the same bits; `float32` matrices are written as
    /// `Float` text, which reads back to the same `Float`.
    ///
    /// - Precondition: `columnNames`, if given, has one name per column.
    public static func write(_ matrix: FeatureMatrix, columnNames: [String]?, to path: String) throws {
        let matrix = matrix.inMemory()
        precondition(columnNames == nil || columnNames!.count == matrix.columns, "one name per column")
        try AtomicFileWriter.write(to: path) { out in
            if let columnNames { try out.write(columnNames.map(escape).joined(separator: ",") + "\n") }
            let blockRows = max(1, 16384 / max(1, matrix.columns))
            var text = ""
            for blockStart in stride(from: 0, to: matrix.rows, by: blockRows) {
                text.removeAll(keepingCapacity: true)
                for row in blockStart..<min(matrix.rows, blockStart + blockRows) {
                    let base = row * matrix.columns
                    for column in 0..<matrix.columns {
                        if column > 0 { text += "," }
                        switch matrix.storage {
                        case .float32(let values): text += values[base + column].description
                        case .float64(let values): text += values[base + column].description
                        case .file: preconditionFailure("inMemory() holds its rows in memory")
                        }
                    }
                    text += "\n"
                }
                try out.write(text)
            }
        }
    }

    /// Writes rows of text cells (quoted where needed) with an optional header line.
    public static func writeColumns(header: [String]?, rows: [[String]], to path: String) throws {
        try AtomicFileWriter.write(to: path) { out in
            if let header { try out.write(header.map(escape).joined(separator: ",") + "\n") }
            var text = ""
            for (index, row) in rows.enumerated() {
                text += row.map(escape).joined(separator: ",") + "\n"
                if index % 4096 == 4095 {
                    try out.write(text)
                    text.removeAll(keepingCapacity: true)
                }
            }
            try out.write(text)
        }
    }

    /// Quotes a cell that holds a comma, a quote, surrounding spaces or nothing.
    static func escape(_ cell: String) -> String {
        let needsQuotes = cell.isEmpty || cell.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
            || cell.first == " " || cell.last == " " || cell.first == "\t" || cell.last == "\t"
        guard needsQuotes else { return cell }
        return "\"" + cell.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}
