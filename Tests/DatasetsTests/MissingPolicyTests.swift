import Datasets
import Foundation
import Testing

/// `--missing error|drop-rows|mean` as the readers apply it.
@Suite("Missing values: refuse, drop rows, fill with means")
struct MissingPolicyTests {
    /// 8 rows of `a,b,c,label`; rows 1, 4 and 5 have gaps (an empty cell, NA, nan, null).
    static let table = "a,b,c,label\n1,2,3,x\n4,,6,y\n7,8,9,x\n10,11,12,y\nNA,14,nan,x\n16,null,18,y\n19,20,21,x\n22,23,24,y\n"

    @Test("the default refuses the first missing cell, naming its file, line and column, and the option")
    func errorNamesTheCellAndTheOption() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("t.csv", text: Self.table)
        let error = expectDatasetError { _ = try DatasetLoader.load(path: path, csv: CSVOptions(labelColumn: "label"), finiteOnly: true) }
        #expect(error?.description.hasPrefix("\(path): line 3, column 2 (\"b\"): missing value (an empty cell); pass --missing drop-rows") == true,
                "\(String(describing: error))")
        #expect(error?.description.contains("--missing mean") == true)
    }

    @Test("drop-rows leaves out the rows with a gap, and their labels")
    func dropRows() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("t.csv", text: Self.table)
        let loaded = try DatasetLoader.load(path: path, csv: CSVOptions(labelColumn: "label", missing: .dropRows), finiteOnly: true)
        #expect(loaded.droppedRows == [1, 4, 5])
        #expect(loaded.features.doubles() == [1, 2, 3, 7, 8, 9, 10, 11, 12, 19, 20, 21, 22, 23, 24])
        #expect(loaded.labels == ["x", "x", "y", "x", "y"])
        // A range of rows: the dropped ones are named by their place in the file.
        let part = try DatasetLoader.load(path: path, csv: CSVOptions(labelColumn: "label", missing: .dropRows), rows: 3..<6, finiteOnly: true)
        #expect(part.droppedRows == [4, 5] && part.features.doubles() == [10, 11, 12])
    }

    @Test("mean fills each gap with its column's mean over the present values")
    func mean() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("t.csv", text: Self.table)
        let loaded = try DatasetLoader.load(path: path, csv: CSVOptions(labelColumn: "label", missing: .mean), finiteOnly: true)
        let a = (1.0 + 4 + 7 + 10 + 16 + 19 + 22) / 7, b = (2.0 + 8 + 11 + 14 + 20 + 23) / 6, c = (3.0 + 6 + 9 + 12 + 18 + 21 + 24) / 7
        #expect(loaded.imputationMeans == [a, b, c])
        #expect(loaded.imputedCells == 4)
        #expect(loaded.features[row: 1, column: 1] == b && loaded.features[row: 4, column: 0] == a && loaded.features[row: 4, column: 2] == c)
        #expect(loaded.features[row: 5, column: 1] == b && loaded.features[row: 0, column: 1] == 2)
        // Given means (a model's) are used as they are.
        let given = try DatasetLoader.load(path: path, csv: CSVOptions(labelColumn: "label", missing: .mean, imputationMeans: [-1, -2, -3]), finiteOnly: true)
        #expect(given.features[row: 1, column: 1] == -2 && given.features[row: 4, column: 0] == -1)
        // The scan a distributed job's coordinator takes agrees.
        let scan = try MissingValueScan.of(path: path, csv: CSVOptions(labelColumn: "label"))
        #expect(scan.means == [a, b, c] && scan.rowsWithMissing == [1, 4, 5] && scan.missingCells == 4 && scan.keptRows == 5)
    }

    @Test("in .npy files NaN is missing; infinity is refused under every policy")
    func npy() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("x.npy")
        try NPYWriter.write(FeatureMatrix(rows: 3, columns: 2, values: [1, .nan, 3, 4, 5, 6]), to: path)
        let dropped = try DatasetLoader.load(path: path, csv: CSVOptions(missing: .dropRows), finiteOnly: true)
        #expect(dropped.droppedRows == [0] && dropped.features.doubles() == [3, 4, 5, 6])
        let filled = try DatasetLoader.load(path: path, csv: CSVOptions(missing: .mean), finiteOnly: true)
        #expect(filled.features.doubles() == [1, 5, 3, 4, 5, 6])
        let error = expectDatasetError { _ = try DatasetLoader.load(path: path, finiteOnly: true) }
        #expect(error?.description.hasPrefix("\(path): row 0, column 1: missing value (NaN); pass --missing drop-rows") == true)
        let infinite = folder.path("inf.npy")
        try NPYWriter.write(FeatureMatrix(rows: 2, columns: 1, values: [1, .infinity]), to: infinite)
        for policy in MissingPolicy.allCases {
            let refused = expectDatasetError { _ = try DatasetLoader.load(path: infinite, csv: CSVOptions(missing: policy), finiteOnly: true) }
            #expect(refused?.description.contains("+infinity") == true, "\(policy)")
        }
    }

    @Test("a column with no present value has no mean to fill in")
    func emptyColumn() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("t.csv", text: "a,b\n1,NA\n2,\n")
        let error = expectDatasetError { _ = try DatasetLoader.load(path: path, csv: CSVOptions(missing: .mean), finiteOnly: true) }
        #expect(error?.description == "\(path): column 1 (\"b\"): every value of the column is missing, so it has no mean to fill in; leave it out with --exclude-columns")
    }

    @Test("kept rows map to file rows as a brute-force count says", arguments: [[], [0], [3, 4, 5], [0, 2, 9, 10, 11, 19]])
    func keptRows(dropped: [Int]) {
        let kept = (0..<20).filter { !dropped.contains($0) }
        for (k, file) in kept.enumerated() { #expect(KeptRows.fileRow(k, dropped: dropped) == file) }
        for start in 0..<kept.count {
            for end in (start + 1)...kept.count {
                let range = KeptRows.fileRange(start..<end, dropped: dropped)
                #expect(range.lowerBound == kept[start] && range.upperBound == kept[end - 1] + 1)
                #expect(KeptRows.keep(Array(range), fileRange: range, dropped: dropped) == Array(kept[start..<end]))
            }
        }
    }
}
