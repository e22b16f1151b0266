import Foundation
import Numerics
import Testing

/// A real worker started with another OpenBLAS kernel than the coordinator's.
@Suite("Mixed OpenBLAS kernels (CLI)", .serialized)
struct KernelPolicyCLITests {
    let fixture = ClusterFixture.shared
    /// A kernel every x86-64 CPU runs, other than the one the tests compute with.
    let other = BLAS.coreName == "Prescott" ? "Nehalem" : "Prescott"

    /// Runs a 2-worker `--bind` fit, one worker with `OPENBLAS_CORETYPE=other`; returns the log and the forced worker's stderr.
    private func fit(_ scratch: ScratchDirectory, extra: [String]) throws -> (status: Int32, log: [[String: Any]], worker: String) {
        let fit = try RunningEmfleet(["gmm", "fit", "--data", fixture.small, "--out", scratch.path("m.json"), "--bind", "tcp://127.0.0.1:*",
                                      "--min-workers", "2", "--log-format", "json"] + extra + ClusterFixture.smallFit)
        let listening = try #require(fit.waitForLine { $0.contains("\"listening\"") })
        let endpoint = try #require(events([listening]).first?["endpoint"] as? String)
        let plain = try RunningEmfleet(["worker", "--connect", endpoint, "--name", "plain", "--coordinator-timeout", "2"])
        let forced = Locked<EmfleetBinary.Result?>(nil)
        let done = DispatchSemaphore(value: 0)
        let other = self.other
        DispatchQueue.global().async {
            let result = try? EmfleetBinary.run(["worker", "--connect", endpoint, "--name", "forced", "--coordinator-timeout", "2"],
                                                environment: ["OPENBLAS_CORETYPE": other], timeout: 120)
            forced.withLock { $0 = result }
            done.signal()
        }
        let result = fit.finish()
        _ = plain.finish(timeout: 10)
        _ = done.wait(timeout: .now() + 30)
        return (result.status, events(result.lines), forced.current?.stderr ?? "(the forced worker did not finish)")
    }

    @Test("a worker on another kernel re-executes itself with the coordinator's and the model is the one-process bytes")
    func workerSwitchesKernel() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (status, log, worker) = try fit(scratch, extra: [])
        #expect(status == 0)
        #expect(worker.contains("this worker with \(other); re-executing with OPENBLAS_CORETYPE=\(BLAS.coreName)"), "\(worker)")
        #expect(log.contains { $0["event"] as? String == "kernel_switch" && $0["core"] as? String == other && $0["required"] as? String == BLAS.coreName })
        let joined = log.filter { $0["event"] as? String == "worker_joined" }
        #expect(joined.count == 2 && joined.allSatisfy { $0["blas_core"] as? String == BLAS.coreName }, "\(joined)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path("m.json"))) == (try fixture.reference("small")))
    }

    @Test("--allow-mixed-kernels admits it as it is and says the model is no longer independent of the assignment")
    func mixedKernelsAdmitted() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let (status, log, worker) = try fit(scratch, extra: ["--allow-mixed-kernels"])
        #expect(status == 0)
        #expect(!worker.contains("re-executing"), "\(worker)")
        #expect(log.contains { $0["event"] as? String == "blas_mismatch" && $0["core"] as? String == other })
        #expect(log.contains { $0["event"] as? String == "worker_joined" && $0["blas_core"] as? String == other })
    }
}
