import ArgumentParser
import Cluster
import Foundation

/// `emfleet keygen`: a CURVE key pair for a coordinator or a worker.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a CURVE key pair: DIR/NAME.public and DIR/NAME.secret (mode 0600), as Z85 text.",
        discussion: """
            Give the coordinator's .public file to the workers (--coordinator-key) and put each worker's \
            .public file in the coordinator's --authorized-keys directory. Secret files never leave their host; \
            a secret file that others can read is refused.
            """)

    @Option(name: .long, help: ArgumentHelp("Directory for the key files (created if missing).", valueName: "dir"))
    var out: String

    @Option(name: .long, help: "Base name of the files.")
    var name: String = "emfleet"

    func validate() throws {
        guard !name.isEmpty, !name.contains("/") else { throw ValidationError("--name is a file name without '/'") }
    }

    func run() throws {
        try reportingErrors {
            let files = try CurveKeyPair.generate().write(directory: out, name: name)
            print("wrote \(files.publicFile) (share it) and \(files.secretFile) (mode 0600, keep it on this host)")
        }
    }
}
