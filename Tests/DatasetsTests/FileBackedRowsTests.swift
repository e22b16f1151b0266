import Datasets
import Foundation
import Testing

/// Rows read from their `.npy` file on every use give exactly the values an in-memory load gives.
@Suite("File-backed rows")
struct FileBackedRowsTests {
    static let matrix = SyntheticMixture.generate(samples: 120, features: 4, components: 2, seed: 9).features

    /// The matrix as a `.npy` file of `precision` in `folder`.
    static func write(_ folder: TemporaryFolder, _ precision: ScalarType) throws -> String {
        let path = folder.path("rows-\(precision).npy")
        try NPYWriter.write(matrix.converted(to: precision), to: path)
        return path
    }

    static func doubles(_ count: Int, _ fill: (UnsafeMutablePointer<Double>) -> Void) -> [Double] {
        [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(buffer.baseAddress!)
            initialized = count
        }
    }

    @Test("ranges, positions, shifts, single values and sub-matrices match the in-memory rows bit for bit",
          arguments: [ScalarType.float64, .float32], [nil, ["3", "1"]] as [[String]?])
    func sameValues(precision: ScalarType, columns: [String]?) throws {
        let folder = try TemporaryFolder()
        let path = try Self.write(folder, precision)
        let csv = CSVOptions(columns: columns)
        let shard = 17..<90
        let memory = try DatasetLoader.load(path: path, csv: csv, rows: shard).features
        let source = try FileBackedRows(path: path, csv: csv, rows: shard)
        let file = FeatureMatrix(fileBacked: source)
        #expect(file.rows == memory.rows && file.columns == memory.columns && file.scalarType == precision)
        #expect(file.residentBytes == 0 && file.fileBackedRows === source)
        let d = memory.columns
        let shift = (0..<d).map { 0.25 * Double($0) - 1 }
        for range in [0..<memory.rows, 5..<6, 30..<71, 0..<0] {
            let fromFile = Self.doubles(range.count * d) { file.copyRows(range, subtracting: shift, into: $0) }
            let fromMemory = Self.doubles(range.count * d) { memory.copyRows(range, subtracting: shift, into: $0) }
            #expect(fromFile.map(\.bitPattern) == fromMemory.map(\.bitPattern), "\(range)")
            let plainFile = Self.doubles(range.count * d) { file.copyRows(range, into: $0) }
            let plainMemory = Self.doubles(range.count * d) { memory.copyRows(range, into: $0) }
            #expect(plainFile.map(\.bitPattern) == plainMemory.map(\.bitPattern), "\(range)")
        }
        let positions = [40, 41, 42, 3, 72, 0, 1, 55, 56]
        let gatheredFile = Self.doubles(positions.count * d) { file.copyRows(at: positions, subtracting: shift, into: $0) }
        let gatheredMemory = Self.doubles(positions.count * d) { memory.copyRows(at: positions, subtracting: shift, into: $0) }
        #expect(gatheredFile.map(\.bitPattern) == gatheredMemory.map(\.bitPattern))
        #expect(file[row: 33, column: d - 1] == memory[row: 33, column: d - 1])
        #expect(file.rows(10..<20) == memory.rows(10..<20))
        #expect(file.inMemory() == memory)
        #expect(file.doubles() == memory.doubles())
        #expect(file.columns([1, 0]) == memory.columns([1, 0]))
        // One pass reads whole file rows: the selected columns' rows, at the file's width.
        _ = source.takeBytesRead()
        _ = file.inMemory()
        #expect(source.takeBytesRead() == shard.count * 4 * precision.byteWidth)
        #expect(source.bytesPerPass == shard.count * 4 * precision.byteWidth)
    }

    @Test("staged groups of positions hold the rows a read by positions gives, read in one span or row by row",
          arguments: [ScalarType.float64, .float32], [nil, ["3", "1"]] as [[String]?])
    func stagedRows(precision: ScalarType, columns: [String]?) throws {
        let folder = try TemporaryFolder()
        let path = folder.path("long-\(precision).npy")
        let long = SyntheticMixture.generate(samples: 3000, features: 4, components: 2, seed: 10).features
        try NPYWriter.write(long.converted(to: precision), to: path)
        let csv = CSVOptions(columns: columns)
        let pool = RowStagingPool(bytes: 1 << 20)
        let source = try FileBackedRows(path: path, csv: csv, rows: 10..<2990, staging: pool)
        let file = FeatureMatrix(fileBacked: source)
        #expect(source.stagingBytes == 1 << 20)
        let other = try FileBackedRows(path: path, csv: csv, rows: 0..<5, staging: pool)
        #expect(source.stagingBytes == 1 << 19 && other.rows == 5)
        let d = file.columns
        let zero = [Double](repeating: 0, count: d)
        // Dense groups (read as one span) and two far rows (read one by one), in any order.
        for groups in [[[7, 3, 50], [99, 0], [], [12, 13, 14, 15]], [[2979], [0]]] {
            _ = source.takeBytesRead()
            let staged = source.stage(groups)
            let read = source.takeBytesRead()
            #expect(staged.count == groups.count)
            for (group, matrix) in zip(groups, staged) {
                let expected = Self.doubles(group.count * d) { file.copyRows(at: group, subtracting: zero, into: $0) }
                #expect(matrix.rows == group.count && matrix.columns == d && matrix.scalarType == .float64)
                #expect(matrix.doubles().map(\.bitPattern) == expected.map(\.bitPattern), "\(group)")
            }
            let rowBytes = 4 * precision.byteWidth
            let wanted = groups.joined().count
            // The span from the first to the last row wanted, or just the rows wanted.
            #expect(read == (groups.count == 2 ? wanted * rowBytes : 100 * rowBytes), "\(groups)")
        }
    }

    @Test("a value that is not finite is named by its file row and column, as an in-memory load names it")
    func nonFinite() throws {
        let folder = try TemporaryFolder()
        var values = Self.matrix.doubles()
        values[47 * 4 + 2] = .nan
        let path = folder.path("nan.npy")
        try NPYWriter.write(FeatureMatrix(rows: 120, columns: 4, values: values), to: path)
        let inMemory = #expect(throws: DatasetError.self) { _ = try DatasetLoader.load(path: path, rows: 40..<60, finiteOnly: true) }
        let fromFile = #expect(throws: DatasetError.self) { try FileBackedRows(path: path, csv: CSVOptions(), rows: 40..<60).verifyFinite() }
        #expect(fromFile.map { "\($0)" } == inMemory.map { "\($0)" })
        #expect(fromFile.map { "\($0)" }?.contains("row 47, column 2") == true, "\(String(describing: fromFile))")
        try FileBackedRows(path: path, csv: CSVOptions(), rows: 50..<120).verifyFinite()
    }

    @Test("a text file is refused with the conversion to run, and rows out of range are refused")
    func refusals() throws {
        let folder = try TemporaryFolder()
        let text = try folder.write("rows.csv", text: "a,b\n1,2\n3,4\n")
        #expect {
            _ = try FileBackedRows(path: text, csv: CSVOptions(), rows: 0..<2)
        } throws: { error in
            "\(error)" == "\(text): is a text file, which a worker cannot read a piece at a time; convert it once with `emfleet data convert \(text) \(folder.path("rows.npy"))` and fit that"
        }
        let path = try Self.write(folder, .float64)
        #expect(throws: DatasetError.self) { _ = try FileBackedRows(path: path, csv: CSVOptions(), rows: 100..<121) }
    }

    @Test("a file truncated during the job gives a read failure after the task, not a crash or silent zeros")
    func truncated() throws {
        let folder = try TemporaryFolder()
        let path = try Self.write(folder, .float64)
        let source = try FileBackedRows(path: path, csv: CSVOptions(), rows: 0..<120)
        try source.checkReads()
        #expect(truncate(path, 128 + 50 * 32) == 0)
        _ = Self.doubles(120 * 4) { FeatureMatrix(fileBacked: source).copyRows(0..<120, into: $0) }
        #expect {
            try source.checkReads()
        } throws: { error in
            "\(error)".hasPrefix(path + ": changed while being read")
        }
        try source.checkReads()  // reported once
    }
}
