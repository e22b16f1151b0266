import Datasets
import Engine
import Foundation
import Testing

/// `--memory-limit`: sizes, and which shards a process keeps in memory.
@Suite("Memory limits")
struct MemoryLimitTests {
    @Test("sizes are read in powers of 1024 with an optional B or iB, and written back short")
    func parsing() throws {
        #expect(try MemoryLimit(parsing: "512M").bytes == 512 << 20)
        #expect(try MemoryLimit(parsing: "512mib").bytes == 512 << 20)
        #expect(try MemoryLimit(parsing: "4G").bytes == 4 << 30)
        #expect(try MemoryLimit(parsing: "1.5GB").bytes == 3 << 29)
        #expect(try MemoryLimit(parsing: "800000000").bytes == 800_000_000)
        #expect(try MemoryLimit(parsing: "2T").bytes == 2 << 40)
        #expect(try MemoryLimit(parsing: "512M").description == "512M")
        #expect(try MemoryLimit(parsing: "1.5G").description == "1.5G")
        #expect(MemoryLimit.format(300) == "300B")
        #expect(try MemoryLimit(parsing: "512M").shardBytes == (512 << 20) - MemoryLimit.reserveBytes)
        // An eighth of the rows' part is for rows read ahead, at most 64M.
        #expect(try MemoryLimit(parsing: "512M").stagingBytes == 48 << 20)
        #expect(try MemoryLimit(parsing: "512M").keptShardBytes == 336 << 20)
        #expect(try MemoryLimit(parsing: "4G").stagingBytes == 64 << 20)
    }

    @Test("a size that is not one, or too small for a process, says how to write one", arguments: ["lots", "-1G", "0", "1.5Q", "", "100M"])
    func badSizes(text: String) {
        #expect(throws: MemoryLimitError.self) { _ = try MemoryLimit(parsing: text) }
    }

    @Test("shards are kept while they fit, first come first kept; released ones make room; the report changes with them")
    func residency() {
        let limit = MemoryLimit(bytes: MemoryLimit.reserveBytes + 400)  // 350 for kept shards, 50 for rows read ahead
        let residency = ShardResidency(limit: limit)
        #expect(residency.staging.bytes == 50 && residency.staging.share == 50)
        #expect(residency.keep(0, bytes: 100))
        #expect(residency.keep(1, bytes: 100))
        #expect(residency.keep(5, bytes: 100))
        #expect(!residency.keep(2, bytes: 100))
        residency.noteStreamed(2, bytesPerPass: 100)
        #expect(residency.keep(3, bytes: 50))
        let summary = residency.summary
        #expect(summary.kept == 4 && summary.keptBytes == 350 && summary.streamed == 1 && summary.streamedBytes == 100)
        #expect(residency.changedReport(file: "big.npy")
                == "keeps 4 shards in memory (350B), reads 1 shard from big.npy on every pass (100B per pass) under --memory-limit \(limit)")
        #expect(residency.changedReport(file: "big.npy") == nil, "said once until it changes")
        residency.release([0])
        #expect(residency.keep(4, bytes: 100))
        #expect(ShardResidency(limit: nil).keep(0, bytes: 1 << 40), "no limit keeps everything")
    }

    @Test("a text file's shard over the limit stops the job (every process would fail alike) with the conversion to run")
    func textShardIsFatal() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-limit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("rows.csv").path
        try "1,2\n3,4\n5,6\n".write(toFile: path, atomically: true, encoding: .utf8)
        let residency = ShardResidency(limit: MemoryLimit(bytes: MemoryLimit.reserveBytes))
        #expect {
            _ = try JobDataSource.rows(shard: 0, range: 0..<3, path: path, csv: CSVOptions(), bytes: 48, residency: residency) {
                Issue.record("not loaded")
                return FeatureMatrix(rows: 0, columns: 2, values: [])
            }
        } throws: { error in
            error is FatalJobError && "\(error)".contains("emfleet data convert \(path) \(folder.path)/rows.npy")
        }
    }
}
