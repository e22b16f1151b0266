import ArgumentParser
import Foundation
import Engine
import Messaging
import Numerics

/// `emfleet info`: what this binary runs on: versions, BLAS kernels, cores, and optionally dgemm's speed.
struct InfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Show the libraries and CPU kernels this emfleet uses; optionally measure dgemm's speed.",
        discussion: "Models are bit-identical across machines whose OpenBLAS reports the same core type."
    )

    @Flag(name: .long, help: "Measure cblas_dgemm on 1024×1024 matrices with 1 thread and with all cores.")
    var measureDgemm = false

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func run() throws {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        var facts: [(String, String)] = [
            ("emfleet", EmfleetVersion.string),
            ("libzmq", ZeroMQLibrary.version),
            ("openblas_core", BLAS.coreName),
            ("openblas_coretype_env", ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "-"),
            ("cores", "\(cores)"),
        ]
        if measureDgemm {
            facts.append(("dgemm_gflops_1_thread", String(format: "%.1f", BLAS.measuredPeakGFLOPS(threads: 1))))
            facts.append(("dgemm_gflops_all_cores", String(format: "%.1f", BLAS.measuredPeakGFLOPS(threads: cores))))
        }
        if json {
            let body = facts.map { key, value in
                let number = Double(value) != nil && key != "emfleet" && key != "libzmq"
                return "\"\(key)\": " + (number ? value : "\"\(value)\"")
            }
            print("{" + body.joined(separator: ", ") + "}")
        } else {
            let width = facts.map(\.0.count).max() ?? 0
            for (key, value) in facts {
                print(key.replacingOccurrences(of: "_", with: " ").padding(toLength: width + 2, withPad: " ", startingAt: 0) + value)
            }
        }
    }
}
