import Foundation
import Testing

/// Tables as they come: an ID column, measurements and a text label in one CSV.
@Suite("Tables as they come (CLI)")
struct TablesCLITests {
    /// 60 rows: `id` (text), `serial` (unique integers), four measurements and `kind` (text).
    static func writeTable(in scratch: ScratchDirectory) throws -> String {
        var text = "id,serial,m1,m2,m3,m4,kind\n"
        for i in 0..<60 {
            let group = i % 3
            let values = (0..<4).map { j in Double(group * 5) + Double((i * 7 + j * 3) % 11) / 10 }
            text += "R\(1000 + i),\(5000 + i)," + values.map { String($0) }.joined(separator: ",") + ",k\(group)\n"
        }
        let path = scratch.path("table.csv")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("--exclude-columns and a --columns range choose the same features, in process and on workers")
    func exclusionsAndRangesAgree() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try Self.writeTable(in: scratch)
        let common = ["gmm", "fit", "--data", data, "--label-column", "kind", "--components", "3", "--seed", "3", "--quiet"]
        let listed = try EmfleetBinary.run(common + ["--columns", "m1,m2,m3,m4", "--out", scratch.path("listed.json")])
        #expect(listed.status == 0, "\(listed.stderr)")
        for (name, selection) in [
            ("range", ["--columns", "2...5"]),
            ("named-range", ["--columns", "m1...m4"]),
            ("excluded", ["--exclude-columns", "id,serial"]),
            ("workers", ["--exclude-columns", "0...1", "--workers", "2"]),
        ] {
            let result = try EmfleetBinary.run(common + selection + ["--out", scratch.path("\(name).json")])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            #expect(FileManager.default.contents(atPath: scratch.path("\(name).json")) == FileManager.default.contents(atPath: scratch.path("listed.json")),
                    "\(name)")
        }
    }
}

extension TablesCLITests {
    @Test("data inspect shows every column of a mixed table, its gaps and its identifiers")
    func inspectMixedTable() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        var text = "id,serial,m1,m2,kind\n"
        for i in 0..<30 { text += "R\(i),\(i + 1),\(i == 4 ? "NA" : String(Double(i % 6))),\(i == 9 ? "" : String(Double(i % 4) / 4)),k\(i % 3)\n" }
        let path = scratch.path("mixed.csv")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try EmfleetBinary.run(["data", "inspect", path])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(result.stdout.contains("shape:   30 rows × 5 columns (3 numeric, 2 text)"))
        // numpy: mean and population std of the 29 present values.
        #expect(lines.contains(["3", "m2", "0.362069", "0.283042", "0", "0.75", "1", "0"]), "\(result.stdout)")
        #expect(lines.contains { $0.prefix(2) == ["2", "m1"] && $0[6] == "1" })
        #expect(lines.contains(["4", "kind", "0", "3", "k0", "(10),", "k1", "(10),", "k2", "(10)"]), "\(result.stdout)")
        #expect(result.stdout.contains("note: column 0 (\"id\") looks like an identifier (a different text on every row); leave it out of the features with --exclude-columns id"))
        #expect(result.stdout.contains("note: column 1 (\"serial\") looks like an identifier"))
        #expect(result.stdout.contains("note: 2 missing cells (empty, NA, NaN, null) in 2 columns"))
    }

    @Test("a fit warns when a feature looks like a row identifier, and not once it is excluded")
    func fitWarnsAboutIdentifierFeatures() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try Self.writeTable(in: scratch)
        let common = ["gmm", "fit", "--data", data, "--label-column", "kind", "--components", "2", "--quiet"]
        let warned = try EmfleetBinary.run(common + ["--exclude-columns", "id", "--out", scratch.path("a.json")])
        #expect(warned.status == 0, "\(warned.stderr)")
        #expect(warned.stderr == "emfleet: warning: column 1 (\"serial\") looks like a row identifier (a different integer on every row, in order) but is a feature; leave it out with --exclude-columns serial\n")
        let clean = try EmfleetBinary.run(common + ["--exclude-columns", "id,serial", "--out", scratch.path("b.json")])
        #expect(clean.status == 0 && clean.stderr.isEmpty, "\(clean.stderr)")
    }
}
