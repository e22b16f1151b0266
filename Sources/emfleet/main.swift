import ArgumentParser
import Foundation
import Numerics

// OpenBLAS chooses its kernels as it loads; fix a poor choice before anything runs.
BLASKernel.reexecuteWithBestKernelIfNeeded()

// Large message buffers go back to the system when freed (docs/PROTOCOL.md, Sizes and limits).
ProcessMemory.configureAllocator()

let arguments = Array(CommandLine.arguments.dropFirst())
var command: any ParsableCommand
do {
    command = try Emfleet.parseAsRoot(arguments)
} catch {
    UnknownOption.exitIfAny(in: arguments, failure: error)
    Emfleet.exit(withError: error)
}
do {
    try command.run()
} catch {
    Emfleet.exit(withError: error)
}
