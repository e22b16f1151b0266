import Datasets
import Foundation
import Testing

/// End-to-end tests of `emfleet data …` through the real binary.
@Suite("emfleet data (CLI)")
struct DataCLITests {
    private func bytes(_ path: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: path))
    }

    @Test(arguments: ["npy", "csv"])
    func generateIsReproducibleByteForByte(ext: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let arguments = ["data", "generate", "--samples", "300", "--features", "3", "--components", "2", "--seed", "17"]
        let first = try EmfleetBinary.run(arguments + ["--out", scratch.path("a.\(ext)"), "--labels", scratch.path("la.\(ext)")])
        let second = try EmfleetBinary.run(arguments + ["--out", scratch.path("b.\(ext)"), "--labels", scratch.path("lb.\(ext)")])
        let other = try EmfleetBinary.run(["data", "generate", "--samples", "300", "--features", "3", "--components", "2", "--seed", "18", "--out", scratch.path("c.\(ext)")])
        #expect(first.status == 0 && second.status == 0 && other.status == 0, "\(first.stderr)\(second.stderr)\(other.stderr)")
        #expect(first.stdout.contains("wrote 300 rows × 3 features"))
        #expect(try bytes(scratch.path("a.\(ext)")) == bytes(scratch.path("b.\(ext)")))
        #expect(try bytes(scratch.path("la.\(ext)")) == bytes(scratch.path("lb.\(ext)")))
        #expect(try bytes(scratch.path("a.\(ext)")) != bytes(scratch.path("c.\(ext)")))

        let loaded = try DatasetLoader.load(path: scratch.path("a.\(ext)"))
        let expected = SyntheticMixture.generate(samples: 300, features: 3, components: 2, seed: 17)
        #expect(loaded.features == expected.features)
        #expect(try DatasetLoader.loadLabels(path: scratch.path("la.\(ext)")) == expected.labels.map(String.init))
    }

    @Test func generateFloat32() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let result = try EmfleetBinary.run(["data", "generate", "--samples", "10", "--features", "2", "--components", "1", "--seed", "1", "--dtype", "float32", "--out", scratch.path("x.npy")])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try NPYReader(path: scratch.path("x.npy")).scalarType == .float32)
    }

    @Test func inspectShowsShapeAndColumns() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let path = scratch.path("d.csv")
        try "a,b,label\n1,10,x\n2,20,y\n3,nan,z\n".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try EmfleetBinary.run(["data", "inspect", path, "--label-column", "label"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("shape:   3 rows × 3 columns (2 numeric, 1 text)"))
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let header = try #require(lines.first { $0.hasPrefix("column") })
        #expect(header.split(separator: " ") == ["column", "name", "mean", "std", "min", "max", "missing", "Inf"])
        let rowA = try #require(lines.first { $0.contains(" a ") }).split(separator: " ")
        #expect(rowA == ["0", "a", "2", "0.816497", "1", "3", "0", "0"])
        let rowB = try #require(lines.first { $0.contains(" b ") }).split(separator: " ")
        #expect(rowB == ["1", "b", "15", "5", "10", "20", "1", "0"])
        // Columns line up: every table line is as long as the header.
        let table = result.stdout.components(separatedBy: "\n").drop { !$0.hasPrefix("column") }.prefix { !$0.isEmpty }
        #expect(Set(table.map(\.count)).count == 1)
    }

    @Test func inspectSelectsColumns() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let path = scratch.path("d.npy")
        try NPYWriter.writeMatrix([1, 2, 3, 4, 5, 6], rows: 2, columns: 3, to: path)
        let result = try EmfleetBinary.run(["data", "inspect", path, "--columns", "2,0"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("shape:   2 rows × 2 columns"))
        #expect(result.stdout.contains("dtype:   float64"))
    }

    @Test func convertCSVToNPYAndBackKeepsValues() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let source = scratch.path("in.csv")
        try "x,species,y\n0.1,a,1e-300\n-2.5,b,3\n7,a,0.30000000000000004\n".write(toFile: source, atomically: true, encoding: .utf8)
        let toNPY = try EmfleetBinary.run(["data", "convert", source, scratch.path("mid.npy"), "--label-column", "species", "--labels-out", scratch.path("species.csv")])
        #expect(toNPY.status == 0, "\(toNPY.stderr)")
        let toCSV = try EmfleetBinary.run(["data", "convert", scratch.path("mid.npy"), scratch.path("out.csv")])
        #expect(toCSV.status == 0, "\(toCSV.stderr)")
        let back = try CSVReader.read(path: scratch.path("out.csv"))
        #expect(back.features.doubles().map(\.bitPattern) == [0.1, 1e-300, -2.5, 3, 7, 0.30000000000000004].map(\.bitPattern))
        #expect(try DatasetLoader.loadLabels(path: scratch.path("species.csv")) == ["a", "b", "a"])
        let float32 = try EmfleetBinary.run(["data", "convert", source, scratch.path("f.npy"), "--columns", "y,x", "--dtype", "float32"])
        #expect(float32.status == 0, "\(float32.stderr)")
        let reader = try NPYReader(path: scratch.path("f.npy"))
        #expect(reader.scalarType == .float32 && reader.columns == 2)
        #expect(try reader.readAll()[row: 1, column: 1] == -2.5)
    }

    @Test func badFileGivesOneErrorLineAndStatusOne() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let path = scratch.path("broken.npy")
        try Data("not numpy at all".utf8).write(to: URL(fileURLWithPath: path))
        let result = try EmfleetBinary.run(["data", "inspect", path])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(result.stderr.hasPrefix("emfleet: error: \(path): "))
        #expect(result.stdout.isEmpty)
    }

    @Test func nonNumericCellGivesLineAndColumn() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let path = scratch.path("d.csv")
        try "a,b\n1,2\n3,oops\n".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try EmfleetBinary.run(["data", "convert", path, scratch.path("o.npy")])
        #expect(result.status == 1)
        #expect(result.stderr == "emfleet: error: \(path): line 3, column 2 (\"b\"): \"oops\" is not a number; "
            + "if the column holds text, leave it out with --exclude-columns b (or name it with --label-column)\n")
        #expect(!FileManager.default.fileExists(atPath: scratch.path("o.npy")))
    }

    @Test func missingFileGivesOneErrorLine() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let result = try EmfleetBinary.run(["data", "convert", scratch.path("nope.csv"), scratch.path("o.npy")])
        #expect(result.status == 1)
        #expect(result.stderr == "emfleet: error: \(scratch.path("nope.csv")): no such file\n")
    }

    @Test(arguments: [
        ["data", "generate", "--samples", "-5", "--features", "2", "--components", "2", "--out", "x.npy"],
        ["data", "generate", "--samples", "5", "--features", "0", "--components", "2", "--out", "x.npy"],
        ["data", "convert", "a.csv", "b.npy", "--labels-out", "l.npy"],
    ])
    func invalidOptionsAreUsageErrors(arguments: [String]) throws {
        let result = try EmfleetBinary.run(arguments)
        #expect(result.status != 0 && result.status != 1)
        #expect(result.stderr.contains("Error:"))
    }
}
