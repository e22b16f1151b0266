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

extension TablesCLITests {
    /// New rows as people have them: the columns in another order, the ID and the label beside them.
    static func writeNewRows(in scratch: ScratchDirectory, dropping dropped: String? = nil) throws -> String {
        var columns = ["kind", "m4", "m3", "id", "m2", "m1", "serial"]
        if let dropped { columns.removeAll { $0 == dropped } }
        var text = columns.joined(separator: ",") + "\n"
        for i in 0..<9 {
            let group = i % 3
            let cells: [String: String] = [
                "kind": "k\(group)", "id": "N\(i)", "serial": "\(9000 + i)",
                "m1": "\(Double(group * 5) + 0.1)", "m2": "\(Double(group * 5) + 0.4)",
                "m3": "\(Double(group * 5) + 0.7)", "m4": "\(Double(group * 5) + 0.2)",
            ]
            text += columns.map { cells[$0]! }.joined(separator: ",") + "\n"
        }
        let path = scratch.path(dropped.map { "new-without-\($0).csv" } ?? "new.csv")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("predict, score and evaluate pick the model's columns by name from a file with others, in any order",
          arguments: ["gmm", "kmeans", "mlp"])
    func modelsRememberTheirColumns(_ tool: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try Self.writeTable(in: scratch)
        let model = scratch.path("\(tool).json")
        let fit: [String] = switch tool {
        case "gmm": ["gmm", "fit", "--components", "3"]
        case "kmeans": ["kmeans", "fit", "--clusters", "3"]
        default: ["mlp", "train", "--hidden", "8", "--epochs", "40", "--lr", "0.01"]
        }
        let trained = try EmfleetBinary.run(fit + ["--data", data, "--label-column", "kind", "--columns", "m1...m4", "--seed", "2", "--out", model, "--quiet"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let file = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model))) as? [String: Any]
        #expect((file?["training"] as? [String: Any])?["feature_columns"] as? [String] == ["m1", "m2", "m3", "m4"])

        // The same rows written with the features in file order: the reference predictions.
        let newRows = try Self.writeNewRows(in: scratch)
        let plain = scratch.path("plain.csv")
        let reordered = try String(contentsOfFile: newRows, encoding: .utf8).split(separator: "\n").map { line -> String in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            return [cells[5], cells[4], cells[2], cells[1]].joined(separator: ",")
        }
        try (reordered.joined(separator: "\n") + "\n").write(toFile: plain, atomically: true, encoding: .utf8)
        let byName = try EmfleetBinary.run([tool, "predict", "--model", model, "--data", newRows, "--out", scratch.path("a.csv")])
        #expect(byName.status == 0, "\(byName.stderr)")
        let reference = try EmfleetBinary.run([tool, "predict", "--model", model, "--data", plain, "--out", scratch.path("b.csv")])
        #expect(reference.status == 0, "\(reference.stderr)")
        let predicted = try String(contentsOfFile: scratch.path("a.csv"), encoding: .utf8)
        #expect(predicted == (try String(contentsOfFile: scratch.path("b.csv"), encoding: .utf8)))
        #expect(predicted.hasPrefix("label\n"), "\(predicted)")
        #expect(predicted.split(separator: "\n").count == 10)

        if tool == "mlp" {
            let evaluated = try EmfleetBinary.run(["mlp", "evaluate", "--model", model, "--data", newRows, "--label-column", "kind"])
            #expect(evaluated.status == 0, "\(evaluated.stderr)")
            #expect(evaluated.stdout.contains("rows      9"))
        } else {
            let scored = try EmfleetBinary.run([tool, "score", "--model", model, "--data", newRows])
            #expect(scored.status == 0, "\(scored.stderr)")
        }

        // A file that lacks one of the model's columns is refused, naming the column.
        let lacking = try Self.writeNewRows(in: scratch, dropping: "m3")
        let refused = try EmfleetBinary.run([tool, "predict", "--model", model, "--data", lacking, "--out", scratch.path("c.csv")])
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("emfleet: error: \(lacking): has no column \"m3\", one of the 4 features \(model) was trained on (m1, m2, m3, m4)"), "\(refused.stderr)")
    }

    @Test("a model file without feature columns (earlier versions) still loads and reads the columns it is given")
    func olderModelFilesStillLoad() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try Self.writeTable(in: scratch)
        let model = scratch.path("m.json")
        #expect(try EmfleetBinary.run(["gmm", "fit", "--data", data, "--label-column", "kind", "--columns", "m1...m4", "--components", "3",
                                       "--out", model, "--quiet"]).status == 0)
        var file = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: model))) as? [String: Any])
        var training = try #require(file["training"] as? [String: Any])
        training.removeValue(forKey: "feature_columns")
        file["training"] = training
        try JSONSerialization.data(withJSONObject: file).write(to: URL(fileURLWithPath: scratch.path("old.json")))
        let old = try EmfleetBinary.run(["gmm", "predict", "--model", scratch.path("old.json"), "--data", data, "--columns", "m1...m4", "--out", scratch.path("old.csv")])
        #expect(old.status == 0, "\(old.stderr)")
        let new = try EmfleetBinary.run(["gmm", "predict", "--model", model, "--data", data, "--out", scratch.path("new.csv")])
        #expect(new.status == 0, "\(new.stderr)")
        #expect(try String(contentsOfFile: scratch.path("old.csv"), encoding: .utf8) == (try String(contentsOfFile: scratch.path("new.csv"), encoding: .utf8)))
    }

    @Test("prediction files: a header on every CSV, probabilities named p_<class> by every command, no .parquet")
    func predictionFiles() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try Self.writeTable(in: scratch)
        let common = ["--data", data, "--label-column", "kind", "--columns", "m1...m4", "--quiet"]
        #expect(try EmfleetBinary.run(["gmm", "fit", "--components", "3", "--out", scratch.path("g.json")] + common).status == 0)
        #expect(try EmfleetBinary.run(["mlp", "train", "--hidden", "4", "--epochs", "3", "--out", scratch.path("n.json")] + common).status == 0)
        let gmm = try EmfleetBinary.run(["gmm", "predict", "--model", scratch.path("g.json"), "--data", data, "--proba", "--out", scratch.path("gp.csv")])
        #expect(gmm.status == 0, "\(gmm.stderr)")
        let mlp = try EmfleetBinary.run(["mlp", "predict", "--model", scratch.path("n.json"), "--data", data, "--proba", "--out", scratch.path("np.csv")])
        #expect(mlp.status == 0, "\(mlp.stderr)")
        let firstLine = { (name: String) in try String(contentsOfFile: scratch.path(name), encoding: .utf8).split(separator: "\n").first.map(String.init) }
        #expect(try firstLine("gp.csv") == "p_0,p_1,p_2")
        #expect(try firstLine("np.csv") == "p_k0,p_k1,p_k2")
        // Labels written by mlp predict read back as labels: the header is not taken for one.
        #expect(try EmfleetBinary.run(["mlp", "predict", "--model", scratch.path("n.json"), "--data", data, "--out", scratch.path("nl.csv")]).status == 0)
        let again = try EmfleetBinary.run(["mlp", "evaluate", "--model", scratch.path("n.json"), "--data", data, "--labels", scratch.path("nl.csv")])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("accuracy  1.0"), "\(again.stdout)")
        for command in [["gmm", "predict", "--model", scratch.path("g.json")], ["mlp", "predict", "--model", scratch.path("n.json")]] {
            let parquet = try EmfleetBinary.run(command + ["--data", data, "--out", scratch.path("p.parquet")])
            #expect(parquet.status == 1)
            #expect(parquet.stderr == "emfleet: error: \(scratch.path("p.parquet")): --out is written as .npy, .csv or .txt (by its extension), not .parquet\n")
            #expect(!FileManager.default.fileExists(atPath: scratch.path("p.parquet")))
        }
    }
}

extension TablesCLITests {
    @Test("pipeline fit warns when the features' scales differ a hundredfold, and not otherwise")
    func pipelineWarnsAboutScales() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try Self.writeTable(in: scratch)
        let common = ["pipeline", "fit", "--label-column", "kind", "--components", "3", "--epochs", "2", "--quiet"]
        let even = try EmfleetBinary.run(common + ["--data", data, "--columns", "m1...m4", "--out", scratch.path("even.json")])
        #expect(even.status == 0, "\(even.stderr)")
        #expect(!even.stderr.contains("scales differ"), "\(even.stderr)")
        var text = "small,large,kind\n"
        for i in 0..<60 { text += "\(Double(i % 7) / 10),\(Double((i * 13) % 17) * 400),k\(i % 2)\n" }
        let uneven = scratch.path("uneven.csv")
        try text.write(toFile: uneven, atomically: true, encoding: .utf8)
        let warned = try EmfleetBinary.run(common + ["--data", uneven, "--out", scratch.path("uneven.json")])
        #expect(warned.status == 0, "\(warned.stderr)")
        let lines = warned.stderr.split(separator: "\n").filter { $0.contains("scales differ") }
        #expect(lines.count == 1)
        #expect(lines.first?.hasPrefix("emfleet: warning: the features' scales differ (std 0.199 of \"small\" to 1.97e+03 of \"large\")") == true, "\(warned.stderr)")
        #expect(lines.first?.hasSuffix("standardise them first with `emfleet data convert IN OUT --standardise`") == true)
    }
}

extension TablesCLITests {
    @Test("--id-column carries a column into every prediction file, first; refused for .npy", arguments: ["gmm", "kmeans", "mlp"])
    func identifierColumnInPredictions(_ tool: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try Self.writeTable(in: scratch)
        let model = scratch.path("\(tool).json")
        let fit: [String] = switch tool {
        case "gmm": ["gmm", "fit", "--components", "3"]
        case "kmeans": ["kmeans", "fit", "--clusters", "3"]
        default: ["mlp", "train", "--hidden", "4", "--epochs", "3"]
        }
        #expect(try EmfleetBinary.run(fit + ["--data", data, "--label-column", "kind", "--columns", "m1...m4", "--out", model, "--quiet"]).status == 0)
        let newRows = try Self.writeNewRows(in: scratch)
        let plain = try EmfleetBinary.run([tool, "predict", "--model", model, "--data", newRows, "--out", scratch.path("plain.csv")])
        #expect(plain.status == 0, "\(plain.stderr)")
        let withIDs = try EmfleetBinary.run([tool, "predict", "--model", model, "--data", newRows, "--id-column", "id", "--out", scratch.path("ids.csv")])
        #expect(withIDs.status == 0, "\(withIDs.stderr)")
        let lines = try String(contentsOfFile: scratch.path("ids.csv"), encoding: .utf8).split(separator: "\n")
        let plainLines = try String(contentsOfFile: scratch.path("plain.csv"), encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "id,label")
        #expect(lines.dropFirst().map { $0.split(separator: ",")[0] } == (0..<9).map { "N\($0)"[...] })
        #expect(lines.dropFirst().map { $0.split(separator: ",")[1] } == Array(plainLines.dropFirst()))
        let npy = try EmfleetBinary.run([tool, "predict", "--model", model, "--data", newRows, "--id-column", "id", "--out", scratch.path("ids.npy")])
        #expect(npy.status == 1)
        #expect(npy.stderr.contains("--id-column writes a column of text beside the predictions"), "\(npy.stderr)")
    }
}
