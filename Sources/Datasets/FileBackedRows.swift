import Foundation
import Numerics

#if canImport(Glibc)
import Glibc
#endif

/// Rows of a `.npy` file that are read from the file on every use instead of being kept in
/// memory: the storage of a shard that does not fit under a worker's `--memory-limit`.
///
/// Each read of a row range is one positioned read (`pread`); the kernel is asked to fetch the
/// next 16 MiB ahead of it (`posix_fadvise(WILLNEED)`), so that while a chunk is computed the
/// next ones are already on their way into the page cache. The values a read
/// gives are exactly those an in-memory load of the same rows gives (`Double` from the file's
/// `float64`, or `Double(Float)` from its `float32`), so a model fitted from these rows is the
/// same bits as one fitted from memory.
///
/// Reads that fail (the file was truncated or replaced during the job) cannot throw from the
/// compute kernels: they leave zeros, and the failure is kept for ``checkReads()``, which the
/// runner calls after every task.
///
/// ```swift
/// let rows = try FileBackedRows(path: "big.npy", csv: CSVOptions(), rows: 0..<1_000_000)
/// try rows.verifyFinite()
/// let matrix = FeatureMatrix(fileBacked: rows)   // reads on demand
/// ```
public final class FileBackedRows: @unchecked Sendable {
    // @unchecked: every stored property is immutable except the two `Locked` counters.

    /// The file's path, as given.
    public let path: String
    /// The 0-based file row of the first row.
    public let firstRow: Int
    /// Rows covered.
    public let rows: Int
    /// Feature columns (after the column selection).
    public let columns: Int
    /// The file's precision.
    public let scalarType: ScalarType
    private let file: ReadableFile
    private let dataOffset: Int
    private let fileColumns: Int
    /// The selected columns in file order, or nil for every column.
    private let selected: [Int]?
    /// The file columns to take, in order (every column without a selection).
    private let columnOrder: [Int]
    private let fileSize: Int
    private let readCount = Locked(0)
    private let failure = Locked<DatasetError?>(nil)
    /// The rows up to which read-ahead has been requested in the current pass.
    private let advised = Locked(0)
    /// Memory this process lets file-backed shards use for rows read ahead of their use (nil: none).
    private let staging: RowStagingPool?

    /// Opens rows `range` (0-based data rows) of the `.npy` file at `path`, with `csv`'s column selection.
    ///
    /// - Throws: ``DatasetError`` for a text file (which cannot be read in pieces cheaply: it
    ///   names `emfleet data convert`), a file that is not a 2-D float array, or rows out of range.
    ///   - staging: the process's memory for rows read ahead of their use (see ``stage(_:)``).
    public init(path: String, csv: CSVOptions, rows range: Range<Int>, staging: RowStagingPool? = nil) throws {
        guard try DataFileFormat(path: path) == .npy else {
            throw DatasetError(
                file: path,
                message: "is a text file, which a worker cannot read a piece at a time; convert it once with `emfleet data convert \(path) \(Self.npyName(for: path))` and fit that")
        }
        let reader = try NPYReader(path: path)
        guard reader.shape.count == 2, let scalarType = reader.elementType.scalarType else {
            _ = try reader.readRows(0..<0)  // the reader's own message for a 1-D or non-float array
            throw DatasetError(file: path, message: "cannot be read as features")
        }
        guard range.lowerBound >= 0, range.upperBound <= reader.rows else {
            throw DatasetError(file: path, message: "rows \(range.lowerBound)..<\(range.upperBound) requested but the file has \(reader.rows) rows")
        }
        let (features, _) = try DatasetLoader.npyColumns(csv, reader: reader)
        self.path = path
        firstRow = range.lowerBound
        rows = range.count
        columns = features.count
        self.scalarType = scalarType
        file = try Self.sharedFile(path)
        dataOffset = reader.dataOffset
        fileColumns = reader.columns
        selected = features == Array(0..<reader.columns) ? nil : features
        columnOrder = features
        fileSize = reader.fileSize
        guard try file.size() == fileSize else {
            throw DatasetError(file: path, message: "changed while being opened: it was \(fileSize) bytes and is now \(try file.size())")
        }
        self.staging = staging
        staging?.register()
    }

    deinit { staging?.unregister() }

    /// Bytes of rows this shard may hold read ahead of their use: its even part of the process's
    /// ``RowStagingPool`` (0 without one).
    public var stagingBytes: Int { staging?.share ?? 0 }

    /// One open descriptor per file for all the shards that read it (a process may read a
    /// thousand shards of one file; `pread` needs no descriptor of its own per reader), kept
    /// while some shard holds it.
    private static let openFiles = Locked<[String: WeakFile]>([:])

    private struct WeakFile { weak var file: ReadableFile? }

    private static func sharedFile(_ path: String) throws -> ReadableFile {
        try openFiles.withLock { files in
            if let open = files[path]?.file { return open }
            let opened = try ReadableFile(path: path)
            files = files.filter { $0.value.file != nil }
            files[path] = WeakFile(file: opened)
            return opened
        }
    }

    /// The name `emfleet data convert` would be given for a text file.
    public static func npyName(for path: String) -> String {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return path + ".npy" }
        return String(path[..<dot]) + ".npy"
    }

    /// Bytes one pass over every row reads from the file.
    public var bytesPerPass: Int { rows * fileColumns * scalarType.byteWidth }

    /// Bytes read from the file so far.
    public var bytesRead: Int { readCount.current }

    /// The bytes read since the last call, and resets the count.
    public func takeBytesRead() -> Int { readCount.withLock { count in defer { count = 0 }; return count } }

    /// Throws the first read failure since the last call (and forgets it).
    public func checkReads() throws {
        if let error = failure.withLock({ error -> DatasetError? in defer { error = nil }; return error }) { throw error }
    }

    /// Reads every row once and checks that every value is finite, naming the first that is not
    /// as an in-memory load does (0-based row and column of the file).
    public func verifyFinite() throws {
        let block = max(1, (8 << 20) / max(1, columns * 8))
        let buffer = UnsafeMutablePointer<Double>.allocate(capacity: block * columns)
        defer { buffer.deallocate() }
        var start = 0
        while start < rows {
            let range = start..<min(rows, start + block)
            read(range, subtracting: nil, into: buffer)
            try checkReads()
            for i in 0..<(range.count * columns) where !buffer[i].isFinite {
                throw DatasetError(
                    file: path, row: firstRow + start + i / columns, column: selected?[i % columns] ?? i % columns, numbering: .index,
                    message: nonFiniteMessage(buffer[i]))
            }
            start = range.upperBound
        }
    }

    /// The rows in `range` (local) as an in-memory matrix of the file's precision (a `float32`
    /// value read as `Double` narrows back to itself exactly).
    func matrix(_ range: Range<Int>) -> FeatureMatrix {
        let count = range.count * columns
        let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 { read(range, subtracting: nil, into: buffer.baseAddress!) }
            initialized = count
        }
        switch scalarType {
        case .float64: return FeatureMatrix(rows: range.count, columns: columns, values: values)
        case .float32: return FeatureMatrix(rows: range.count, columns: columns, float32: values.map { Float($0) })
        }
    }

    /// Writes rows `range` (local) as `Double` into `destination`, row-major, subtracting
    /// `shift[j]` from column `j` when a shift is given; then asks for the next range ahead.
    func read(_ range: Range<Int>, subtracting shift: UnsafePointer<Double>?, into destination: UnsafeMutablePointer<Double>) {
        guard !range.isEmpty else { return }
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "row range out of bounds")
        if scalarType == .float64, selected == nil {
            // The file's bytes are the values: read them straight into place.
            readBytes(rowsFrom: range.lowerBound, count: range.count, into: UnsafeMutableRawPointer(destination))
            #if _endian(big)
            for i in 0..<(range.count * columns) { destination[i] = Double(bitPattern: UInt64(littleEndian: destination[i].bitPattern)) }
            #endif
            if let shift {
                for r in 0..<range.count {
                    let row = destination + r * columns
                    for j in 0..<columns { row[j] -= shift[j] }
                }
            }
        } else {
            let raw = UnsafeMutableRawPointer.allocate(byteCount: range.count * rowBytes, alignment: 64)
            defer { raw.deallocate() }
            readBytes(rowsFrom: range.lowerBound, count: range.count, into: raw)
            convert(raw, rows: range.count, subtracting: shift, into: destination)
        }
        readAhead(after: range)
    }

    /// How far ahead of the rows being read the kernel is asked to fetch: 16 MiB, so that a
    /// disk's latency is hidden behind the computing of the chunks before it.
    static let readAheadBytes = 16 << 20

    /// Keeps the rows up to ``readAheadBytes`` past `range` requested: the first read of a pass
    /// (from row 0) asks for the whole window, later ones top it up by half a window at a time.
    private func readAhead(after range: Range<Int>) {
        let window = max(1, Self.readAheadBytes / rowBytes)
        let request = advised.withLock { advised -> Range<Int>? in
            if range.lowerBound == 0 { advised = range.upperBound }
            guard range.upperBound + window / 2 > advised || range.lowerBound == 0, advised < rows else { return nil }
            let wanted = advised..<min(rows, range.upperBound + window)
            advised = wanted.upperBound
            return wanted.isEmpty ? nil : wanted
        }
        if let request { file.adviseWillNeed(offset: offset(ofRow: request.lowerBound), length: request.count * rowBytes) }
    }

    /// Writes the rows at `positions` (local, any order) as `Double` into `destination`, one
    /// row after another in the order given, subtracting `shift` when given.
    ///
    /// The rows are read in file order (the page cache and the disk prefer it) into one buffer,
    /// one `pread` each, then converted together: a minibatch's rows are scattered over the shard,
    /// so each costs a system call and nothing more.
    func read(positions: [Int], subtracting shift: UnsafePointer<Double>?, into destination: UnsafeMutablePointer<Double>) {
        guard !positions.isEmpty else { return }
        let rowBytes = self.rowBytes
        let raw = UnsafeMutableRawPointer.allocate(byteCount: positions.count * rowBytes, alignment: 64)
        defer { raw.deallocate() }
        let slots = positions.indices.sorted { positions[$0] < positions[$1] }
        var read = 0
        for slot in slots {
            let position = positions[slot]
            precondition(position >= 0 && position < rows, "row position out of bounds")
            if readOrZero(UnsafeMutableRawBufferPointer(start: raw + slot * rowBytes, count: rowBytes), at: offset(ofRow: position)) {
                read += rowBytes
            }
        }
        readCount.withLock { $0 += read }
        convert(raw, rows: positions.count, subtracting: shift, into: destination)
    }

    /// The rows of several groups of positions (local, each group in any order) as in-memory
    /// `float64` matrices, one per group with its rows in the group's order, read together.
    ///
    /// A minibatch takes a few rows scattered over the whole shard, and one `pread` per row
    /// costs a system call (and, for a page the kernel has evicted, a random read of the disk).
    /// Staged together, many minibatches' rows are dense enough in the file that one sequential
    /// pass over the span they cover, in 4 MiB reads with the kernel's read-ahead in front, is
    /// cheaper: this reads the span when it costs less than a read per row (taken as 4 KiB of
    /// sequential reading per row read on its own), and reads row by row otherwise. The values
    /// are those ``read(positions:subtracting:into:)`` gives, so a fit is the same bits either way.
    package func stage(_ groups: [[Int]]) -> [FeatureMatrix] {
        let columns = self.columns, rowBytes = self.rowBytes
        var wanted: [(position: Int, group: Int, slot: Int)] = []
        wanted.reserveCapacity(groups.reduce(0) { $0 + $1.count })
        for (g, positions) in groups.enumerated() {
            for (slot, position) in positions.enumerated() {
                precondition(position >= 0 && position < rows, "row position out of bounds")
                wanted.append((position, g, slot))
            }
        }
        wanted.sort { $0.position < $1.position }
        var values = groups.map { [Double](repeating: 0, count: $0.count * columns) }
        guard let first = wanted.first?.position, let last = wanted.last?.position else {
            return groups.map { _ in FeatureMatrix(rows: 0, columns: columns, values: []) }
        }
        let spanBytes = (last - first + 1) * rowBytes
        if spanBytes > wanted.count * Self.rowReadEquivalentBytes {
            for g in groups.indices {
                values[g].withUnsafeMutableBufferPointer { read(positions: groups[g], subtracting: nil, into: $0.baseAddress!) }
            }
        } else {
            let chunkRows = max(1, Self.stagingChunkBytes / rowBytes)
            let raw = UnsafeMutableRawPointer.allocate(byteCount: chunkRows * rowBytes, alignment: 64)
            defer { raw.deallocate() }
            var advisedUpTo = first
            var next = 0, readBytes = 0
            while next < wanted.count {
                let start = wanted[next].position
                var end = next
                while end < wanted.count, wanted[end].position < start + chunkRows { end += 1 }
                let count = wanted[end - 1].position - start + 1
                let aheadRows = Self.readAheadBytes / rowBytes
                if start + count + aheadRows / 2 > advisedUpTo, advisedUpTo <= last {
                    let from = max(advisedUpTo, start)
                    let to = min(last + 1, start + count + aheadRows)
                    if to > from { file.adviseWillNeed(offset: offset(ofRow: from), length: (to - from) * rowBytes) }
                    advisedUpTo = to
                }
                if readOrZero(UnsafeMutableRawBufferPointer(start: raw, count: count * rowBytes), at: offset(ofRow: start)) {
                    readBytes += count * rowBytes
                }
                for item in wanted[next..<end] {
                    values[item.group].withUnsafeMutableBufferPointer { destination in
                        convert(raw + (item.position - start) * rowBytes, rows: 1, subtracting: nil, into: destination.baseAddress! + item.slot * columns)
                    }
                }
                next = end
            }
            readCount.withLock { $0 += readBytes }
        }
        return zip(groups, values).map { FeatureMatrix(rows: $0.count, columns: columns, values: $1) }
    }

    /// How much sequential reading one row read on its own is taken to cost.
    static let rowReadEquivalentBytes = 4096
    /// The size of each read of a staged span.
    static let stagingChunkBytes = 4 << 20

    private var rowBytes: Int { fileColumns * scalarType.byteWidth }

    private func offset(ofRow row: Int) -> Int { dataOffset + (firstRow + row) * rowBytes }

    /// Reads `count` whole file rows from local row `row` into `raw`; on failure fills zeros and keeps the error.
    private func readBytes(rowsFrom row: Int, count: Int, into raw: UnsafeMutableRawPointer) {
        let length = count * rowBytes
        if readOrZero(UnsafeMutableRawBufferPointer(start: raw, count: length), at: offset(ofRow: row)) {
            readCount.withLock { $0 += length }
        }
    }

    /// Fills `buffer` from the file at `offset`; on failure fills zeros, keeps the first error for
    /// ``checkReads()`` and returns false.
    private func readOrZero(_ buffer: UnsafeMutableRawBufferPointer, at offset: Int) -> Bool {
        do {
            try file.readExactly(into: buffer, at: offset)
            return true
        } catch {
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
            let reason = (error as? DatasetError) ?? DatasetError(file: path, message: "\(error)")
            failure.withLock { $0 = $0 ?? reason }
            return false
        }
    }

    /// Converts whole file rows in `raw` to the selected columns as `Double`, minus `shift`.
    private func convert(_ raw: UnsafeMutableRawPointer, rows count: Int, subtracting shift: UnsafePointer<Double>?, into destination: UnsafeMutablePointer<Double>) {
        let order = columnOrder, columns = self.columns, fileColumns = self.fileColumns
        order.withUnsafeBufferPointer { order in
            switch scalarType {
            case .float32:
                let source = raw.assumingMemoryBound(to: UInt32.self)
                for r in 0..<count {
                    let from = source + r * fileColumns, to = destination + r * columns
                    for j in 0..<columns {
                        let value = Double(Float(bitPattern: UInt32(littleEndian: from[order[j]])))
                        to[j] = shift.map { value - $0[j] } ?? value
                    }
                }
            case .float64:
                let source = raw.assumingMemoryBound(to: UInt64.self)
                for r in 0..<count {
                    let from = source + r * fileColumns, to = destination + r * columns
                    for j in 0..<columns {
                        let value = Double(bitPattern: UInt64(littleEndian: from[order[j]]))
                        to[j] = shift.map { value - $0[j] } ?? value
                    }
                }
            }
        }
    }
}

extension FileBackedRows: Equatable {
    /// Two file-backed row sets are equal when they are the same object (the storage compares
    /// by identity, never by reading the file).
    public static func == (left: FileBackedRows, right: FileBackedRows) -> Bool { left === right }
}

/// The memory a process lets its file-backed shards use for rows read ahead of their use,
/// shared evenly among the shards that read from a file; safe to use from several threads.
///
/// ```swift
/// let pool = RowStagingPool(bytes: 64 << 20)
/// let shard = try FileBackedRows(path: "big.npy", csv: CSVOptions(), rows: 0..<1_000_000, staging: pool)
/// shard.stagingBytes   // 64 MiB while it is the only file-backed shard
/// ```
public final class RowStagingPool: Sendable {
    /// The memory shared, in bytes.
    public let bytes: Int
    private let shards = Locked(0)

    /// A pool of `bytes`.
    public init(bytes: Int) { self.bytes = max(0, bytes) }

    /// Each file-backed shard's part.
    public var share: Int { bytes / max(1, shards.current) }

    func register() { shards.withLock { $0 += 1 } }
    func unregister() { shards.withLock { $0 -= 1 } }
}
