import Datasets
import Testing

@Suite("Feature matrices")
struct FeatureMatrixTests {
    static let values: [Double] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]

    @Test(arguments: ScalarType.allCases)
    func subscriptRowsAndDoubles(scalarType: ScalarType) {
        let m = FeatureMatrix(rows: 4, columns: 3, values: Self.values).converted(to: scalarType)
        #expect(m.scalarType == scalarType)
        #expect(m[row: 2, column: 1] == 8)
        #expect(m.rows(1..<3).doubles() == [4, 5, 6, 7, 8, 9])
        #expect(m.rows(1..<3).scalarType == scalarType)
        #expect(m.columns([2, 0]).doubles() == [3, 1, 6, 4, 9, 7, 12, 10])
        #expect(m.doubles() == Self.values)
    }

    @Test(arguments: ScalarType.allCases)
    func copyRowsSubtractsTheShift(scalarType: ScalarType) {
        let m = FeatureMatrix(rows: 4, columns: 3, values: Self.values).converted(to: scalarType)
        var destination = [Double](repeating: -1, count: 8)
        destination.withUnsafeMutableBufferPointer { buffer in
            m.copyRows(1..<3, subtracting: [1, 10, 100], into: buffer.baseAddress!)
        }
        #expect(destination == [3, -5, -94, 6, -2, -91, -1, -1])
        destination.withUnsafeMutableBufferPointer { buffer in
            m.copyRows(3..<4, into: buffer.baseAddress!)
        }
        #expect(Array(destination[0..<3]) == [10, 11, 12])
    }

    @Test func copyRowsOfAnEmptyRangeWritesNothing() {
        let m = FeatureMatrix(rows: 2, columns: 2, float32: [1, 2, 3, 4])
        var destination = [Double](repeating: 7, count: 2)
        destination.withUnsafeMutableBufferPointer { m.copyRows(1..<1, subtracting: [0, 0], into: $0.baseAddress!) }
        #expect(destination == [7, 7])
    }

    @Test func finiteMatrixPasses() throws {
        try validateFinite(FeatureMatrix(rows: 2, columns: 2, values: [1, -2, 0, 1e308]), file: "x.npy")
    }

    @Test func nanIsFoundWithRowAndColumn() {
        let m = FeatureMatrix(rows: 3, columns: 4, values: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, .nan, .infinity])
        let error = expectDatasetError { try validateFinite(m, file: "x.npy", firstRow: 100) }
        #expect(error?.row == 102 && error?.column == 2)
        #expect(error?.description == "x.npy: row 102, column 2: missing value (NaN); pass --missing drop-rows (leave out rows with gaps) or --missing mean (fill gaps with the column's mean), or leave the column out with --exclude-columns (`emfleet data inspect` counts them per column)")
    }

    @Test(arguments: [Float.infinity, -Float.infinity])
    func infinityIsFoundInFloat32(value: Float) {
        let m = FeatureMatrix(rows: 2, columns: 2, float32: [0, 0, value, 0])
        let error = expectDatasetError { try validateFinite(m, file: "d.csv", columnNames: ["a", "b"]) }
        #expect(error?.description == "d.csv: row 1, column 0 (\"a\"): value is \(value < 0 ? "-" : "+")infinity; remove or impute non-finite values first")
    }

    @Test func csvNaNTextIsANumberThatValidationCatches() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("d.csv", text: "a,b\n1,2\n3,NaN\n")
        let table = try CSVReader.read(path: path)
        #expect(table.features[row: 1, column: 1].isNaN)
        let error = expectDatasetError { try validateFinite(table.features, file: path, columnNames: table.columnNames) }
        #expect(error?.row == 1 && error?.column == 1 && error?.columnName == "b")
    }
}
