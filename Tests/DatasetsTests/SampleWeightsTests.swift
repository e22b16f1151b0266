import Datasets
import Foundation
import Testing

@Suite("Sample weights")
struct SampleWeightsTests {
    @Test func npyOfEveryDtypeReadsAsDoubles() throws {
        let folder = try TemporaryFolder()
        let float64 = folder.path("w64.npy")
        try NPYWriter.writeVector([0.5, 0, 2], to: float64)
        #expect(try SampleWeights.read(path: float64) == [0.5, 0, 2])
        let integers = folder.path("wi.npy")
        try NPYWriter.writeIntegers([3, 0, 1], to: integers)
        #expect(try SampleWeights.read(path: integers) == [3, 0, 1])
        let float32 = try folder.write("w32.npy", bytes: npyFile(
            dictionary: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            data: [Float(1.5), Float(0.25)].flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }))
        #expect(try SampleWeights.read(path: float32) == [1.5, 0.25])
    }

    @Test func textFileWithOrWithoutHeader() throws {
        let folder = try TemporaryFolder()
        #expect(try SampleWeights.read(path: folder.write("a.txt", text: "1\n2.5\n\n0\n")) == [1, 2.5, 0])
        #expect(try SampleWeights.read(path: folder.write("b.csv", text: "weight\n1\n3\n")) == [1, 3])
    }

    @Test(arguments: [
        ("-1", "line 3: weight -1.0 is negative; weights must be non-negative finite numbers"),
        ("nan", "line 3: weight is NaN; weights must be non-negative finite numbers"),
        ("inf", "line 3: weight is +infinity; weights must be non-negative finite numbers"),
        ("x", "line 3: \"x\" is not a number; expected one weight per line"),
    ])
    func badTextWeightNamesFileAndLine(cell: String, expected: String) throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("w.txt", text: "1\n2\n\(cell)\n4\n")
        #expect(throws: DatasetError.self) { try SampleWeights.read(path: path) }
        do { _ = try SampleWeights.read(path: path) } catch {
            #expect("\(error)" == "\(path): \(expected)")
        }
    }

    @Test(arguments: [-2.0, .nan, -.infinity])
    func badNpyWeightNamesFileAndRow(value: Double) throws {
        let folder = try TemporaryFolder()
        let path = folder.path("w.npy")
        try NPYWriter.writeVector([1, 1, value], to: path)
        do {
            _ = try SampleWeights.read(path: path)
            Issue.record("a bad weight was accepted")
        } catch let error as DatasetError {
            #expect(error.file == path && error.row == 2 && error.numbering == .index)
            #expect("\(error)".hasPrefix("\(path): row 2: weight"))
        }
    }

    @Test func wrongLengthSaysBothCounts() throws {
        #expect(throws: DatasetError(file: "w.npy", message: "has 3 weights but x.npy has 4 rows; give one weight per row")) {
            try SampleWeights.check(3, file: "w.npy", rows: 4, dataFile: "x.npy")
        }
    }

    @Test func allZeroIsOneLineError() throws {
        do {
            try SampleWeights.checkTotal([0, 0, 0], file: "w.npy")
            Issue.record("all-zero weights were accepted")
        } catch {
            #expect("\(error)" == "w.npy: every sample weight is zero; at least one row needs a positive weight")
            #expect(!"\(error)".contains("\n"))
        }
        try SampleWeights.checkTotal([0, 1e-300], file: "w.npy")
    }

    @Test func weightColumnIsNotAFeature() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("d.csv", text: "a,w,b\n1,2,3\n4,0.5,6\n")
        let csv = CSVOptions(weightColumn: "w")
        let loaded = try DatasetLoader.load(path: path, csv: csv)
        #expect(loaded.columnNames == ["a", "b"])
        #expect(loaded.features.doubles() == [1, 3, 4, 6])
        #expect(try DatasetLoader.shape(path: path, csv: csv).columns == 2)
        #expect(try SampleWeights.read(columnOf: path, csv: csv) == [2, 0.5])
        #expect(try SampleWeights.read(columnOf: path, csv: csv, rows: 1..<2) == [0.5])
        #expect(throws: DatasetError.self) { try DatasetLoader.load(path: path, csv: CSVOptions(columns: ["a", "w"], weightColumn: "w")) }
        #expect(throws: DatasetError.self) { try DatasetLoader.load(path: path, csv: CSVOptions(labelColumn: "w", weightColumn: "w")) }
    }

    @Test func negativeWeightInColumnNamesRowAndColumn() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("d.csv", text: "a,w\n1,2\n4,-1\n")
        #expect(throws: DatasetError(file: path, row: 1, columnName: "w", numbering: .index,
                                     message: "weight -1.0 is negative; weights must be non-negative finite numbers")) {
            try SampleWeights.read(columnOf: path, csv: CSVOptions(weightColumn: "w"))
        }
    }

    @Test func npyWeightColumnByIndex() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("d.npy")
        try NPYWriter.writeMatrix([1, 2, 3, 4, 5, 6], rows: 2, columns: 3, to: path)
        let csv = CSVOptions(weightColumn: "1")
        #expect(try DatasetLoader.load(path: path, csv: csv).features.doubles() == [1, 3, 4, 6])
        #expect(try SampleWeights.read(columnOf: path, csv: csv) == [2, 5])
    }
}
