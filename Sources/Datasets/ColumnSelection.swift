import Foundation

/// Turns the column options of ``CSVOptions`` into column indices, for text and `.npy` files alike.
///
/// A column is named by its header name or its 0-based index (a name matching a header cell
/// wins over an index), and a run of columns by a range `A...B` of either (`2...14`,
/// `alcohol...proline`), both ends included. ``CSVOptions/excludedColumns`` are then left
/// out of the features, whichever way these were chosen.
struct ColumnSelection {
    /// The file, for messages.
    let file: String
    /// The header's names, when the file has them.
    let names: [String]?
    /// Columns in the file.
    let count: Int
    /// What to say when a column is named but the file has no names.
    let unnamedHint: String

    /// The features and the label column `options` select.
    ///
    /// - Throws: ``DatasetError`` for an unknown column or range, a column that is both a
    ///   feature and the label or weight column, a column selected twice, or no features left.
    func resolve(_ options: CSVOptions) throws -> (features: [Int], label: Int?, weight: Int?) {
        let label = try options.labelColumn.map(column)
        let weight = try options.weightColumn.map(column)
        if let weight, weight == label {
            throw fail("column \(describe(weight)) is both the label column and the weight column")
        }
        var features: [Int]
        if let requested = options.columns {
            features = []
            for spec in requested {
                if let range = try range(spec) {
                    // A range names the columns around the label and weight, not them.
                    features += range.filter { $0 != label && $0 != weight }
                } else {
                    let index = try column(spec)
                    if index == label { throw fail("column \(describe(index)) is both a feature column and the label column") }
                    if index == weight { throw fail("column \(describe(index)) is both a feature column and the weight column") }
                    features.append(index)
                }
            }
            var seen = Set<Int>()
            if let duplicate = features.first(where: { !seen.insert($0).inserted }) {
                throw fail("column \(describe(duplicate)) is selected twice")
            }
        } else {
            features = Array(0..<count).filter { $0 != label && $0 != weight }
        }
        if let excluded = options.excludedColumns {
            var left = Set<Int>()
            for spec in excluded {
                if let range = try range(spec) { left.formUnion(range) } else { left.insert(try column(spec)) }
            }
            features.removeAll { left.contains($0) }
        }
        guard !features.isEmpty else { throw fail("no feature columns are left to read") }
        return (features, label, weight)
    }

    /// The columns a range spec `A...B` covers, or `nil` when `spec` is not a range (or is a
    /// header name that happens to contain `...`).
    func range(_ spec: String) throws -> ClosedRange<Int>? {
        if names?.contains(spec) == true { return nil }
        let parts = spec.components(separatedBy: "...")
        guard parts.count == 2 else { return nil }
        let low = try column(parts[0].trimmingCharacters(in: .whitespaces))
        let high = try column(parts[1].trimmingCharacters(in: .whitespaces))
        guard low <= high else {
            throw fail("the range \"\(spec)\" runs backwards (column \(describe(low)) comes after column \(describe(high)))")
        }
        return low...high
    }

    /// One column by name, then by 0-based index.
    func column(_ spec: String) throws -> Int {
        if let names, let index = names.firstIndex(of: spec) { return index }
        if let index = Int(spec) {
            guard index >= 0, index < count else {
                throw fail("column index \(index) is out of range; the file has \(count) columns, indexed 0 to \(count - 1)")
            }
            return index
        }
        if let names {
            throw fail("unknown column \"\(spec)\"; the columns are \(names.map { "\"\($0)\"" }.joined(separator: ", "))")
        }
        throw fail("unknown column \"\(spec)\": \(unnamedHint), so name columns by 0-based index (0 to \(count - 1))")
    }

    private func describe(_ index: Int) -> String {
        names.map { "\"\($0[index])\"" } ?? String(index)
    }

    private func fail(_ message: String) -> DatasetError { DatasetError(file: file, message: message) }
}
