// The fuzzers of emfleet's decoders and file readers; see scripts/fuzz.sh.
//
// Built normally this program only says how to build it; scripts/fuzz.sh builds it with
// -DFUZZING, the address sanitizer and coverage, and links libFuzzer's driver.
import Cluster
import Datasets
import Foundation

/// Which decoder a run exercises (EMFLEET_FUZZ_TARGET): wire, tasks, npy or csv.
let target = ProcessInfo.processInfo.environment["EMFLEET_FUZZ_TARGET"] ?? "wire"
/// Where file readers get their input: one file per process, on a memory file system when there is one.
let scratchFile = (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
    + "/emfleet-fuzz-\(getpid())"

func fuzzOne(_ bytes: [UInt8]) {
    switch target {
    case "wire": FuzzEntries.wire(bytes)
    case "tasks": FuzzEntries.tasks(bytes)
    case "npy":
        _ = FileManager.default.createFile(atPath: scratchFile + ".npy", contents: Data(bytes))
        if let reader = try? NPYReader(path: scratchFile + ".npy") {
            _ = try? reader.readAll()
            _ = try? reader.readIntegerLabels()
            _ = try? reader.readRows(0..<min(reader.rows, 3))
        }
    case "csv":
        _ = FileManager.default.createFile(atPath: scratchFile + ".csv", contents: Data(bytes))
        _ = try? CSVReader.read(path: scratchFile + ".csv")
        _ = try? CSVReader.read(path: scratchFile + ".csv", options: CSVOptions(header: .present, columns: ["1", "a"], labelColumn: "0"), rows: 1..<4)
        _ = try? DatasetLoader.loadLabels(path: scratchFile + ".csv")
    default:
        FileHandle.standardError.write(Data("EMFLEET_FUZZ_TARGET must be wire, tasks, npy or csv\n".utf8))
        exit(2)
    }
}

#if FUZZING
typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: FuzzCallback) -> Int32

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    fuzzOne(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
})
#else
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "--replay" {
    // Replays corpus files without libFuzzer (scripts/test.sh uses it): each must not crash.
    for path in CommandLine.arguments.dropFirst(2) {
        guard let data = FileManager.default.contents(atPath: path) else { continue }
        fuzzOne(Array(data))
    }
    try? FileManager.default.removeItem(atPath: scratchFile + ".npy")
    try? FileManager.default.removeItem(atPath: scratchFile + ".csv")
    print("replayed \(CommandLine.arguments.count - 2) inputs for \(target)")
} else {
    FileHandle.standardError.write(Data("emfleet-fuzz: build and run it with scripts/fuzz.sh TARGET SECONDS\n".utf8))
    exit(2)
}
#endif
