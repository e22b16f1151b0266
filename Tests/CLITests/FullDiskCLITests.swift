import Foundation
import Testing

/// A fit on a full disk: a small tmpfs mounted for the test (root only).
@Suite("A full disk (CLI)", .enabled(if: geteuid() == 0, "mounting a small tmpfs needs root"))
struct FullDiskCLITests {
    private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    private func run(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", arguments.joined(separator: " ")]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @Test("the checkpoint that cannot be written leaves the last good one, one line names the path, and the fit resumes once space is back")
    func fullDiskKeepsTheLastCheckpoint() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = scratch.path("data.npy")
        let generated = try EmfleetBinary.run(["data", "generate", "--samples", "20000", "--features", "40", "--components", "4",
                                               "--seed", "1", "--out", data])
        #expect(generated.status == 0, "\(generated.stderr)")
        let arguments = ["gmm", "fit", "--data", data, "-c", "8", "--max-iter", "4", "--checkpoint-every", "1", "--quiet"]
        let reference = try EmfleetBinary.run(arguments + ["--out", scratch.path("reference.json")])
        #expect(reference.status == 0, "\(reference.stderr)")

        // Room for one checkpoint (about 106 kB) but not for the next beside it.
        let disk = scratch.path("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        try #require(try run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", disk]) == 0, "mount failed")
        defer { _ = try? run(["umount", disk]) }
        let out = disk + "/m.json", checkpoint = disk + "/m.json.checkpoint"
        let full = try EmfleetBinary.run(arguments + ["--out", out])
        #expect(full.status == 1)
        let lines = full.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0] == "emfleet: error: \(checkpoint): cannot write: no space left on the device", "\(full.stderr)")
        let kept = try bytes(checkpoint)
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(try FileManager.default.contentsOfDirectory(atPath: disk) == ["m.json.checkpoint"], "no partial file left")

        // Space is back: the fit continues from that checkpoint to the uninterrupted model.
        try #require(try run(["mount", "-o", "remount,size=8m", disk]) == 0, "remount failed")
        #expect(try bytes(checkpoint) == kept)
        let resumed = try EmfleetBinary.run(arguments + ["--out", out, "--resume", checkpoint])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try bytes(out) == bytes(scratch.path("reference.json")))

        // The model itself cannot be written: one line names it, and the checkpoint stays for a resume.
        try FileManager.default.removeItem(atPath: out)
        try #require(try run(["mount", "-o", "remount,size=64k", disk]) == 0, "remount failed")
        let elsewhere = scratch.path("m.checkpoint")
        let noRoom = try EmfleetBinary.run(arguments + ["--out", out, "--checkpoint", elsewhere])
        #expect(noRoom.status == 1 && noRoom.stderr == "emfleet: error: \(out): cannot write: no space left on the device\n", "\(noRoom.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: disk).isEmpty, "no partial model left")
        try #require(try run(["mount", "-o", "remount,size=8m", disk]) == 0, "remount failed")
        let again = try EmfleetBinary.run(arguments + ["--out", out, "--resume", elsewhere])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try bytes(out) == bytes(scratch.path("reference.json")))
    }
}
