import Foundation
import Testing

/// An `emfleet` process started in the background, whose output lines can be awaited.
final class RunningEmfleet: @unchecked Sendable {
    // @unchecked: `lines`, `errorText` and `finished` are only touched under `lock`.
    let process = Process()
    private let lock = NSCondition()
    private var lines: [String] = []
    private var errorText = ""
    private var outputClosed = false

    init(_ arguments: [String], directory: String? = nil) throws {
        process.executableURL = URL(fileURLWithPath: try EmfleetBinary.path())
        process.arguments = arguments
        // The test process's BLAS kernel, as for `EmfleetBinary.run`.
        process.environment = EmfleetBinary.environment()
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        Thread.detachNewThread { [self] in
            var pending = Data()
            while true {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: 10) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    lock.lock(); lines.append(line); lock.broadcast(); lock.unlock()
                }
            }
            lock.lock(); outputClosed = true; lock.broadcast(); lock.unlock()
        }
        Thread.detachNewThread { [self] in
            let data = err.fileHandleForReading.readDataToEndOfFile()
            lock.lock(); errorText = String(decoding: data, as: UTF8.self); lock.unlock()
        }
    }

    var pid: Int32 { process.processIdentifier }

    /// Waits for an output line satisfying `predicate` and returns it (nil after `timeout` or at the end of output).
    func waitForLine(timeout: TimeInterval = 60, _ predicate: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        var seen = 0
        lock.lock()
        defer { lock.unlock() }
        while true {
            while seen < lines.count {
                if predicate(lines[seen]) { return lines[seen] }
                seen += 1
            }
            if outputClosed || !lock.wait(until: deadline) { return nil }
        }
    }

    /// Waits for the process to exit; returns its status, all output lines and standard error.
    func finish(timeout: TimeInterval = 120) -> (status: Int32, lines: [String], stderr: String) {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
        lock.lock()
        let end = Date().addingTimeInterval(5)
        while !outputClosed, lock.wait(until: end) {}
        let result = (process.terminationStatus, lines, errorText)
        lock.unlock()
        usleep(50_000)
        lock.lock()
        defer { lock.unlock() }
        return (result.0, result.1, errorText)
    }
}

/// JSON log lines as dictionaries.
func events(_ lines: [String]) -> [[String: Any]] {
    lines.compactMap { line in
        guard line.hasPrefix("{") else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    }
}

/// Whether a process with this id still exists (and is not a zombie of ours).
func processExists(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    let status = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return !status.contains(") Z ")
}
