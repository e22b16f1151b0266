import Datasets
import Foundation
import Testing

/// Tables as they come: text columns, missing cells, row identifiers.
@Suite("Inspecting mixed tables")
struct TableInspectorTests {
    /// 12 rows: a text ID, a serial number, a measurement with gaps written four ways, a repeated integer, a label.
    static func table() -> String {
        var text = "id,serial,x,count,kind\n"
        let gaps = [2: "", 5: "NA", 7: "nan", 9: "null"]
        for i in 0..<12 {
            text += "R\(100 + i),\(7 + i),\(gaps[i] ?? String(Double(i) / 2)),\(i % 4),\(i % 3 == 0 ? "a" : "b")\n"
        }
        return text
    }

    @Test("every column is summarised: numbers with statistics and missing cells, text with its values")
    func mixedColumns() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("t.csv", text: Self.table())
        let (rows, columns) = try TableInspector.summarize(path: path)
        #expect(rows == 12)
        #expect(columns.map(\.name) == ["id", "serial", "x", "count", "kind"])
        #expect(columns.map(\.kind) == [.text, .numeric, .numeric, .numeric, .text])
        let x = columns[2]
        #expect(x.missing == 4)
        let present = (0..<12).filter { ![2, 5, 7, 9].contains($0) }.map { Double($0) / 2 }
        #expect(x.numbers?.count == 8)
        #expect(abs(x.numbers!.mean - present.reduce(0, +) / 8) < 1e-12)
        #expect(x.numbers?.nanCount == 0)
        let kind = columns[4]
        #expect(kind.values == [TextCount(value: "b", count: 8), TextCount(value: "a", count: 4)])
        #expect(kind.distinctCount == 2 && kind.distinctCountIsExact)
        #expect(columns[0].distinctCount == 12)
    }

    @Test("identifiers: text or integers different on every row, in order or a run; not repeated values or measurements")
    func identifiersAreFlagged() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("t.csv", text: Self.table())
        let columns = try TableInspector.summarize(path: path).columns
        #expect(columns.map(\.looksLikeIdentifier) == [true, true, false, false, false])
        // Shuffled consecutive integers are a permutation of a run: still an identifier.
        let shuffled = try folder.write("s.csv", text: "n,v\n" + [5, 3, 9, 1, 0, 2, 8, 4, 6, 7].map { "\($0),\(Double($0) * 1.5 + 0.25)\n" }.joined())
        #expect(try TableInspector.summarize(path: shuffled).columns.map(\.looksLikeIdentifier) == [true, false])
        // Too few rows prove nothing.
        let short = try folder.write("short.csv", text: "n,v\n1,a\n2,b\n3,c\n")
        #expect(try TableInspector.summarize(path: short).columns.map(\.looksLikeIdentifier) == [false, false])
    }

    @Test("a fit's identifier features are found among the selected columns only, by their place in the file")
    func identifierFeatures() throws {
        let folder = try TemporaryFolder()
        var text = "a,serial,b\n"
        for i in 0..<20 { text += "\(Double(i % 5) * 0.3),\(1000 + i),\(Double(i % 7))\n" }
        let path = try folder.write("f.csv", text: text)
        let suspects = try TableInspector.identifierFeatures(path: path, csv: CSVOptions())
        #expect(suspects.map(\.index) == [1] && suspects.map(\.name) == ["serial"])
        #expect(try TableInspector.identifierFeatures(path: path, csv: CSVOptions(excludedColumns: ["serial"])).isEmpty)
        let npy = folder.path("f.npy")
        try NPYWriter.writeMatrix((0..<20).flatMap { [Double($0 % 3), Double($0)] }, rows: 20, columns: 2, to: npy)
        #expect(try TableInspector.identifierFeatures(path: npy, csv: CSVOptions()).map(\.index) == [1])
    }

    @Test("missing-value words", arguments: ["", "NA", "NaN", "nan", "null", "NULL", "N/A", "None"])
    func missingWords(_ word: String) {
        #expect(MissingValues.isMissing(word))
        #expect(!MissingValues.isMissing("0") && !MissingValues.isMissing("na me"))
    }
}
