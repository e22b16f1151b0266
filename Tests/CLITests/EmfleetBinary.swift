import Foundation
import Numerics
import Testing

/// Locates and runs the real `emfleet` binary for end-to-end tests.
///
/// The binary is looked up in `EMFLEET_BIN`, then beside the test bundle (SwiftPM puts
/// both in the same build folder). A missing binary fails the test rather than skipping it.
enum EmfleetBinary {
    /// The environment every `emfleet` started by the tests runs in: this process's, with
    /// `OPENBLAS_CORETYPE` naming the OpenBLAS kernel this process runs.
    ///
    /// Tests compare the binary's numbers with numbers computed here, bit for bit. OpenBLAS
    /// picks its kernel from the CPU when it loads, and on a CPU it does not recognise the
    /// binary re-executes itself with a better one (`BLASKernel`), which this process cannot
    /// do: without the variable the two can run different kernels and differ in the last bits.
    /// With it set, the binary skips its re-execution and OpenBLAS loads the named kernel
    /// (OpenBLAS matches the name without regard to case; a name it cannot force, such as
    /// 0.3.21's "Cooperlake", makes it choose by instruction sets, which gives that kernel
    /// again on the CPU that chose it). `BLASKernelCLITests` checks that the binary runs it.
    ///
    /// - Parameter overrides: variables to set, or to remove where the value is nil.
    static func environment(_ overrides: [String: String?] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_CORETYPE"] = BLAS.coreName
        for (name, value) in overrides { environment[name] = value }
        return environment
    }

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

    /// Runs `emfleet` with `arguments` in ``environment(_:)`` and waits for it to exit.
    static func run(_ arguments: [String], environment overrides: [String: String?] = [:], timeout: TimeInterval = 300) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try path())
        process.arguments = arguments
        process.environment = environment(overrides)
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
