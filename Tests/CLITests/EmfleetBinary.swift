import Foundation
import Testing

/// Locates and runs the real `emfleet` binary for end-to-end tests.
///
/// The binary is looked up in `EMFLEET_BIN`, then beside the test bundle (SwiftPM puts
/// both in the same build folder). A missing binary fails the test rather than skipping it.
enum EmfleetBinary {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func path() throws -> String {
        if let explicit = ProcessInfo.processInfo.environment["EMFLEET_BIN"], !explicit.isEmpty {
            return explicit
        }
        var directory = Bundle.main.bundleURL
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("emfleet").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        for argument in CommandLine.arguments {
            var url = URL(fileURLWithPath: argument).deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = url.appendingPathComponent("emfleet").path
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
                url.deleteLastPathComponent()
            }
        }
        throw BinaryMissing()
    }

    struct BinaryMissing: Error, CustomStringConvertible {
        var description: String {
            "the emfleet binary was not found beside the tests; build it first (swift build) or set EMFLEET_BIN"
        }
    }

    /// Runs `emfleet` with `arguments` and waits for it to exit.
    static func run(_ arguments: [String], timeout: TimeInterval = 300) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try path())
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes concurrently so a chatty child never blocks on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var outData = Data(), errData = Data()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        if group.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            throw TimedOut(arguments: arguments)
        }
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self)
        )
    }

    struct TimedOut: Error, CustomStringConvertible {
        var arguments: [String]
        var description: String { "emfleet \(arguments.joined(separator: " ")) did not finish in time" }
    }
}

/// A fresh temporary directory for one test, removed by the caller with `cleanUp()`.
struct ScratchDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    func cleanUp() { try? FileManager.default.removeItem(at: url) }
}
