import Cluster
import Datasets
import Foundation
import Testing

/// A distributed job under `--missing`: what the coordinator describes and each worker reads.
@Suite("Missing values on workers: the job's kept rows")
struct MissingRowsJobTests {
    /// 300 rows of `a,b,c,w,y`; every 7th row has a gap in one of the features.
    static func write() throws -> (path: String, rows: [[String]]) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-missing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let rows = (0..<300).map { i -> [String] in
            var cells = (0..<3).map { j in String(Double((i * 13 + j * 7) % 29) / 4) }
            if i % 7 == 3 { cells[i % 3] = i % 2 == 0 ? "" : "NA" }
            return cells + [String(Double(1 + i % 5)), "c\(i % 4)"]
        }
        let path = directory.appendingPathComponent("t.csv").path
        try ("a,b,c,w,y\n" + rows.map { $0.joined(separator: ",") + "\n" }.joined()).write(toFile: path, atomically: true, encoding: .utf8)
        return (path, rows)
    }

    @Test("drop-rows: the shards cover the kept rows, and each shard's rows, labels and weights are those rows'")
    func dropRows() throws {
        let (path, rows) = try Self.write()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let csv = CSVOptions(labelColumn: "y", weightColumn: "w", missing: .dropRows)
        var spec = try JobSpec.describe(path: path, csv: csv, shards: 7, stream: false)
        spec.labels = .classes(file: "", classes: ["c0", "c1", "c2", "c3"])
        let kept = rows.filter { !$0.prefix(3).contains { $0.isEmpty || $0 == "NA" } }
        #expect(spec.rows == kept.count && spec.droppedRows == (0..<300).filter { $0 % 7 == 3 })
        var features: [Double] = [], labels: [Int] = [], weights: [Double] = []
        for range in spec.plan.ranges {
            features += try spec.readRows(range).doubles()
            if case let .classes(values) = try spec.readTargets(range) { labels += values }
            weights += try spec.readWeights(range)
        }
        let keptFeatures: [Double] = kept.flatMap { row in row.prefix(3).map { Double($0)! } }
        let keptLabels: [Int] = kept.map { row in Int(row[4].dropFirst())! }
        let keptWeights: [Double] = kept.map { row in Double(row[3])! }
        #expect(features == keptFeatures)
        #expect(labels == keptLabels)
        #expect(weights == keptWeights)
        // The same rows as one process reads.
        let local = try DatasetLoader.load(path: path, csv: csv, finiteOnly: true)
        #expect(local.features.doubles() == features && local.droppedRows == spec.droppedRows)
    }

    @Test("mean: the coordinator's means fill every worker's gaps, whatever its rows")
    func mean() throws {
        let (path, rows) = try Self.write()
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let csv = CSVOptions(labelColumn: "y", weightColumn: "w", missing: .mean)
        let spec = try JobSpec.describe(path: path, csv: csv, shards: 5, stream: false)
        let means = (0..<3).map { j -> Double in
            let present = rows.map { $0[j] }.filter { !$0.isEmpty && $0 != "NA" }.map { Double($0)! }
            return present.reduce(0, +) / Double(present.count)
        }
        #expect(spec.rows == 300 && spec.csv.imputationMeans == means)
        let features = try spec.plan.ranges.flatMap { try spec.readRows($0).doubles() }
        var expected: [Double] = []
        for row in rows {
            for j in 0..<3 { expected.append(row[j].isEmpty || row[j] == "NA" ? means[j] : Double(row[j])!) }
        }
        #expect(features == expected)
    }
}
