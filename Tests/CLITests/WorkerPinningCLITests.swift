import Foundation
import Testing

/// `emfleet worker --cpus`: the real process's threads, as the kernel reports them.
@Suite("Workers pinned to CPUs")
struct WorkerPinningCLITests {
    /// A `/proc/…/status` file's `Cpus_allowed_list` (`0-1`, `3`).
    static func allowedList(_ status: String) -> String? {
        guard let text = try? String(contentsOfFile: status, encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
        return line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces)
    }

    /// The last CPU this test process may use.
    static var lastAllowedCPU: Int {
        let list = allowedList("/proc/self/status") ?? "0"
        return Int(list.split(separator: ",").last!.split(separator: "-").last!) ?? 0
    }

    @Test("--cpus pins every thread of the worker (its OpenBLAS and libzmq threads too) to the CPUs given")
    func pinsEveryThread() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let cpu = Self.lastAllowedCPU
        let worker = try RunningEmfleet(["worker", "--connect", "ipc://\(scratch.path("nobody"))", "--threads", "1", "--cpus", "\(cpu)",
                                         "--coordinator-timeout", "20"])
        defer { _ = worker.finish(timeout: 1) }
        // Its threads once they are all started (libzmq's I/O thread comes with the first socket).
        var lists: [String] = []
        let deadline = Date().addingTimeInterval(10)
        repeat {
            usleep(100_000)
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(worker.pid)/task")) ?? []
            lists = tasks.compactMap { Self.allowedList("/proc/\(worker.pid)/task/\($0)/status") }
        } while lists.count < 3 && Date() < deadline
        #expect(lists.count >= 3, "the worker's threads: \(lists)")
        #expect(lists.allSatisfy { $0 == "\(cpu)" }, "each thread's CPUs: \(lists)")
    }

    @Test("--cpus outside this machine's CPUs, or not a CPU list, is one error line before anything starts")
    func refusesOtherCPUs() throws {
        let outside = Self.lastAllowedCPU + 1
        let far = try EmfleetBinary.run(["worker", "--connect", "tcp://127.0.0.1:9", "--cpus", "\(outside)"])
        #expect(far.status == 64)
        #expect(far.stderr.contains("--cpus \(outside): this process may run only on CPUs"), "\(far.stderr)")
        let garbled = try EmfleetBinary.run(["worker", "--connect", "tcp://127.0.0.1:9", "--cpus", "two"])
        #expect(garbled.status == 64)
        #expect(garbled.stderr.contains("--cpus takes CPU numbers such as 3, 0,2 or 4-7, not 'two'"), "\(garbled.stderr)")
    }
}
