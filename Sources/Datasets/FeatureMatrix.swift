import CKernels
/// The precision of the numbers in a feature file or matrix.
public enum ScalarType: String, Sendable, CaseIterable {
    /// IEEE 754 single precision (numpy `float32`, descr `'<f4'`).
    case float32
    /// IEEE 754 double precision (numpy `float64`, descr `'<f8'`).
    case float64

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .float32: 4
        case .float64: 8
        }
    }

    /// The numpy descr string for little-endian data of this type.
    public var npyDescr: String {
        switch self {
        case .float32: "<f4"
        case .float64: "<f8"
        }
    }
}

/// A row-major block of features that keeps the file's precision: in memory, or (for a shard
/// over a worker's memory limit) read from its `.npy` file on every use.
///
/// A matrix read from a `float32` file stays `Float` (half the memory); everything
/// that computes reads it as `Double`, through ``subscript(row:column:)``,
/// ``doubles()`` or the engine's block copy, and gets the same values whatever the storage.
///
/// ```swift
/// let m = FeatureMatrix(rows: 2, columns: 3, values: [1, 2, 3, 4, 5, 6])
/// m[row: 1, column: 0]      // 4.0
/// m.rows(1..<2).doubles()   // [4, 5, 6]
/// ```
public struct FeatureMatrix: Sendable, Equatable {
    /// The elements, row-major, in the matrix's precision.
    public enum Storage: Sendable, Equatable {
        case float32([Float])
        case float64([Double])
        /// Rows read from a `.npy` file on every use (see ``FileBackedRows``).
        case file(FileBackedRows)

        /// Number of elements.
        public var count: Int {
            switch self {
            case .float32(let values): values.count
            case .float64(let values): values.count
            case .file(let rows): rows.rows * rows.columns
            }
        }
    }

    /// Number of rows (samples).
    public let rows: Int
    /// Number of columns (features).
    public let columns: Int
    /// The elements; its count must stay `rows * columns`.
    public var storage: Storage

    /// Creates a double-precision matrix from row-major `values`.
    ///
    /// - Precondition: `values.count == rows * columns`.
    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(rows >= 0 && columns >= 0 && values.count == rows * columns, "values.count must equal rows * columns")
        self.rows = rows
        self.columns = columns
        self.storage = .float64(values)
    }

    /// Creates a single-precision matrix from row-major `values`.
    ///
    /// - Precondition: `values.count == rows * columns`.
    public init(rows: Int, columns: Int, float32 values: [Float]) {
        precondition(rows >= 0 && columns >= 0 && values.count == rows * columns, "values.count must equal rows * columns")
        self.rows = rows
        self.columns = columns
        self.storage = .float32(values)
    }

    /// Creates a matrix around existing storage.
    ///
    /// - Precondition: `storage.count == rows * columns`.
    public init(rows: Int, columns: Int, storage: Storage) {
        precondition(rows >= 0 && columns >= 0 && storage.count == rows * columns, "storage.count must equal rows * columns")
        self.rows = rows
        self.columns = columns
        self.storage = storage
    }

    /// Creates a matrix whose rows are read from their file on every use.
    public init(fileBacked rows: FileBackedRows) {
        self.init(rows: rows.rows, columns: rows.columns, storage: .file(rows))
    }

    /// The precision of the stored elements.
    public var scalarType: ScalarType {
        switch storage {
        case .float32: .float32
        case .float64: .float64
        case .file(let rows): rows.scalarType
        }
    }

    /// The file the rows are read from, when they are not held in memory.
    public var fileBackedRows: FileBackedRows? {
        if case .file(let rows) = storage { return rows }
        return nil
    }

    /// Bytes the elements take in memory (0 for rows read from their file).
    public var residentBytes: Int {
        switch storage {
        case .float32(let values): values.count * 4
        case .float64(let values): values.count * 8
        case .file: 0
        }
    }

    /// The matrix with its rows in memory (itself when they already are).
    public func inMemory() -> FeatureMatrix {
        guard case .file(let source) = storage else { return self }
        return source.matrix(0..<rows)
    }

    /// The element at `row`, `column` (both 0-based) as a `Double`.
    public subscript(row row: Int, column column: Int) -> Double {
        precondition(row >= 0 && row < rows && column >= 0 && column < columns, "index out of range")
        let index = row * columns + column
        switch storage {
        case .float32(let values): return Double(values[index])
        case .float64(let values): return values[index]
        case .file(let source):
            return source.matrix(row..<(row + 1))[row: 0, column: column]
        }
    }

    /// The rows in `range` as a new matrix of the same precision.
    public func rows(_ range: Range<Int>) -> FeatureMatrix {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "row range out of bounds")
        let slice = range.lowerBound * columns..<range.upperBound * columns
        switch storage {
        case .float32(let values):
            return FeatureMatrix(rows: range.count, columns: columns, float32: Array(values[slice]))
        case .float64(let values):
            return FeatureMatrix(rows: range.count, columns: columns, values: Array(values[slice]))
        case .file(let source):
            return source.matrix(range)
        }
    }

    /// The columns at `indices` (0-based, in the given order) as a new matrix of the same precision.
    public func columns(_ indices: [Int]) -> FeatureMatrix {
        precondition(indices.allSatisfy { $0 >= 0 && $0 < columns }, "column index out of range")
        if indices == Array(0..<columns) { return self }
        if case .file = storage { return inMemory().columns(indices) }
        func gather<T>(_ values: [T]) -> [T] {
            var result: [T] = []
            result.reserveCapacity(rows * indices.count)
            for row in 0..<rows {
                let base = row * columns
                for column in indices { result.append(values[base + column]) }
            }
            return result
        }
        switch storage {
        case .float32(let values): return FeatureMatrix(rows: rows, columns: indices.count, float32: gather(values))
        case .float64(let values): return FeatureMatrix(rows: rows, columns: indices.count, values: gather(values))
        case .file: preconditionFailure("read into memory above")
        }
    }

    /// The whole matrix as `Double`, row-major.
    public func doubles() -> [Double] {
        switch storage {
        case .float32(let values): return values.map(Double.init)
        case .float64(let values): return values
        case .file: return inMemory().doubles()
        }
    }

    /// The matrix converted to `scalarType` (rounding to nearest when narrowing to `Float`).
    public func converted(to scalarType: ScalarType) -> FeatureMatrix {
        if case .file = storage { return inMemory().converted(to: scalarType) }
        switch (storage, scalarType) {
        case (.float32, .float32), (.float64, .float64):
            return self
        case (.float32(let values), .float64):
            return FeatureMatrix(rows: rows, columns: columns, values: values.map(Double.init))
        case (.float64(let values), .float32):
            return FeatureMatrix(rows: rows, columns: columns, float32: values.map(Float.init))
        case (.file, _):
            preconditionFailure("read into memory above")
        }
    }

    /// Writes rows `range` as `Double` into `destination`, subtracting `shift[j]` from column `j`.
    ///
    /// The hot path of the EM engine: `destination` receives `range.count * columns`
    /// values, row-major. One switch on the storage, then plain loops.
    ///
    /// - Precondition: `range` lies inside the matrix, `shift.count == columns`, and
    ///   `destination` has room for `range.count * columns` values.
    package func copyRows(_ range: Range<Int>, subtracting shift: [Double], into destination: UnsafeMutablePointer<Double>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "row range out of bounds")
        precondition(shift.count == columns, "shift must have one value per column")
        let columns = self.columns
        let start = range.lowerBound * columns
        let count = range.count * columns
        guard count > 0 else { return }
        // One pointer per row, so the inner loop has no index arithmetic to check for
        // overflow and vectorises (the bounds were checked above).
        shift.withUnsafeBufferPointer { shift in
            switch storage {
            case .float32(let values):
                values.withUnsafeBufferPointer { source in
                    for r in 0..<range.count {
                        let from = source.baseAddress! + (start + r * columns), to = destination + r * columns
                        for j in 0..<columns { to[j] = Double(from[j]) - shift[j] }
                    }
                }
            case .float64(let values):
                values.withUnsafeBufferPointer { source in
                    for r in 0..<range.count {
                        let from = source.baseAddress! + (start + r * columns), to = destination + r * columns
                        for j in 0..<columns { to[j] = from[j] - shift[j] }
                    }
                }
            case .file(let source):
                source.read(range, subtracting: shift.baseAddress!, into: destination)
            }
        }
    }

    /// Writes the rows at `positions` (any order) as `Double` into `destination`, one after
    /// another in the order given, subtracting `shift[j]` from column `j`.
    ///
    /// - Precondition: every position lies inside the matrix, `shift.count == columns`, and
    ///   `destination` has room for `positions.count * columns` values.
    package func copyRows(at positions: [Int], subtracting shift: [Double], into destination: UnsafeMutablePointer<Double>) {
        precondition(shift.count == columns, "shift must have one value per column")
        let columns = self.columns, rows = self.rows
        for position in positions { precondition(position >= 0 && position < rows, "row position out of bounds") }
        // One switch and one buffer access for the whole gather: a stepwise EM step gathers a
        // few hundred scattered rows from every shard, and per-row calls cost more than the copies.
        shift.withUnsafeBufferPointer { shift in
            let shift = shift.baseAddress!
            switch storage {
            case .float32(let values):
                values.withUnsafeBufferPointer { source in
                    positions.withUnsafeBufferPointer { at in
                        emfleet_gather_rows_f32(source.baseAddress!, at.baseAddress!, at.count, columns, shift, destination)
                    }
                }
            case .float64(let values):
                values.withUnsafeBufferPointer { source in
                    positions.withUnsafeBufferPointer { at in
                        emfleet_gather_rows_f64(source.baseAddress!, at.baseAddress!, at.count, columns, shift, destination)
                    }
                }
            case .file(let source):
                source.read(positions: positions, subtracting: shift, into: destination)
            }
        }
    }

    /// Writes rows `range` as `Double` into `destination`, row-major, without a shift.
    ///
    /// - Precondition: `range` lies inside the matrix and `destination` has room for
    ///   `range.count * columns` values.
    package func copyRows(_ range: Range<Int>, into destination: UnsafeMutablePointer<Double>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "row range out of bounds")
        let start = range.lowerBound * columns
        let count = range.count * columns
        guard count > 0 else { return }
        switch storage {
        case .float32(let values):
            values.withUnsafeBufferPointer { source in
                for i in 0..<count { destination[i] = Double(source[start + i]) }
            }
        case .float64(let values):
            values.withUnsafeBufferPointer { source in
                destination.update(from: source.baseAddress! + start, count: count)
            }
        case .file(let source):
            source.read(range, subtracting: nil, into: destination)
        }
    }
}
