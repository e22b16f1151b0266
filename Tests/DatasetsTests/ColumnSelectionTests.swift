import Datasets
import Foundation
import Testing

/// Column ranges and exclusions, for text files by name or position and for `.npy` by position.
@Suite("Column selection: ranges and exclusions")
struct ColumnSelectionTests {
    /// An ID column, three measurements and a text label, as pandas writes a table.
    static let table = """
        id,alcohol,ash,proline,cultivar
        W0001,14.2,2.4,1065,c0
        W0002,13.2,2.1,1050,c0
        W0003,12.4,2.5,520,c1
        """

    @Test("a range of positions or names selects the columns between, both ends included", arguments: [
        ["1...3"], ["alcohol...proline"], ["alcohol...3"], ["1", "ash...proline"],
    ])
    func rangeSelectsTheColumnsBetween(_ columns: [String]) throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("wine.csv", text: Self.table)
        let table = try CSVReader.read(path: path, options: CSVOptions(columns: columns, labelColumn: "cultivar"))
        #expect(table.columnNames == ["alcohol", "ash", "proline"])
        #expect(table.features.doubles() == [14.2, 2.4, 1065, 13.2, 2.1, 1050, 12.4, 2.5, 520])
        #expect(table.labels == ["c0", "c0", "c1"])
    }

    @Test("--exclude-columns leaves columns out of all the others, or out of a selection")
    func exclusionsLeaveColumnsOut() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("wine.csv", text: Self.table)
        let all = try CSVReader.read(path: path, options: CSVOptions(excludedColumns: ["id"], labelColumn: "cultivar"))
        #expect(all.columnNames == ["alcohol", "ash", "proline"])
        let some = try CSVReader.read(path: path, options: CSVOptions(columns: ["1...3"], excludedColumns: ["ash"], labelColumn: "cultivar"))
        #expect(some.columnNames == ["alcohol", "proline"])
        #expect(some.features.doubles() == [14.2, 1065, 13.2, 1050, 12.4, 520])
        let ranged = try CSVReader.read(path: path, options: CSVOptions(excludedColumns: ["0", "ash...cultivar"]))
        #expect(ranged.columnNames == ["alcohol"])
        #expect(try DatasetLoader.shape(path: path, csv: CSVOptions(excludedColumns: ["id", "cultivar"])).columns == 3)
    }

    @Test("a range skips the label column inside it; a single column named twice is refused")
    func rangeAroundTheLabel() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("wine.csv", text: Self.table)
        let table = try CSVReader.read(path: path, options: CSVOptions(columns: ["1...3"], labelColumn: "ash"))
        #expect(table.columnNames == ["alcohol", "proline"])
        let twice = expectDatasetError { _ = try CSVReader.read(path: path, options: CSVOptions(columns: ["1...3", "proline"])) }
        #expect(twice?.description == "\(path): column \"proline\" is selected twice")
    }

    @Test("a range that runs backwards, names an unknown column or leaves nothing is refused, naming it")
    func badRangesAreNamed() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("wine.csv", text: Self.table)
        let backwards = expectDatasetError { _ = try CSVReader.read(path: path, options: CSVOptions(columns: ["3...1"])) }
        #expect(backwards?.description == "\(path): the range \"3...1\" runs backwards (column \"proline\" comes after column \"alcohol\")")
        let unknown = expectDatasetError { _ = try CSVReader.read(path: path, options: CSVOptions(columns: ["alcohol...color"])) }
        #expect(unknown?.description.contains("unknown column \"color\"; the columns are \"id\"") == true)
        let nothing = expectDatasetError { _ = try CSVReader.read(path: path, options: CSVOptions(excludedColumns: ["0...4"])) }
        #expect(nothing?.description == "\(path): no feature columns are left to read")
    }

    @Test(".npy files take ranges and exclusions by position")
    func npyByPosition() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("x.npy")
        try NPYWriter.write(FeatureMatrix(rows: 2, columns: 4, values: [0, 1, 2, 3, 10, 11, 12, 13]), to: path)
        let ranged = try DatasetLoader.load(path: path, csv: CSVOptions(columns: ["1...3"], excludedColumns: ["2"]))
        #expect(ranged.features.doubles() == [1, 3, 11, 13])
        let named = expectDatasetError { _ = try DatasetLoader.load(path: path, csv: CSVOptions(excludedColumns: ["id"])) }
        #expect(named?.description.contains(".npy files have no column names, so name columns by 0-based index (0 to 3)") == true)
    }
}
