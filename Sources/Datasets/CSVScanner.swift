import Foundation
import Numerics

/// How one line of delimited text splits into cells.
enum CSVSplitMode: Equatable {
    /// Cells separated by one ASCII byte; spaces and tabs around cells are trimmed.
    case delimiter(UInt8)
    /// Cells separated by runs of spaces and tabs.
    case whitespace
}

/// One cell of a line: where its text lies and whether it was quoted.
struct CSVCell {
    /// Byte offsets of the text inside the line (between the quotes for a quoted cell).
    var range: Range<Int>
    /// The text contains doubled quotes (`""`) that stand for one quote.
    var hasEscapedQuotes = false
}

/// Splits one line into cells. Quotes follow RFC 4180 inside a line (`"a ""b"", c"`);
/// a quoted cell cannot span lines.
struct CSVLineSplitter {
    var mode: CSVSplitMode

    private static let space = UInt8(ascii: " ")
    private static let tab = UInt8(ascii: "\t")
    private static let quote = UInt8(ascii: "\"")

    /// Fills `cells` with the cells of `line`, or returns an error message for a broken quote.
    func split(_ line: UnsafeBufferPointer<UInt8>, into cells: inout [CSVCell]) -> String? {
        cells.removeAll(keepingCapacity: true)
        let count = line.count
        switch mode {
        case .whitespace:
            var i = 0
            while true {
                while i < count, line[i] == Self.space || line[i] == Self.tab { i += 1 }
                if i == count { return nil }
                if line[i] == Self.quote {
                    guard let cell = quoted(line, from: &i) else { return "a quoted cell is not closed on this line" }
                    cells.append(cell)
                    if i < count, line[i] != Self.space, line[i] != Self.tab { return "unexpected text after a closing quote" }
                } else {
                    let start = i
                    while i < count, line[i] != Self.space, line[i] != Self.tab { i += 1 }
                    cells.append(CSVCell(range: start..<i))
                }
            }
        case .delimiter(let delimiter):
            let trimSpace = delimiter != Self.space, trimTab = delimiter != Self.tab
            func isBlank(_ byte: UInt8) -> Bool { (byte == Self.space && trimSpace) || (byte == Self.tab && trimTab) }
            var i = 0
            while true {
                while i < count, isBlank(line[i]) { i += 1 }
                if i < count, line[i] == Self.quote {
                    guard let cell = quoted(line, from: &i) else { return "a quoted cell is not closed on this line" }
                    cells.append(cell)
                    while i < count, isBlank(line[i]) { i += 1 }
                    if i < count, line[i] != delimiter { return "unexpected text after a closing quote" }
                } else {
                    let start = i
                    while i < count, line[i] != delimiter { i += 1 }
                    var end = i
                    while end > start, isBlank(line[end - 1]) { end -= 1 }
                    cells.append(CSVCell(range: start..<end))
                }
                if i == count { return nil }
                i += 1  // the delimiter
            }
        }
    }

    /// Scans a quoted cell starting at the opening quote; leaves `i` after the closing quote.
    private func quoted(_ line: UnsafeBufferPointer<UInt8>, from i: inout Int) -> CSVCell? {
        let start = i + 1
        var j = start
        var escaped = false
        while j < line.count {
            if line[j] == Self.quote {
                if j + 1 < line.count, line[j + 1] == Self.quote {
                    escaped = true
                    j += 2
                    continue
                }
                i = j + 1
                return CSVCell(range: start..<j, hasEscapedQuotes: escaped)
            }
            j += 1
        }
        return nil
    }

    /// The text of `cell`, with doubled quotes undone.
    static func text(of cell: CSVCell, in line: UnsafeBufferPointer<UInt8>) -> String {
        let text = String(decoding: UnsafeBufferPointer(rebasing: line[cell.range]), as: UTF8.self)
        return cell.hasEscapedQuotes ? text.replacingOccurrences(of: "\"\"", with: "\"") : text
    }

    /// The number in `cell`, or `nil` if its text is not one (`nan`, `inf` and hex floats count as numbers).
    static func number(in cell: CSVCell, of line: UnsafeBufferPointer<UInt8>) -> Double? {
        guard !cell.range.isEmpty, !cell.hasEscapedQuotes else { return nil }
        return parseDouble(UnsafeBufferPointer(rebasing: line[cell.range]))
    }

    /// Parses all of `text` as a `Double`, locale-independently (the grammar of Swift's `Double(_:)`).
    static func parseDouble(_ text: UnsafeBufferPointer<UInt8>) -> Double? {
        Double(String(decoding: text, as: UTF8.self))
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}

/// A place in a text file: the byte offset where a line starts and that line's 1-based number.
struct TextPosition: Equatable {
    var offset: Int
    var line: Int
    static let start = TextPosition(offset: 0, line: 1)
}

/// Streams the lines of a text file: `body` gets each line without its line break (and
/// without a UTF-8 byte-order mark on line 1) and its 1-based number; it returns `false` to stop.
func forEachLine(of file: ReadableFile, _ body: (UnsafeBufferPointer<UInt8>, Int) throws -> Bool) throws {
    try forEachLine(of: file, from: .start) { line, position in try body(line, position.line) }
}

/// Streams the lines of a text file from `start` (a line's beginning); `body` also gets where each line starts.
func forEachLine(of file: ReadableFile, from start: TextPosition, _ body: (UnsafeBufferPointer<UInt8>, TextPosition) throws -> Bool) throws {
    var carry: [UInt8] = []
    var carryOffset = 0
    var lineNumber = start.line - 1
    var chunkOffset = start.offset
    var stopped = false
    func deliver(_ line: UnsafeBufferPointer<UInt8>, at offset: Int) throws -> Bool {
        lineNumber += 1
        var line = line
        if offset == 0, line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF {
            line = UnsafeBufferPointer(rebasing: line[3...])
        }
        if let last = line.last, last == UInt8(ascii: "\r") {
            line = UnsafeBufferPointer(rebasing: line[..<(line.count - 1)])
        }
        return try body(line, TextPosition(offset: offset, line: lineNumber))
    }
    try file.forEachChunk(from: start.offset) { chunk in
        let bytes = chunk.bindMemory(to: UInt8.self)
        defer { chunkOffset += bytes.count }
        var start = 0
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                if carry.isEmpty { carryOffset = chunkOffset + start }
                carry.append(contentsOf: bytes[start...])
                return true
            }
            let keepGoing: Bool
            if carry.isEmpty {
                keepGoing = try deliver(UnsafeBufferPointer(rebasing: bytes[start..<newline]), at: chunkOffset + start)
            } else {
                carry.append(contentsOf: bytes[start..<newline])
                keepGoing = try carry.withUnsafeBufferPointer { try deliver($0, at: carryOffset) }
                carry.removeAll(keepingCapacity: true)
            }
            guard keepGoing else {
                stopped = true
                return false
            }
            start = newline + 1
        }
        return true
    }
    if !stopped, !carry.isEmpty {
        _ = try carry.withUnsafeBufferPointer { try deliver($0, at: carryOffset) }
    }
}

/// What the first line of a delimited file tells: how to split, the header, and which cells to use.
struct CSVLayout {
    var mode: CSVSplitMode
    /// The header's cells, if the file has a header.
    var header: [String]?
    /// Cells per line.
    var cellCount: Int
    /// The cells read as features, in order.
    var featureIndices: [Int]
    /// The cell read as the label, if any.
    var labelIndex: Int?

    /// The header names of the feature columns, if the file has a header.
    var featureNames: [String]? { header.map { header in featureIndices.map { header[$0] } } }
}

/// One pass over a delimited text file, calling back for each data row.
///
/// Used by ``CSVReader`` (collects rows), ``DatasetInspector`` (summarises rows in one
/// streaming pass) and ``DatasetLoader/shape(path:csv:)`` (counts rows without parsing).
struct CSVScan {
    let path: String
    let options: CSVOptions

    private func fail(_ line: Int, _ message: String, cell: Int? = nil, layout: CSVLayout? = nil) -> DatasetError {
        DatasetError(
            file: path, row: line, column: cell.map { $0 + 1 },
            columnName: cell.flatMap { cell in layout?.header.flatMap { cell < $0.count ? $0[cell] : nil } },
            numbering: .line, message: message
        )
    }

    /// Reads the file.
    ///
    /// - Parameters:
    ///   - rows: the data rows (0-based) to deliver; lines before them are skipped without
    ///     being parsed and reading stops after them. `nil` delivers every row.
    ///   - parse: `false` only counts rows (no cell is split or checked after the first line).
    ///   - finiteOnly: refuse a NaN or infinite feature value, naming its line and column.
    ///   - row: called with each delivered row's feature values and label text.
    /// - Returns: the layout and the number of data rows seen (all of them unless reading stopped early).
    ///   - resume: start at this data row, at its place in the file, with the layout the
    ///     first line gave (from a ``CSVRowIndex``); `nil` reads from the top.
    ///   - mark: called with each data row's index and where its line starts (index building).
    func run(
        rows range: Range<Int>? = nil,
        parse: Bool = true,
        finiteOnly: Bool = false,
        resume: (layout: CSVLayout, position: TextPosition, row: Int)? = nil,
        mark: ((Int, TextPosition) -> Void)? = nil,
        row: (UnsafeBufferPointer<Double>, String?) throws -> Void
    ) throws -> (layout: CSVLayout, dataRows: Int) {
        let file = try ReadableFile(path: path)
        var layout: CSVLayout? = resume?.layout
        var dataRows = resume?.row ?? 0
        var sawHeaderLine = resume?.layout.header != nil
        var cells: [CSVCell] = []
        var values: [Double] = []
        var splitter = CSVLineSplitter(mode: resume?.layout.mode ?? .whitespace)

        try forEachLine(of: file, from: resume?.position ?? .start) { line, position in
            let lineNumber = position.line
            // Blank lines are skipped wherever they are.
            guard line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) else { return true }

            if layout == nil {
                let mode = try splitMode(firstLine: line, lineNumber: lineNumber)
                splitter = CSVLineSplitter(mode: mode)
                if let problem = splitter.split(line, into: &cells) { throw fail(lineNumber, problem) }
                let isHeader: Bool
                switch options.header {
                case .present: isHeader = true
                case .absent: isHeader = false
                case .auto: isHeader = cells.contains { Self.isHeaderCell($0, of: line) }
                }
                let header = isHeader ? cells.map { CSVLineSplitter.text(of: $0, in: line) } : nil
                layout = try resolveLayout(mode: mode, header: header, cellCount: cells.count, lineNumber: lineNumber)
                if isHeader {
                    sawHeaderLine = true
                    return range.map { $0.upperBound > 0 } ?? true
                }
            }

            let index = dataRows
            dataRows += 1
            mark?(index, position)
            if let range {
                if index < range.lowerBound { return true }
                if index >= range.upperBound { dataRows -= 1; return false }
            }
            guard parse, let layout else { return true }
            if let problem = splitter.split(line, into: &cells) { throw fail(lineNumber, problem) }
            guard cells.count == layout.cellCount else {
                let reference = layout.header != nil ? "the header has" : "the first row has"
                throw fail(lineNumber, "expected \(layout.cellCount) cells (\(reference) \(layout.cellCount)), found \(cells.count)")
            }
            values.removeAll(keepingCapacity: true)
            for cellIndex in layout.featureIndices {
                let cell = cells[cellIndex]
                var parsed = CSVLineSplitter.number(in: cell, of: line)
                if parsed == nil {
                    let text = CSVLineSplitter.text(of: cell, in: line)
                    guard MissingValues.isMissing(text) else {
                        // A text column among the features (an ID, a label) is the usual cause.
                        throw fail(lineNumber, "\"\(text)\" is not a number; if the column holds text, leave it out with --exclude-columns \(layout.header?[cellIndex] ?? String(cellIndex))"
                            + " (or name it with --label-column)", cell: cellIndex, layout: layout)
                    }
                    // A missing value reads as NaN; a fit refuses it below, naming the cell.
                    if finiteOnly {
                        throw fail(lineNumber, missingValueMessage(text.isEmpty ? "an empty cell" : "\"\(text)\""), cell: cellIndex, layout: layout)
                    }
                    parsed = .nan
                }
                let value = parsed!
                if finiteOnly, !value.isFinite {
                    throw fail(lineNumber, nonFiniteMessage(value), cell: cellIndex, layout: layout)
                }
                values.append(value)
            }
            let label = layout.labelIndex.map { CSVLineSplitter.text(of: cells[$0], in: line) }
            try values.withUnsafeBufferPointer { try row($0, label) }
            return !(range.map { dataRows >= $0.upperBound } ?? false)
        }

        guard let layout else { throw DatasetError(file: path, message: "is empty; expected rows of numbers") }
        if dataRows == 0, range == nil || range!.upperBound > 0 {
            let what = sawHeaderLine ? "has a header but no data rows" : "has no data rows"
            throw DatasetError(file: path, message: what)
        }
        if let range, range.upperBound > dataRows || range.lowerBound < 0 {
            throw DatasetError(
                file: path,
                message: "rows \(range.lowerBound)..<\(range.upperBound) requested but the file has \(dataRows) data rows"
            )
        }
        return (layout, dataRows)
    }

    /// Whether a first-line cell makes the line a header: text that is neither a number nor a
    /// missing value (a first data row with a gap is still data).
    static func isHeaderCell(_ cell: CSVCell, of line: UnsafeBufferPointer<UInt8>) -> Bool {
        CSVLineSplitter.number(in: cell, of: line) == nil && !MissingValues.isMissing(CSVLineSplitter.text(of: cell, in: line))
    }

    /// Reads every cell of every line as text, for tables whose columns are not all numbers.
    ///
    /// The header is found as ``run(rows:parse:finiteOnly:resume:mark:row:)`` finds it; no
    /// column is selected or parsed. Rows with the wrong number of cells are refused alike.
    /// - Returns: the header's cells (if any) and the number of data rows.
    func runCells(_ row: ([String], Int) throws -> Void) throws -> (header: [String]?, dataRows: Int) {
        let file = try ReadableFile(path: path)
        var splitter: CSVLineSplitter?
        var header: [String]?
        var width = 0, dataRows = 0
        var cells: [CSVCell] = []
        try forEachLine(of: file) { line, lineNumber in
            guard line.contains(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }) else { return true }
            if splitter == nil {
                let made = CSVLineSplitter(mode: try splitMode(firstLine: line, lineNumber: lineNumber))
                splitter = made
                if let problem = made.split(line, into: &cells) { throw fail(lineNumber, problem) }
                width = cells.count
                let isHeader: Bool
                switch options.header {
                case .present: isHeader = true
                case .absent: isHeader = false
                case .auto: isHeader = cells.contains { Self.isHeaderCell($0, of: line) }
                }
                if isHeader {
                    header = cells.map { CSVLineSplitter.text(of: $0, in: line) }
                    return true
                }
            } else if let problem = splitter!.split(line, into: &cells) {
                throw fail(lineNumber, problem)
            }
            guard cells.count == width else {
                throw fail(lineNumber, "expected \(width) cells (\(header != nil ? "the header has" : "the first row has") \(width)), found \(cells.count)")
            }
            dataRows += 1
            try row(cells.map { CSVLineSplitter.text(of: $0, in: line) }, lineNumber)
            return true
        }
        guard splitter != nil else { throw DatasetError(file: path, message: "is empty; expected rows of numbers") }
        if dataRows == 0 { throw DatasetError(file: path, message: header != nil ? "has a header but no data rows" : "has no data rows") }
        return (header, dataRows)
    }

    private func splitMode(firstLine line: UnsafeBufferPointer<UInt8>, lineNumber: Int) throws -> CSVSplitMode {
        guard let delimiter = options.delimiter else {
            return line.contains(UInt8(ascii: ",")) ? .delimiter(UInt8(ascii: ",")) : .whitespace
        }
        guard let ascii = delimiter.asciiValue, delimiter != "\"", delimiter != "\n", delimiter != "\r" else {
            throw DatasetError(file: path, message: "the delimiter must be one ASCII character other than a quote or line break, not \"\(delimiter)\"")
        }
        return ascii == UInt8(ascii: " ") ? .whitespace : .delimiter(ascii)
    }

    private func resolveLayout(mode: CSVSplitMode, header: [String]?, cellCount: Int, lineNumber: Int) throws -> CSVLayout {
        let selection = ColumnSelection(file: path, names: header, count: cellCount, unnamedHint: "the file has no header")
        let (features, labelIndex, _) = try selection.resolve(options)
        return CSVLayout(mode: mode, header: header, cellCount: cellCount, featureIndices: features, labelIndex: labelIndex)
    }
}

/// Where every `stride`-th data row of a text file starts, from one counting pass, so that a
/// range of rows deep in a big file is read without scanning every line above it.
///
/// Workers reading their shards of a shared text file, and the coordinator streaming one,
/// build it once per file (kept while the file's size and modification time stay the same).
final class CSVRowIndex: @unchecked Sendable {
    // @unchecked: immutable after init; the cache is guarded by its lock.
    static let stride = 4096
    let layout: CSVLayout
    /// `positions[k]` is where data row `k · stride` starts.
    let positions: [TextPosition]
    let rows: Int

    private init(scan: CSVScan) throws {
        var positions: [TextPosition] = []
        let (layout, rows) = try scan.run(parse: false, mark: { index, position in
            if index % Self.stride == 0 { positions.append(position) }
        }) { _, _ in }
        self.layout = layout
        self.positions = positions
        self.rows = rows
    }

    /// Where to start reading for data row `row` (at or before it).
    func resume(for row: Int) -> (layout: CSVLayout, position: TextPosition, row: Int) {
        let k = min(row / Self.stride, positions.count - 1)
        return (layout, positions[k], k * Self.stride)
    }

    private static let cache = Locked<[(key: String, index: CSVRowIndex)]>([])

    /// The index of the file `scan` reads, built on first use.
    static func of(_ scan: CSVScan) throws -> CSVRowIndex {
        let o = scan.options
        let key = [scan.path, try ReadableFile(path: scan.path).identity(), o.delimiter.map { String($0) } ?? "-", o.header.rawValue,
                   o.columns?.joined(separator: "\u{1}") ?? "-", o.excludedColumns?.joined(separator: "\u{1}") ?? "-", o.labelColumn ?? "-",
                   o.weightColumn ?? "-"].joined(separator: "\u{0}")
        if let hit = cache.withLock({ $0.first { $0.key == key }?.index }) { return hit }
        let index = try CSVRowIndex(scan: scan)
        cache.withLock { cache in
            cache.removeAll { $0.key == key }
            cache.append((key, index))
            if cache.count > 4 { cache.removeFirst() }
        }
        return index
    }
}
