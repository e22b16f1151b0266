/// The texts that stand for a missing value in a text file.
public enum MissingValues {
    /// An empty cell and the words pandas, R and databases write for a missing value.
    public static let tokens: Set<String> = ["", "NA", "N/A", "NaN", "nan", "NAN", "null", "NULL", "None"]

    /// Whether `cell` (already trimmed) stands for a missing value.
    public static func isMissing(_ cell: String) -> Bool { tokens.contains(cell) }
}

/// What one column of a table holds, for `emfleet data inspect` on tables as people have them.
public struct TableColumnSummary: Sendable, Equatable {
    /// Numbers or text.
    public enum Kind: String, Sendable, Equatable {
        /// Every present cell is a number.
        case numeric
        /// Some present cell is not a number.
        case text
    }

    /// The header's name for the column, if the file has one.
    public var name: String?
    /// The column's 0-based index in the file.
    public var index: Int
    /// Numbers or text.
    public var kind: Kind
    /// Cells that are empty or hold a missing-value word (``MissingValues``), or NaN.
    public var missing: Int
    /// The statistics of a numeric column's finite values (`nanCount` is 0: NaN counts as missing).
    public var numbers: ColumnSummary?
    /// A text column's distinct values with their counts, most frequent first (at most
    /// ``TableInspector/valueLimit`` of them).
    public var values: [TextCount]
    /// How many distinct present values a text column has: exactly, or at least this many
    /// when ``distinctCountIsExact`` is false (past ``TableInspector/valueLimit``).
    public var distinctCount: Int
    /// Whether ``distinctCount`` counts every distinct value.
    public var distinctCountIsExact: Bool
    /// A different value on every row, each an integer in increasing order, a run of
    /// consecutive integers, or text: a row identifier rather than a measurement.
    public var looksLikeIdentifier: Bool
}

/// One text value of a column and how many rows hold it.
public struct TextCount: Sendable, Equatable {
    /// The value.
    public var value: String
    /// The rows holding it.
    public var count: Int

    /// A value and its count.
    public init(value: String, count: Int) {
        self.value = value
        self.count = count
    }
}

/// Summarises every column of a text table in one pass, whatever the columns hold.
public enum TableInspector {
    /// The most distinct values a text column keeps counts of.
    public static let valueLimit = 10_000
    /// The most values kept to tell whether a column repeats one; beyond, a column that has
    /// not repeated yet is taken to be unique.
    static let uniquenessLimit = 1 << 20
    /// Fewer rows than this prove nothing about identifiers.
    static let identifierMinimumRows = 10

    /// Every column of the text file at `path`: numeric ones with their statistics and
    /// missing cells, text ones with their values.
    ///
    /// - Parameter csv: the delimiter and header; column selection is not applied (every column is shown).
    /// - Returns: the data rows and one summary per column of the file.
    /// - Throws: ``DatasetError`` for an unreadable file or a row with the wrong number of cells.
    public static func summarize(path: String, csv: CSVOptions = .init()) throws -> (rows: Int, columns: [TableColumnSummary]) {
        let scan = CSVScan(path: path, options: DataFileFormat.textOptions(csv, path: path))
        var trackers: [ColumnTracker] = []
        let (header, rows) = try scan.runCells { cells, _ in
            if trackers.isEmpty { trackers = Array(repeating: ColumnTracker(), count: cells.count) }
            for (slot, cell) in cells.enumerated() { trackers[slot].add(cell) }
        }
        let columns = trackers.enumerated().map { index, tracker in tracker.summary(name: header?[index], index: index, rows: rows) }
        return (rows, columns)
    }

    /// The feature columns of `path` that look like row identifiers, from its first
    /// `sampleRows` rows (text files: all columns' cells; `.npy`: the numbers).
    ///
    /// For a warning before a fit: a column of serial numbers or IDs among the features
    /// silently becomes a dimension of the model.
    /// - Returns: the suspects' 0-based indices in the file and names (when the file has them).
    public static func identifierFeatures(path: String, csv: CSVOptions, sampleRows: Int = 1000) throws -> [(index: Int, name: String?)] {
        // The first rows only, without a counting pass over a large text file: a file too
        // short for the range is small enough to read whole.
        let loaded: LoadedDataset
        do {
            loaded = try DatasetLoader.load(path: path, csv: csv, rows: 0..<sampleRows)
        } catch {
            loaded = try DatasetLoader.load(path: path, csv: csv)
        }
        let rows = loaded.features.rows
        guard rows >= identifierMinimumRows, rows <= sampleRows else { return [] }
        let features = try DatasetLoader.featureColumns(path: path, csv: csv)
        var suspects: [(Int, String?)] = []
        for slot in 0..<loaded.features.columns {
            var tracker = ColumnTracker()
            for row in 0..<rows { tracker.add(number: loaded.features[row: row, column: slot]) }
            if tracker.looksLikeIdentifier(rows: rows) { suspects.append((features[slot], loaded.columnNames?[slot])) }
        }
        return suspects
    }
}

/// One column's running summary: kind, missing cells, statistics, values, uniqueness.
struct ColumnTracker {
    var missing = 0
    var present = 0
    var statistics = RunningColumnStatistics()
    var allNumbers = true
    var allIntegers = true
    var increasing = true
    var last = -Double.infinity
    var counts: [String: Int] = [:]
    var overflow = false
    var seen: Set<String>? = []

    mutating func add(_ cell: String) {
        if MissingValues.isMissing(cell) { missing += 1; return }
        present += 1
        if allNumbers, let value = Double(cell), !value.isNaN {
            note(value)
        } else {
            allNumbers = false
        }
        if counts[cell] != nil {
            counts[cell]! += 1
        } else if counts.count < TableInspector.valueLimit {
            counts[cell] = 1
        } else {
            overflow = true
        }
        if seen != nil {
            if !seen!.insert(cell).inserted { seen = nil } else if seen!.count > TableInspector.uniquenessLimit { seen!.removeAll() }
        }
    }

    mutating func add(number value: Double) {
        if value.isNaN { missing += 1; return }
        present += 1
        note(value)
        if seen != nil {
            if !seen!.insert(value.description).inserted { seen = nil }
        }
    }

    private mutating func note(_ value: Double) {
        statistics.add(value)
        if value.rounded() != value || !value.isFinite { allIntegers = false }
        if value <= last { increasing = false }
        last = value
    }

    func looksLikeIdentifier(rows: Int) -> Bool {
        guard rows >= TableInspector.identifierMinimumRows, missing == 0, seen != nil else { return false }
        if !allNumbers { return true }
        guard allIntegers, statistics.count == present else { return false }
        return increasing || statistics.maximum - statistics.minimum + 1 == Double(present)
    }

    func summary(name: String?, index: Int, rows: Int) -> TableColumnSummary {
        let numeric = allNumbers && present > 0 || present == 0
        var values = counts.map { TextCount(value: $0.key, count: $0.value) }
        values.sort { $0.count != $1.count ? $0.count > $1.count : $0.value < $1.value }
        return TableColumnSummary(
            name: name, index: index, kind: numeric ? .numeric : .text, missing: missing,
            numbers: numeric ? statistics.summary(name: name, index: index) : nil,
            values: numeric ? [] : values, distinctCount: numeric ? 0 : counts.count, distinctCountIsExact: !overflow,
            looksLikeIdentifier: looksLikeIdentifier(rows: rows))
    }
}
