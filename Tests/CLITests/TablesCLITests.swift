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
