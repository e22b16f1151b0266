import Foundation
import Testing

/// `--missing error|drop-rows|mean` on the commands that read data, in process and on workers.
@Suite("Missing values (CLI)")
struct MissingValuesCLITests {
    /// 90 rows of `id,m1,m2,m3,kind` in three groups; `gaps` rows have an empty, NA, NaN or null cell.
    static func rows(gaps: Bool) -> [[String]] {
        (0..<90).map { i in
            let group = i % 3
            var cells = (0..<3).map { j in String(Double(group * 4) + Double((i * 7 + j * 5) % 13) / 6) }
            if gaps, i % 11 == 4 { cells[(i / 11) % 3] = ["", "NA", "NaN", "null", "nan"][(i / 11) % 5] }
            return ["R\(i)"] + cells + ["k\(group)"]
        }
    }

    static func write(_ rows: [[String]], to path: String) throws {
        let text = "id,m1,m2,m3,kind\n" + rows.map { $0.joined(separator: ",") + "\n" }.joined()
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func isMissing(_ cell: String) -> Bool { ["", "NA", "NaN", "null", "nan"].contains(cell) }

    /// The model file as JSON, without the facts that differ by design between the runs compared.
    static func parameters(_ path: String) throws -> NSDictionary {
        let object = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
        var trimmed = object
        if var training = object["training"] as? [String: Any] {
            training["imputation_means"] = nil
            trimmed["training"] = training
        }
        return trimmed as NSDictionary
    }

    @Test("by default a fit names the first missing cell and the option, as one error line")
    func defaultRefuses() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = scratch.path("gaps.csv")
        try Self.write(Self.rows(gaps: true), to: data)
        let result = try EmfleetBinary.run(["gmm", "fit", "--data", data, "--exclude-columns", "id", "--label-column", "kind",
                                            "--components", "3", "--out", scratch.path("m.json")])
        #expect(result.status == 1)
        #expect(result.stderr == "emfleet: error: \(data): line 6, column 2 (\"m1\"): missing value (an empty cell); pass --missing drop-rows "
            + "(leave out rows with gaps) or --missing mean (fill gaps with the column's mean), or leave the column out with --exclude-columns "
            + "(`emfleet data inspect` counts them per column)\n", "\(result.stderr)")
    }

    @Test("drop-rows gives the model of the file without those rows, in process and on workers, and says so once")
    func dropRows() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let rows = Self.rows(gaps: true)
        let data = scratch.path("gaps.csv"), clean = scratch.path("clean.csv")
        try Self.write(rows, to: data)
        let kept = rows.filter { !$0.contains(where: Self.isMissing) }
        try Self.write(kept, to: clean)
        let common = ["gmm", "fit", "--exclude-columns", "id", "--label-column", "kind", "--components", "3", "--seed", "2", "--quiet"]
        let reference = try EmfleetBinary.run(common + ["--data", clean, "--out", scratch.path("clean.json")])
        #expect(reference.status == 0, "\(reference.stderr)")
        for (name, extra) in [("local", [String]()), ("workers", ["--workers", "2", "--shards", "3"]), ("stream", ["--workers", "2", "--stream-data"])] {
            let result = try EmfleetBinary.run(common + ["--data", data, "--missing", "drop-rows", "--out", scratch.path("\(name).json")] + extra)
            #expect(result.status == 0, "\(name): \(result.stderr)")
            #expect(result.stderr.components(separatedBy: "--missing drop-rows: left out \(rows.count - kept.count) of 90 rows of \(data)").count == 2,
                    "\(name): \(result.stderr)")
            // --shards 3 cuts other shards than the reference's one; the model must still agree closely.
            let a = try Self.parameters(scratch.path("\(name).json")), b = try Self.parameters(scratch.path("clean.json"))
            if extra.contains("--shards") {
                let ma = (a["means"] as! [[Double]]).flatMap { $0 }, mb = (b["means"] as! [[Double]]).flatMap { $0 }
                #expect(ma.count == 9 && zip(ma, mb).allSatisfy { abs($0 - $1) < 1e-9 }, "\(name): \(ma) \(mb)")
            } else {
                #expect(a == b, "\(name)")
            }
        }
        // Predictions: one per kept row, each beside its ID.
        let predicted = try EmfleetBinary.run(["gmm", "predict", "--model", scratch.path("local.json"), "--data", data, "--missing", "drop-rows",
                                               "--id-column", "id", "--out", scratch.path("p.csv")])
        #expect(predicted.status == 0, "\(predicted.stderr)")
        let lines = try String(contentsOfFile: scratch.path("p.csv"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == kept.count + 1 && lines.dropFirst().map { String($0.split(separator: ",")[0]) } == kept.map { $0[0] })
    }

    @Test("mean gives the model of the file with its gaps filled by the column means, in process and on workers; predict fills with the training means")
    func mean() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let rows = Self.rows(gaps: true)
        let data = scratch.path("gaps.csv"), filled = scratch.path("filled.csv")
        try Self.write(rows, to: data)
        // The means over each column's present cells, summed in row order, written as Swift writes doubles.
        let means = (1...3).map { column -> Double in
            let present = rows.map { $0[column] }.filter { !Self.isMissing($0) }.map { Double($0)! }
            return present.reduce(0, +) / Double(present.count)
        }
        try Self.write(rows.map { row in row.enumerated().map { index, cell in (1...3).contains(index) && Self.isMissing(cell) ? String(means[index - 1]) : cell } }, to: filled)
        let common = ["gmm", "fit", "--exclude-columns", "id", "--label-column", "kind", "--components", "3", "--seed", "2", "--quiet"]
        let reference = try EmfleetBinary.run(common + ["--data", filled, "--out", scratch.path("filled.json")])
        #expect(reference.status == 0, "\(reference.stderr)")
        for (name, extra) in [("local", [String]()), ("workers", ["--workers", "2"])] {
            let result = try EmfleetBinary.run(common + ["--data", data, "--missing", "mean", "--out", scratch.path("\(name).json")] + extra)
            #expect(result.status == 0, "\(name): \(result.stderr)")
            #expect(result.stderr.contains("--missing mean: filled 8 missing cells of \(data)"), "\(name): \(result.stderr)")
            #expect(try Self.parameters(scratch.path("\(name).json")) == Self.parameters(scratch.path("filled.json")), "\(name)")
            let model = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: scratch.path("\(name).json")))) as! [String: Any]
            #expect((model["training"] as? [String: Any])?["imputation_means"] as? [Double] == means, "\(name)")
        }
        // New rows with gaps: filled with the training means, not with their own.
        var fresh = Array(rows.prefix(12))
        fresh[0][1] = "NA"; fresh[3][2] = ""; fresh[5][3] = "null"
        let newRows = scratch.path("new.csv"), newFilled = scratch.path("new-filled.csv")
        try Self.write(fresh, to: newRows)
        try Self.write(fresh.map { row in row.enumerated().map { index, cell in (1...3).contains(index) && Self.isMissing(cell) ? String(means[index - 1]) : cell } }, to: newFilled)
        let a = try EmfleetBinary.run(["gmm", "predict", "--model", scratch.path("local.json"), "--data", newRows, "--missing", "mean", "--proba", "--out", scratch.path("a.csv")])
        let b = try EmfleetBinary.run(["gmm", "predict", "--model", scratch.path("local.json"), "--data", newFilled, "--proba", "--out", scratch.path("b.csv")])
        #expect(a.status == 0 && b.status == 0, "\(a.stderr) \(b.stderr)")
        #expect(a.stderr.contains("with the model's training means"), "\(a.stderr)")
        #expect(FileManager.default.contents(atPath: scratch.path("a.csv")) == FileManager.default.contents(atPath: scratch.path("b.csv")))
        // A model fitted without --missing mean has no means to fill with.
        let plain = try EmfleetBinary.run(["gmm", "predict", "--model", scratch.path("filled.json"), "--data", newRows, "--missing", "mean", "--out", scratch.path("c.csv")])
        #expect(plain.status == 1 && plain.stderr == "emfleet: error: \(scratch.path("filled.json")) was not fitted with --missing mean, so it holds no training means "
            + "to fill gaps with; use --missing drop-rows, or refit with --missing mean\n", "\(plain.stderr)")
    }

    @Test("mlp train with drop-rows keeps each row's label with its row, in process and on workers")
    func trainingDropsLabelsWithRows() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let rows = Self.rows(gaps: true)
        let data = scratch.path("gaps.csv"), clean = scratch.path("clean.csv")
        try Self.write(rows, to: data)
        try Self.write(rows.filter { !$0.contains(where: Self.isMissing) }, to: clean)
        let common = ["mlp", "train", "--exclude-columns", "id", "--label-column", "kind", "--hidden", "4", "--epochs", "3", "--seed", "1", "--quiet"]
        let reference = try EmfleetBinary.run(common + ["--data", clean, "--out", scratch.path("clean.json")])
        #expect(reference.status == 0, "\(reference.stderr)")
        for (name, extra) in [("local", [String]()), ("workers", ["--workers", "2"])] {
            let result = try EmfleetBinary.run(common + ["--data", data, "--missing", "drop-rows", "--out", scratch.path("\(name).json")] + extra)
            #expect(result.status == 0, "\(name): \(result.stderr)")
            // The weights, not the history (which holds each epoch's seconds).
            #expect(try Self.parameters(scratch.path("\(name).json"))["layers"] as? NSArray == Self.parameters(scratch.path("clean.json"))["layers"] as? NSArray, "\(name)")
        }
    }
}
