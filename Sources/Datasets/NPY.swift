/// Reads `.npy` files: the header once, then any row range with positioned reads.
///
/// Supports format versions 1.0, 2.0 and 3.0; 2-D little-endian `float32`/`float64`
/// arrays as features and 1-D (or one-column) integer arrays as labels. The file is
/// never memory-mapped: if it shrinks or changes size after the header was read, a read
/// throws "changed while being read" rather than crashing.
///
/// ```swift
/// let reader = try NPYReader(path: "x.npy")
/// let shard = try reader.readRows(0..<8192)   // reads only those bytes
/// ```
///
/// Rows and columns in its errors are 0-based indices (see ``DatasetError``).
public struct NPYReader: Sendable {
    /// The file's path, as given.
    public let path: String
    /// Number of rows: `shape[0]`.
    public let rows: Int
    /// Number of columns: `shape[1]`, or 1 for a 1-D array.
    public let columns: Int
    /// The feature precision. For an integer array (labels) this is `.float64`, the
    /// type it would need converting to; check ``elementType`` to tell them apart.
    public let scalarType: ScalarType
    /// Byte offset of the first element.
    public let dataOffset: Int
    /// The element type named by the header's `descr`.
    public let elementType: NPYElementType
    /// The numpy `descr` string, such as `'<f8'`.
    public let descr: String
    /// The array's shape: one or two dimensions.
    public let shape: [Int]
    /// The `.npy` format's major version (1, 2 or 3).
    public let formatVersion: Int
    /// The file size when the header was read; reads check that it has not changed.
    public let fileSize: Int

    /// Opens `path` and reads and validates its header.
    ///
    /// - Throws: ``DatasetError`` for a missing or unreadable file, a wrong magic string,
    ///   an unsupported version, Fortran order, an unsupported dtype (named in the
    ///   message), a shape that is not 1-D or 2-D, or a file shorter than its header says.
    public init(path: String) throws {
        let file = try ReadableFile(path: path)
        let size = try file.size()
        let header = try NPYHeader.read(from: file, fileSize: size)
        self.path = path
        self.rows = header.shape[0]
        self.columns = header.shape.count == 2 ? header.shape[1] : 1
        self.scalarType = header.elementType.scalarType ?? .float64
        self.dataOffset = header.dataOffset
        self.elementType = header.elementType
        self.descr = header.descr
        self.shape = header.shape
        self.formatVersion = header.majorVersion
        self.fileSize = size
    }

    /// Reads the feature rows in `range` (0-based), reading only those bytes.
    ///
    /// - Throws: ``DatasetError`` if the array is not a 2-D float array, the range is out
    ///   of bounds, or the file changed size since the header was read.
    public func readRows(_ range: Range<Int>) throws -> FeatureMatrix {
        guard shape.count == 2 else {
            throw DatasetError(
                file: path,
                message: "is a 1-D array, shape \(NPYHeader.describeShape(shape)); features must be a 2-D array (rows, columns): for one feature save x.reshape(-1, 1)"
            )
        }
        guard let scalarType = elementType.scalarType else {
            throw DatasetError(
                file: path,
                message: "has dtype '\(descr)' (\(elementType.name)), which cannot be read as features; save with x.astype('<f8')"
            )
        }
        guard range.lowerBound >= 0, range.upperBound <= rows else {
            throw DatasetError(file: path, message: "rows \(range.lowerBound)..<\(range.upperBound) requested but the file has \(rows) rows")
        }
        let count = range.count * columns
        let file = try openUnchanged()
        let offset = dataOffset + range.lowerBound * columns * scalarType.byteWidth
        switch scalarType {
        case .float32:
            let values = try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                try file.readExactly(into: UnsafeMutableRawBufferPointer(buffer), at: offset)
                #if _endian(big)
                for i in 0..<count { buffer[i] = Float(bitPattern: UInt32(littleEndian: buffer[i].bitPattern)) }
                #endif
                initialized = count
            }
            return FeatureMatrix(rows: range.count, columns: columns, float32: values)
        case .float64:
            let values = try [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
                try file.readExactly(into: UnsafeMutableRawBufferPointer(buffer), at: offset)
                #if _endian(big)
                for i in 0..<count { buffer[i] = Double(bitPattern: UInt64(littleEndian: buffer[i].bitPattern)) }
                #endif
                initialized = count
            }
            return FeatureMatrix(rows: range.count, columns: columns, values: values)
        }
    }

    /// Reads every row as features.
    public func readAll() throws -> FeatureMatrix {
        try readRows(0..<rows)
    }

    /// Reads a 1-D (or one-column) integer array, such as class labels.
    ///
    /// - Throws: ``DatasetError`` for a float array, a multi-column array, a `uint64`
    ///   value above `Int.max`, or a file that changed size since the header was read.
    public func readIntegerLabels() throws -> [Int] {
        guard case .integer(let width, let signed) = elementType else {
            throw DatasetError(file: path, message: "has dtype '\(descr)' (\(elementType.name)); labels must be an integer array, save with y.astype('<i8')")
        }
        guard columns == 1 else {
            throw DatasetError(file: path, message: "has shape \(NPYHeader.describeShape(shape)); labels must be a 1-D array")
        }
        let file = try openUnchanged()
        var bytes = [UInt8](repeating: 0, count: rows * width)
        try bytes.withUnsafeMutableBytes { try file.readExactly(into: $0, at: dataOffset) }
        return try bytes.withUnsafeBytes { raw -> [Int] in
            var labels = [Int]()
            labels.reserveCapacity(rows)
            for i in 0..<rows {
                let at = i * width
                let value: Int
                switch (width, signed) {
                case (1, true): value = Int(raw.load(fromByteOffset: at, as: Int8.self))
                case (1, false): value = Int(raw.load(fromByteOffset: at, as: UInt8.self))
                case (2, true): value = Int(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int16.self)))
                case (2, false): value = Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt16.self)))
                case (4, true): value = Int(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int32.self)))
                case (4, false): value = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt32.self)))
                case (8, true): value = Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: Int64.self)))
                default:
                    let big = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: UInt64.self))
                    guard let fits = Int(exactly: big) else {
                        throw DatasetError(file: path, row: i, message: "label \(big) does not fit in a 64-bit signed integer")
                    }
                    value = fits
                }
                labels.append(value)
            }
            return labels
        }
    }

    /// Reads a 1-D (or one-column) array of any supported dtype as doubles, such as sample weights.
    ///
    /// - Throws: ``DatasetError`` for a multi-column array or a file that changed size since
    ///   the header was read.
    public func readVector() throws -> [Double] {
        guard columns == 1 else {
            throw DatasetError(file: path, message: "has shape \(NPYHeader.describeShape(shape)); expected a 1-D array (one value per row)")
        }
        switch elementType {
        case .integer:
            return try readIntegerLabels().map(Double.init)
        case .float32, .float64:
            let file = try openUnchanged()
            let width = elementType.byteWidth
            var bytes = [UInt8](repeating: 0, count: rows * width)
            try bytes.withUnsafeMutableBytes { try file.readExactly(into: $0, at: dataOffset) }
            return bytes.withUnsafeBytes { raw in
                (0..<rows).map { i in
                    width == 4
                        ? Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
                        : Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
                }
            }
        }
    }

    /// Opens the file again and checks that its size is the one the header was read from.
    private func openUnchanged() throws -> ReadableFile {
        let file = try ReadableFile(path: path)
        let size = try file.size()
        guard size == fileSize else {
            throw DatasetError(file: path, message: "changed while being read: it was \(fileSize) bytes when opened and is now \(size)")
        }
        return file
    }
}

/// Writes `.npy` files (format 1.0, header padded to 64 bytes exactly as numpy does), atomically.
public enum NPYWriter {
    /// Writes `matrix` as a 2-D `'<f4'` or `'<f8'` array, keeping its precision.
    ///
    /// - Throws: ``DatasetError`` if the file cannot be written; a failed write leaves no file.
    public static func write(_ matrix: FeatureMatrix, to path: String) throws {
        let header = NPYHeader.encode(descr: matrix.scalarType.npyDescr, shape: [matrix.rows, matrix.columns])
        try AtomicFileWriter.write(to: path) { out in
            try out.write(header)
            switch matrix.inMemory().storage {
            case .float32(let values): try writeLittleEndian(values, to: out)
            case .float64(let values): try writeLittleEndian(values, to: out)
            case .file: preconditionFailure("inMemory() holds its rows in memory")
            }
        }
    }

    /// Writes `values` as a 1-D `'<i8'` array.
    public static func writeIntegers(_ values: [Int], to path: String) throws {
        let header = NPYHeader.encode(descr: "<i8", shape: [values.count])
        try AtomicFileWriter.write(to: path) { out in
            try out.write(header)
            try writeLittleEndian(values.map { Int64($0) }, to: out)
        }
    }

    /// Writes `values` as a 1-D `'<f8'` array (sample weights, regression targets).
    public static func writeVector(_ values: [Double], to path: String) throws {
        let header = NPYHeader.encode(descr: "<f8", shape: [values.count])
        try AtomicFileWriter.write(to: path) { out in
            try out.write(header)
            try writeLittleEndian(values, to: out)
        }
    }

    /// Writes row-major `values` as a 2-D `'<f8'` array of shape (`rows`, `columns`).
    ///
    /// - Precondition: `values.count == rows * columns`.
    public static func writeMatrix(_ values: [Double], rows: Int, columns: Int, to path: String) throws {
        try write(FeatureMatrix(rows: rows, columns: columns, values: values), to: path)
    }

    private static func writeLittleEndian<T>(_ values: [T], to out: AtomicFileWriter) throws {
        #if _endian(little)
        try values.withUnsafeBytes { try out.write($0) }
        #else
        var bytes = [UInt8]()
        values.withUnsafeBytes { raw in
            let width = MemoryLayout<T>.stride
            bytes.reserveCapacity(raw.count)
            for start in stride(from: 0, to: raw.count, by: width) { bytes.append(contentsOf: raw[start..<start + width].reversed()) }
        }
        try out.write(bytes)
        #endif
    }
}
