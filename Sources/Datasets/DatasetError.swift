/// A failure to read, parse, validate or write a data file, with the place it concerns.
///
/// The ``description`` is one line: the file, then the place, then what went wrong and,
/// where it helps, what to do:
///
/// ```
/// data.csv: line 1042, column 7 ("price"): "n/a" is not a number
/// x.npy: row 17, column 3: missing value (NaN); pass --missing drop-rows (leave out rows with gaps) or …
/// x.npy: truncated: header says 1000 rows of 16 float64 (128000 bytes) but 12000 bytes follow the header
/// ```
///
/// Two numbering conventions, told apart by ``numbering`` and by the words used:
/// - ``Numbering/line``: text files. ``row`` is the **1-based line number** in the file,
///   counting the header and blank lines, as an editor shows it ("line N"); ``column``
///   is the **1-based field** on that line, as a spreadsheet counts it ("column N").
/// - ``Numbering/index``: arrays (`.npy` files and in-memory matrices). ``row`` and
///   ``column`` are **0-based indices** as numpy writes them (`x[row, column]`),
///   printed as "row N, column N".
public struct DatasetError: Error, CustomStringConvertible, Equatable {
    /// How ``row`` and ``column`` count.
    public enum Numbering: Sendable, Equatable {
        /// 1-based line and field numbers of a text file ("line N, column N").
        case line
        /// 0-based row and column indices of an array ("row N, column N").
        case index
    }

    /// The file concerned, as the user named it.
    public var file: String
    /// The line (``Numbering/line``) or row index (``Numbering/index``), if the error concerns one.
    public var row: Int?
    /// The column (1-based field or 0-based index, see ``numbering``), if the error concerns one.
    public var column: Int?
    /// The column's header name, when the file has one.
    public var columnName: String?
    /// How ``row`` and ``column`` count.
    public var numbering: Numbering
    /// What went wrong, and what to do where that helps.
    public var message: String

    /// Creates an error; see the type's discussion for how `row` and `column` count.
    public init(file: String, row: Int? = nil, column: Int? = nil, columnName: String? = nil, numbering: Numbering = .index, message: String) {
        self.file = file
        self.row = row
        self.column = column
        self.columnName = columnName
        self.numbering = numbering
        self.message = message
    }

    /// One line: `file: place: message`.
    public var description: String {
        var place: [String] = []
        if let row {
            place.append(numbering == .line ? "line \(row)" : "row \(row)")
        }
        if let column {
            var text = "column \(column)"
            if let columnName { text += " (\"\(columnName)\")" }
            place.append(text)
        } else if let columnName {
            place.append("column \"\(columnName)\"")
        }
        let location = place.isEmpty ? "" : place.joined(separator: ", ") + ": "
        return "\(file): \(location)\(message)"
    }
}
