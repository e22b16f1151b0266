import Foundation
import Numerics
import Testing

/// Which OpenBLAS kernel the `emfleet` binary runs, with and without the test harness's choice.
@Suite("OpenBLAS kernel of the binary (CLI)")
struct BLASKernelCLITests {
    /// `emfleet info --json` as a dictionary.
    private func info(environment: [String: String?] = [:]) throws -> [String: Any] {
        let result = try EmfleetBinary.run(["info", "--json"], environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        let facts = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return try #require(facts, "\(result.stdout)")
    }

    /// The tests that compare the binary's numbers with this process's bit for bit rely on it.
    @Test func theBinaryRunsTheTestProcesssKernel() throws {
        let facts = try info()
        #expect(facts["openblas_coretype_env"] as? String == BLAS.coreName, "the harness did not pass this process's kernel")
        #expect(facts["openblas_core"] as? String == BLAS.coreName, "\(facts)")
    }

    /// The harness always names a kernel, so the binary's own choice is checked here: left to
    /// itself, it re-executes with the best kernel for the CPU when OpenBLAS fell back to a slow one.
    @Test func leftToItselfTheBinaryAvoidsOpenBLASsFallbackKernels() throws {
        let facts = try info(environment: ["OPENBLAS_CORETYPE": nil])
        let core = try #require(facts["openblas_core"] as? String)
        let chosen = try #require(facts["openblas_coretype_env"] as? String)
        let best = BLASKernel.bestKernelForThisCPU()
        if chosen == "-" {
            // It did not re-execute: OpenBLAS's own choice was good, or the CPU has nothing better.
            #expect(best == nil || !BLASKernel.fallbackKernels.contains(core), "OpenBLAS runs \(core) on a CPU that supports \(best ?? "-")")
        } else {
            #expect(chosen == best)
            #expect(core == chosen, "re-executed with OPENBLAS_CORETYPE=\(chosen) but runs \(core)")
        }
    }
}
