import Datasets
import Foundation
import Numerics
import Testing

@Suite("CSV and text files")
struct CSVTests {
    static let iris = """
        sepal_length,sepal_width,petal_length,species
        5.1,3.5,1.4,setosa
        7.0,3.2,4.7,versicolor

        6.3,3.3,6.0,virginica
        """

    @Test func headerAutoDetectedAndLabelColumnByName() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("iris.csv", text: Self.iris)
        let table = try CSVReader.read(path: path, options: CSVOptions(labelColumn: "species"))
        #expect(table.columnNames == ["sepal_length", "sepal_width", "petal_length"])
        #expect(table.labels == ["setosa", "versicolor", "virginica"])
        #expect(table.features.rows == 3 && table.features.columns == 3)
        #expect(table.features.doubles() == [5.1, 3.5, 1.4, 7.0, 3.2, 4.7, 6.3, 3.3, 6.0])
    }

    @Test func headerAbsentWhenFirstLineIsNumeric() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.csv", text: "1,2\n3,4\n")
        let table = try CSVReader.read(path: path)
        #expect(table.columnNames == nil)
        #expect(table.features.doubles() == [1, 2, 3, 4])
    }

    @Test func headerForcedPresentAndAbsent() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.csv", text: "1,2\n3,4\n")
        let present = try CSVReader.read(path: path, options: CSVOptions(header: .present))
        #expect(present.columnNames == ["1", "2"])
        #expect(present.features.doubles() == [3, 4])
        let named = try folder.write("n.csv", text: "a,b\n3,4\n")
        let error = expectDatasetError { _ = try CSVReader.read(path: named, options: CSVOptions(header: .absent)) }
        #expect(error?.description.hasPrefix("\(named): line 1, column 1: \"a\" is not a number; ") == true)
    }

    @Test func columnSubsetByNameAndIndexInGivenOrder() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("iris.csv", text: Self.iris)
        let table = try CSVReader.read(path: path, options: CSVOptions(columns: ["petal_length", "0"], labelColumn: "3"))
        #expect(table.columnNames == ["petal_length", "sepal_length"])
        #expect(table.features.doubles() == [1.4, 5.1, 4.7, 7.0, 6.0, 6.3])
        #expect(table.labels == ["setosa", "versicolor", "virginica"])
    }

    @Test func unknownColumnNameListsTheColumns() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("iris.csv", text: Self.iris)
        let error = expectDatasetError { _ = try CSVReader.read(path: path, options: CSVOptions(columns: ["petal_width"])) }
        #expect(error?.description.contains("unknown column \"petal_width\"; the columns are \"sepal_length\", \"sepal_width\"") == true)
    }

    @Test func columnIndexOutOfRange() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.csv", text: "1,2\n3,4\n")
        let error = expectDatasetError { _ = try CSVReader.read(path: path, options: CSVOptions(columns: ["2"])) }
        #expect(error?.description.contains("column index 2 is out of range; the file has 2 columns") == true)
        let named = expectDatasetError { _ = try CSVReader.read(path: path, options: CSVOptions(labelColumn: "y")) }
        #expect(named?.description.contains("the file has no header, so name columns by 0-based index") == true)
    }

    @Test func labelColumnCannotAlsoBeAFeature() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("iris.csv", text: Self.iris)
        let error = expectDatasetError {
            _ = try CSVReader.read(path: path, options: CSVOptions(columns: ["0", "species"], labelColumn: "species"))
        }
        #expect(error?.description.contains("both a feature column and the label column") == true)
    }

    @Test func nonNumericCellNamesLineColumnAndText() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.csv", text: "a,b,price\n1,2,3\n\n4,5,n/a\n")
        let error = expectDatasetError { _ = try CSVReader.read(path: path) }
        #expect(error?.numbering == .line)
        #expect(error?.row == 4)
        #expect(error?.column == 3)
        #expect(error?.description.hasPrefix("\(path): line 4, column 3 (\"price\"): \"n/a\" is not a number; ") == true)
    }

    @Test func nonFiniteValuesAreNumbersUnlessFiniteOnlyThenNamedByLine() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.csv", text: "a,b,price\n1,2,3\n\n4,5,-inf\n6,nan,7\n")
        let loaded = try CSVReader.read(path: path)
        #expect(loaded.features[row: 1, column: 2] == -.infinity && loaded.features[row: 2, column: 1].isNaN)
        let error = expectDatasetError { _ = try CSVReader.read(path: path, finiteOnly: true) }
        #expect(error?.numbering == .line)
        #expect(error?.description == "\(path): line 4, column 3 (\"price\"): value is -infinity; remove or impute non-finite values first")
        // Reading from the NaN's row on: still its line in the file, not its place in the range.
        let later = expectDatasetError { _ = try DatasetLoader.load(path: path, rows: 2..<3, finiteOnly: true) }
        #expect(later?.description == "\(path): line 5, column 2 (\"b\"): missing value (NaN); pass --missing drop-rows (leave out rows with gaps) or --missing mean (fill gaps with the column's mean), or leave the column out with --exclude-columns (`emfleet data inspect` counts them per column)")
    }

    @Test func rowsDeepInABigFileAreReadFromTheRowIndexAsFromTheTop() throws {
        let folder = try TemporaryFolder()
        // 10,000 rows with blank lines here and there, a header, a label column and CRLF endings.
        var text = "x,label,y\r\n"
        for i in 0..<10_000 {
            if i % 997 == 0 { text += "\r\n" }
            text += "\(Double(i) * 0.5),c\(i % 3),\(-i)\r\n"
        }
        let path = try folder.write("big.csv", text: text)
        var options = CSVOptions()
        options.labelColumn = "label"
        let whole = try CSVReader.read(path: path, options: options)
        for range in [0..<10, 4090..<4100, 4096..<4097, 8191..<9000, 9990..<10_000, 5000..<5000] {
            let part = try CSVReader.read(path: path, options: options, rows: range)
            #expect(part.features == whole.features.rows(range), "rows \(range)")
            #expect(part.labels == Array(whole.labels![range]), "rows \(range)")
        }
        let beyond = expectDatasetError { _ = try CSVReader.read(path: path, options: options, rows: 9000..<10_001) }
        #expect(beyond?.description.contains("rows 9000..<10001 requested but the file has 10000 data rows") == true)

        // A bad cell deep in the file is named by its line, counting the header and blank lines.
        var lines = text.components(separatedBy: "\r\n")
        let row = 9500, line = 1 + row + row / 997 + 1 + 1   // header, blank lines above, 1-based
        #expect(lines[line - 1] == "4750.0,c2,-9500")
        lines[line - 1] = "4750.0,c2,oops"
        try lines.joined(separator: "\r\n").write(toFile: path, atomically: true, encoding: .utf8)
        let error = expectDatasetError { _ = try CSVReader.read(path: path, options: options, rows: 9400..<9600) }
        #expect(error?.description.hasPrefix("\(path): line \(line), column 3 (\"y\"): \"oops\" is not a number; ") == true)
    }

    @Test("empty cells, NA, NaN, nan and null read as missing (NaN); a fit refuses them, naming the cell and what to do")
    func missingCellsReadAsMissing() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.csv", text: "a,b,c\n1,2,3\n4,,6\nNA,8,null\nnan,NaN,9\n")
        let table = try CSVReader.read(path: path)
        #expect(table.features.doubles().map { $0.isNaN } == [false, false, false, false, true, false, true, false, true, true, true, false])
        let error = expectDatasetError { _ = try CSVReader.read(path: path, finiteOnly: true) }
        #expect(error?.description == "\(path): line 3, column 2 (\"b\"): missing value (an empty cell); pass --missing drop-rows (leave out rows with gaps) or --missing mean (fill gaps with the column's mean), or leave the column out with --exclude-columns (`emfleet data inspect` counts them per column)")
        let words = try folder.write("words.csv", text: "a,b\n1,2\n3,NA\n")
        let named = expectDatasetError { _ = try CSVReader.read(path: words, finiteOnly: true) }
        #expect(named?.description.hasPrefix("\(words): line 3, column 2 (\"b\"): missing value (\"NA\");") == true)
        // Words that are not missing values are still not numbers.
        let other = try folder.write("other.csv", text: "a,b\n1,2\n3,n/a?\n")
        let refused = expectDatasetError { _ = try CSVReader.read(path: other) }
        #expect(refused?.description == "\(other): line 3, column 2 (\"b\"): \"n/a?\" is not a number; "
            + "if the column holds text, leave it out with --exclude-columns b (or name it with --label-column)")
    }

    @Test func raggedRow() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.csv", text: "x,y,z\n1,2,3\n4,5\n")
        let error = expectDatasetError { _ = try CSVReader.read(path: path) }
        #expect(error?.description == "\(path): line 3: expected 3 cells (the header has 3), found 2")
    }

    @Test func headerOnlyHasNoRows() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.csv", text: "x,y\n\n")
        let error = expectDatasetError { _ = try CSVReader.read(path: path) }
        #expect(error?.description == "\(path): has a header but no data rows")
    }

    @Test func emptyFile() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("data.csv", text: "\n  \n")
        let error = expectDatasetError { _ = try CSVReader.read(path: path) }
        #expect(error?.description == "\(path): is empty; expected rows of numbers")
    }

    @Test func missingFile() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("absent.csv")
        let error = expectDatasetError { _ = try CSVReader.read(path: path) }
        #expect(error?.description == "\(path): no such file")
    }

    @Test func whitespaceDelimitedWithTabsAndRuns() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.txt", text: "  1.5   2\t\t3\n4 5 6  \r\n")
        let table = try CSVReader.read(path: path)
        #expect(table.features.rows == 2 && table.features.columns == 3)
        #expect(table.features.doubles() == [1.5, 2, 3, 4, 5, 6])
    }

    @Test func explicitDelimiterAndQuotedCells() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.csv", text: "\"a;b\";\"say \"\"hi\"\"\";c\n1;2;\"3\"\n")
        let table = try CSVReader.read(path: path, options: CSVOptions(delimiter: ";", labelColumn: "1"))
        #expect(table.columnNames == ["a;b", "c"])
        #expect(table.labels == ["2"])
        #expect(table.features.doubles() == [1, 3])
    }

    @Test func tsvFilesAreTabSeparated() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.tsv", text: "first name\tx\nAda Lovelace\t1.5\n")
        let loaded = try DatasetLoader.load(path: path, csv: CSVOptions(labelColumn: "first name"))
        #expect(loaded.labels == ["Ada Lovelace"])
        #expect(loaded.features.doubles() == [1.5])
    }

    @Test func byteOrderMarkAndCRLFAreIgnored() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.csv", bytes: [0xEF, 0xBB, 0xBF] + Array("a,b\r\n1,2\r\n".utf8))
        let table = try CSVReader.read(path: path)
        #expect(table.columnNames == ["a", "b"])
        #expect(table.features.doubles() == [1, 2])
    }

    @Test(arguments: [0..<1, 1..<3, 2..<5, 0..<5, 4..<5, 3..<3])
    func rowRangesMatchSlicesOfTheWholeFile(range: Range<Int>) throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.csv", text: "h1,h2\n1,2\n3,4\n\n5,6\n7,8\n9,10\n")
        let all = try CSVReader.read(path: path).features
        let part = try CSVReader.read(path: path, rows: range)
        #expect(part.features == all.rows(range))
        #expect(part.columnNames == ["h1", "h2"])
    }

    @Test func rowRangeStopsBeforeLaterBadLines() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.csv", text: "1,2\n3,4\nbroken\n")
        #expect(try CSVReader.read(path: path, rows: 0..<2).features.doubles() == [1, 2, 3, 4])
        let error = expectDatasetError { _ = try CSVReader.read(path: path, rows: 0..<3) }
        #expect(error?.row == 3)
    }

    @Test func rowRangeBeyondTheEnd() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("x.csv", text: "1,2\n3,4\n")
        let error = expectDatasetError { _ = try CSVReader.read(path: path, rows: 1..<5) }
        #expect(error?.description.contains("rows 1..<5 requested but the file has 2 data rows") == true)
    }

    @Test func linesLongerThanTheReadBlockAreJoined() throws {
        let folder = try TemporaryFolder()
        let columns = 200_000
        let line = (0..<columns).map { String(Double($0) + 0.25) }.joined(separator: ",")
        let path = try folder.write("wide.csv", text: line + "\n" + line + "\n")
        let table = try CSVReader.read(path: path)
        #expect(table.features.rows == 2 && table.features.columns == columns)
        #expect(table.features[row: 1, column: columns - 1] == Double(columns - 1) + 0.25)
    }

    @Test func writeThenReadIsBitExact() throws {
        let folder = try TemporaryFolder()
        let values = NPYTests.awkwardDoubles + [.nan, .infinity, -.infinity, .leastNonzeroMagnitude, 1e16, 123e-20]
        let matrix = FeatureMatrix(rows: 6, columns: 3, values: values)
        let path = folder.path("x.csv")
        try CSVWriter.write(matrix, columnNames: ["a", "b b", "c,\"d\""], to: path)
        let table = try CSVReader.read(path: path)
        #expect(table.columnNames == ["a", "b b", "c,\"d\""])
        #expect(table.features.doubles().map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test func float32WriteThenReadRoundsBackToTheSameFloats() throws {
        let folder = try TemporaryFolder()
        var rng = SeededGenerator(seed: 7)
        let values = (0..<1000).map { _ in Float(bitPattern: UInt32.random(in: 0..<0x7F80_0000, using: &rng)) * (rng.nextUniform() < 0.5 ? 1 : -1) }
        let path = folder.path("x.csv")
        try CSVWriter.write(FeatureMatrix(rows: 500, columns: 2, float32: values), columnNames: nil, to: path)
        let back = try CSVReader.read(path: path).features.converted(to: .float32)
        guard case .float32(let read) = back.storage else { return }
        #expect(read.map(\.bitPattern) == values.map(\.bitPattern))
    }

    @Test func writeColumnsQuotesWhatNeedsIt() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("labels.csv")
        try CSVWriter.writeColumns(header: ["label"], rows: [["a"], ["b,c"], [" padded "], [""]], to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == "label\na\n\"b,c\"\n\" padded \"\n\"\"\n")
    }
}
