import Datasets
import Foundation
import Testing

@Suite("NPY reading and writing")
struct NPYTests {
    /// Values that stress bit-exactness: signed zero, subnormals, extremes, non-terminating binary fractions.
    static let awkwardDoubles: [Double] = [
        0.1, -0.0, Double(bitPattern: 0x0001_2688_B70E_62B1) /* subnormal, about 1.6e-309 */, .greatestFiniteMagnitude, -.leastNonzeroMagnitude, 1.0 / 3.0, 123456789.123456789,
        -2.5e-8, .pi, 7, -1e300, 0.30000000000000004,
    ]

    @Test func float64RoundTripIsBitExact() throws {
        let folder = try TemporaryFolder()
        let matrix = FeatureMatrix(rows: 4, columns: 3, values: Self.awkwardDoubles)
        let path = folder.path("x.npy")
        try NPYWriter.write(matrix, to: path)
        let reader = try NPYReader(path: path)
        #expect(reader.rows == 4 && reader.columns == 3)
        #expect(reader.scalarType == .float64)
        #expect(reader.dataOffset % 64 == 0)
        let back = try reader.readAll()
        #expect(back.scalarType == .float64)
        #expect(back.doubles().map(\.bitPattern) == Self.awkwardDoubles.map(\.bitPattern))
    }

    @Test func float32RoundTripStaysFloatAndIsBitExact() throws {
        let folder = try TemporaryFolder()
        let values: [Float] = [0.1, -0.0, Float(bitPattern: 0x0001_16C2) /* a subnormal near 1e-40 */, .greatestFiniteMagnitude, 1.0 / 3.0, -7.25]
        let path = folder.path("x.npy")
        try NPYWriter.write(FeatureMatrix(rows: 3, columns: 2, float32: values), to: path)
        let reader = try NPYReader(path: path)
        #expect(reader.scalarType == .float32)
        #expect(reader.descr == "<f4")
        let back = try reader.readAll()
        guard case .float32(let read) = back.storage else {
            Issue.record("float32 file came back as \(back.scalarType)")
            return
        }
        #expect(read.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test func writerHeaderMatchesNumpyBytes() throws {
        // np.save of np.zeros((3, 2)) writes exactly this 128-byte header (numpy >= 1.24 pads for growth).
        let folder = try TemporaryFolder()
        let path = folder.path("z.npy")
        try NPYWriter.writeMatrix([Double](repeating: 0, count: 6), rows: 3, columns: 2, to: path)
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let dictionary = "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }" + String(repeating: " ", count: 20)
        let expected = npyFile(dictionary: dictionary, data: [UInt8](repeating: 0, count: 48))
        #expect(bytes.count == 128 + 48)
        #expect(bytes == expected)
    }

    @Test(arguments: [0..<0, 0..<1, 3..<7, 9..<10, 0..<10, 4..<5])
    func rowRangesEqualSlicesOfReadAll(range: Range<Int>) throws {
        let folder = try TemporaryFolder()
        let values = (0..<30).map { Double($0) * 0.5 - 3 }
        let path = folder.path("x.npy")
        try NPYWriter.writeMatrix(values, rows: 10, columns: 3, to: path)
        let reader = try NPYReader(path: path)
        let all = try reader.readAll()
        #expect(try reader.readRows(range) == all.rows(range))
        #expect(try reader.readRows(range).rows == range.count)
    }

    @Test func rowRangeOutOfBoundsIsAnError() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("x.npy")
        try NPYWriter.writeMatrix([1, 2, 3, 4], rows: 2, columns: 2, to: path)
        let error = expectDatasetError { _ = try NPYReader(path: path).readRows(1..<3) }
        #expect(error?.description.contains("rows 1..<3 requested but the file has 2 rows") == true)
    }

    @Test(arguments: [(UInt8(1), UInt8(0)), (2, 0), (3, 0)])
    func headerVersionsAreRead(major: UInt8, minor: UInt8) throws {
        let folder = try TemporaryFolder()
        let values: [Double] = [1.5, -2, 3.25, 4, 5, 6e10]
        let bytes = npyFile(
            dictionary: "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
            version: (major, minor), data: littleEndianBytes(values)
        )
        let path = try folder.write("v.npy", bytes: bytes)
        let reader = try NPYReader(path: path)
        #expect(reader.formatVersion == Int(major))
        #expect(reader.dataOffset % 64 == 0)
        #expect(try reader.readAll().doubles() == values)
    }

    @Test func numpyLayoutWrittenByHandIsRead() throws {
        // Key order and spacing vary between writers; the 16-byte alignment of old numpy too.
        let folder = try TemporaryFolder()
        let values: [Float] = [1, 2, 3, 4, 5, 6, 7, 8]
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let text = "{\"shape\":(4,2),\"fortran_order\":False,\"descr\":\"<f4\"}   \n"  // 58 bytes: data at 68
        bytes += [UInt8(text.utf8.count), 0] + Array(text.utf8) + littleEndianBytes(values)
        let path = try folder.write("h.npy", bytes: bytes)
        let reader = try NPYReader(path: path)
        #expect(reader.shape == [4, 2])
        #expect(reader.dataOffset == 10 + text.utf8.count)
        #expect(try reader.readRows(2..<4).doubles() == [5, 6, 7, 8])
    }

    @Test(arguments: [
        ("|u1", littleEndianBytes([UInt8(0), 3, 255]), [0, 3, 255]),
        ("|i1", littleEndianBytes([Int8(-1), 0, 127]), [-1, 0, 127]),
        ("<i1", littleEndianBytes([Int8(-128), 5, 6]), [-128, 5, 6]),
        ("<i2", littleEndianBytes([Int16(-300), 2, 30000]), [-300, 2, 30000]),
        ("<u2", littleEndianBytes([UInt16(65535), 1, 2]), [65535, 1, 2]),
        ("<i4", littleEndianBytes([Int32(-70000), 1, 2]), [-70000, 1, 2]),
        ("<u4", littleEndianBytes([UInt32(4_000_000_000), 1, 2]), [4_000_000_000, 1, 2]),
        ("<i8", littleEndianBytes([Int64(-5), 1 << 40, 2]), [-5, 1 << 40, 2]),
        ("<u8", littleEndianBytes([UInt64(7), 1, 2]), [7, 1, 2]),
    ] as [(String, [UInt8], [Int])])
    func integerLabelArraysAreRead(descr: String, data: [UInt8], expected: [Int]) throws {
        let folder = try TemporaryFolder()
        let path = try folder.write(
            "y.npy", bytes: npyFile(dictionary: "{'descr': '\(descr)', 'fortran_order': False, 'shape': (3,), }", data: data)
        )
        let reader = try NPYReader(path: path)
        #expect(reader.rows == 3 && reader.columns == 1)
        #expect(try reader.readIntegerLabels() == expected)
    }

    @Test func integerWriterRoundTrips() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("y.npy")
        let labels = [0, 2, 1, -4, Int.max]
        try NPYWriter.writeIntegers(labels, to: path)
        let reader = try NPYReader(path: path)
        #expect(reader.descr == "<i8")
        #expect(try reader.readIntegerLabels() == labels)
        #expect(try DatasetLoader.loadLabels(path: path) == labels.map(String.init))
    }

    @Test func uint64LabelAboveIntMaxIsAnError() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write(
            "y.npy",
            bytes: npyFile(dictionary: "{'descr': '<u8', 'fortran_order': False, 'shape': (2,), }", data: littleEndianBytes([UInt64(1), UInt64.max]))
        )
        let error = expectDatasetError { _ = try NPYReader(path: path).readIntegerLabels() }
        #expect(error?.row == 1)
        #expect(error?.description.contains("does not fit") == true)
    }

    @Test func floatArrayAsLabelsIsAnError() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("y.npy")
        try NPYWriter.writeMatrix([1, 2], rows: 2, columns: 1, to: path)
        let error = expectDatasetError { _ = try NPYReader(path: path).readIntegerLabels() }
        #expect(error?.description.contains("labels must be an integer array") == true)
    }

    // MARK: - Bad input, one test per case

    @Test func missingFile() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("absent.npy")
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.file == path)
        #expect(error?.description == "\(path): no such file")
    }

    @Test func directoryInsteadOfFile() throws {
        let folder = try TemporaryFolder()
        let error = expectDatasetError { _ = try NPYReader(path: folder.url.path) }
        #expect(error?.description.contains("is a directory") == true)
    }

    @Test func wrongMagic() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.npy", text: "a,b\n1,2\n")
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description == "\(path): is not an .npy file: it does not start with \"\\x93NUMPY\"")
    }

    @Test func emptyFile() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.npy", bytes: [])
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description.contains("is empty") == true)
    }

    @Test func unsupportedVersion() throws {
        let folder = try TemporaryFolder()
        let bytes = npyFile(dictionary: "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", version: (4, 0), data: littleEndianBytes([1.0]))
        let path = try folder.write("x.npy", bytes: bytes)
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description.contains("unsupported .npy format version 4.0") == true)
        #expect(error?.description.contains("1.0, 2.0 and 3.0") == true)
    }

    @Test func fortranOrder() throws {
        let folder = try TemporaryFolder()
        let bytes = npyFile(dictionary: "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", data: littleEndianBytes([1.0, 2, 3, 4]))
        let path = try folder.write("x.npy", bytes: bytes)
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description == "\(path): Fortran order is not supported; save with np.ascontiguousarray")
    }

    @Test func threeDimensions() throws {
        let folder = try TemporaryFolder()
        let bytes = npyFile(dictionary: "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1, 2), }", data: littleEndianBytes([1.0, 2, 3, 4]))
        let path = try folder.write("x.npy", bytes: bytes)
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description.contains("has 3 dimensions, shape (2, 1, 2)") == true)
    }

    @Test func scalarArray() throws {
        let folder = try TemporaryFolder()
        let bytes = npyFile(dictionary: "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", data: littleEndianBytes([1.0]))
        let path = try folder.write("x.npy", bytes: bytes)
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description.contains("0-D (scalar)") == true)
    }

    @Test func oneDimensionalArrayAsFeatures() throws {
        let folder = try TemporaryFolder()
        let bytes = npyFile(dictionary: "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", data: littleEndianBytes([1.0, 2, 3]))
        let path = try folder.write("x.npy", bytes: bytes)
        let reader = try NPYReader(path: path)  // fine as a header
        let error = expectDatasetError { _ = try reader.readAll() }
        #expect(error?.description.contains("is a 1-D array, shape (3,)") == true)
        #expect(error?.description.contains("x.reshape(-1, 1)") == true)
        let loaderError = expectDatasetError { _ = try DatasetLoader.shape(path: path) }
        #expect(loaderError?.description.contains("1-D") == true)
    }

    @Test func integerArrayAsFeatures() throws {
        let folder = try TemporaryFolder()
        let bytes = npyFile(dictionary: "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }", data: littleEndianBytes([Int32(1), 2, 3, 4]))
        let path = try folder.write("x.npy", bytes: bytes)
        let error = expectDatasetError { _ = try NPYReader(path: path).readAll() }
        #expect(error?.description.contains("has dtype '<i4' (int32), which cannot be read as features") == true)
    }

    @Test func bigEndianFloat() throws {
        let folder = try TemporaryFolder()
        let bytes = npyFile(dictionary: "{'descr': '>f8', 'fortran_order': False, 'shape': (1, 1), }", data: [0x3F, 0xF0, 0, 0, 0, 0, 0, 0])
        let path = try folder.write("x.npy", bytes: bytes)
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description.contains("big-endian dtype '>f8'") == true)
        #expect(error?.description.contains("x.astype('<f8')") == true)
    }

    @Test(arguments: [("<c16", "complex"), ("<f2", "float16"), ("|b1", "bool"), ("<U5", "string"), ("|O", "unsupported dtype '|O'")])
    func unsupportedDtypeIsNamed(descr: String, kind: String) throws {
        let folder = try TemporaryFolder()
        let bytes = npyFile(dictionary: "{'descr': '\(descr)', 'fortran_order': False, 'shape': (1, 1), }", data: [UInt8](repeating: 0, count: 32))
        let path = try folder.write("x.npy", bytes: bytes)
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description.contains("'\(descr)'") == true)
        #expect(error?.description.contains(kind) == true)
    }

    @Test func structuredDtype() throws {
        let folder = try TemporaryFolder()
        let bytes = npyFile(dictionary: "{'descr': [('a', '<f8'), ('b', '<f8')], 'fortran_order': False, 'shape': (1,), }", data: [UInt8](repeating: 0, count: 16))
        let path = try folder.write("x.npy", bytes: bytes)
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description.contains("structured dtypes") == true)
    }

    @Test(arguments: [
        "{'descr': '<f8', 'fortran_order': False}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 'x'), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, -1), }",
        "{'descr': '<f8', 'fortran_order': 0, 'shape': (2, 1), }",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), 'extra': 1}",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1) ",
        "['descr', '<f8']",
        "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), } trailing",
    ])
    func malformedHeader(dictionary: String) throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.npy", bytes: npyFile(dictionary: dictionary, data: littleEndianBytes([1.0, 2])))
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description.contains("malformed header") == true)
    }

    @Test func truncatedData() throws {
        let folder = try TemporaryFolder()
        let bytes = npyFile(
            dictionary: "{'descr': '<f8', 'fortran_order': False, 'shape': (1000, 16), }",
            data: [UInt8](repeating: 0, count: 12000)
        )
        let path = try folder.write("x.npy", bytes: bytes)
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description == "\(path): truncated: header says 1000 rows of 16 float64 (128000 bytes) but 12000 bytes follow the header")
    }

    @Test func truncatedHeader() throws {
        let folder = try TemporaryFolder()
        let bytes = npyFile(dictionary: "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", data: [])
        let path = try folder.write("x.npy", bytes: Array(bytes[0..<40]))
        let error = expectDatasetError { _ = try NPYReader(path: path) }
        #expect(error?.description.contains("truncated") == true)
    }

    @Test func fileShrinksAfterOpening() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("x.npy")
        try NPYWriter.writeMatrix((0..<400).map(Double.init), rows: 100, columns: 4, to: path)
        let reader = try NPYReader(path: path)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(reader.dataOffset + 50 * 4 * 8))
        try handle.close()
        let error = expectDatasetError { _ = try reader.readRows(60..<70) }
        #expect(error?.description.contains("changed while being read") == true)
        let early = expectDatasetError { _ = try reader.readRows(0..<10) }
        #expect(early?.description.contains("changed while being read") == true)
    }

    @Test func failedWriteLeavesNoFile() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("missing-folder/x.npy")
        let error = expectDatasetError { try NPYWriter.writeMatrix([1], rows: 1, columns: 1, to: path) }
        #expect(error?.file == path)
        #expect(try folder.contents().isEmpty)
    }

    @Test func writeReplacesAnExistingFileAndLeavesNoTemporaryFile() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.npy", text: "old")
        try NPYWriter.writeMatrix([1, 2], rows: 1, columns: 2, to: path)
        #expect(try folder.contents() == ["x.npy"])
        #expect(try NPYReader(path: path).readAll().doubles() == [1, 2])
    }
}
