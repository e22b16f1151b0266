import ArgumentParser
import Datasets
import Engine
import Foundation
import Mixture

/// `data inspect --memory-limit`: what a mixture fit of the file would need per process, and a
/// warning, naming a covariance type that fits, when a full-covariance fit would not.
struct MemoryAdviceOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Say what a mixture fit of this file needs per process against this limit (512M, 4G), and warn when a full-covariance fit would not fit.",
        valueName: "size"))
    var memoryLimit: String?

    @Option(name: .long, help: "With --memory-limit: the components of the fit to size.")
    var components: Int = 8

    @Option(name: .long, help: "With --memory-limit: the processes sharing the rows (--workers of the fit).")
    var workers: Int = 1

    func validate() throws {
        if let memoryLimit { _ = try parsedMemoryLimit(memoryLimit) }
        guard components >= 1 else { throw ValidationError("--components must be at least 1") }
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
    }

    /// Prints the advice after the file's summary (nothing without --memory-limit or when the file cannot be read).
    func advise(file: String, csv: CSVOptions) {
        guard let text = memoryLimit, let limit = try? parsedMemoryLimit(text),
              let shape = try? DatasetLoader.shape(path: file, csv: csv), shape.rows > 0, shape.columns > 0
        else { return }
        let isText = (try? DataFileFormat(path: file)) == .text
        let width = isText ? 8 : ((try? NPYReader(path: file).scalarType.byteWidth) ?? 8)
        let rowBytes = (shape.rows + workers - 1) / workers * shape.columns * width
        let threads = max(1, ProcessInfo.processInfo.activeProcessorCount / workers)
        let need = { (type: CovarianceType) in FitMemory.bytes(dimension: shape.columns, components: components, type: type, threads: threads) }
        let full = need(.full)
        let processes = workers == 1 ? "one process" : "each of \(workers) processes"
        print("")
        print("memory:  under --memory-limit \(limit), \(processes) has \(MemoryLimit.format(limit.shardBytes)) for rows and the fit "
              + "(\(MemoryLimit.format(MemoryLimit.reserveBytes)) is kept for the process itself)")
        print("         its rows take \(MemoryLimit.format(rowBytes)); a full-covariance fit with \(components) components needs about "
              + "\(MemoryLimit.format(full)) more (model, statistics, workspace)")
        if full > limit.shardBytes {
            let fits = FitMemory.richestType(fitting: limit.shardBytes, dimension: shape.columns, components: components, threads: threads)
            let instead = fits.map { "--covariance-type \($0.rawValue) needs about \(MemoryLimit.format(need($0)))" }
                ?? "no covariance type fits with \(components) components: fewer components or a larger limit"
            print("warning: a full-covariance fit with \(components) components on \(shape.columns) features needs about "
                  + "\(MemoryLimit.format(full)) beyond its rows, more than --memory-limit \(limit) allows; \(instead)")
        } else if rowBytes > limit.keptShardBytes {
            if isText {
                print("warning: the rows do not fit under --memory-limit \(limit) and a text file cannot be read a piece at a time: "
                      + "convert it once with `emfleet data convert \(file) \(FileBackedRows.npyName(for: file))`")
            } else {
                print("         the fit keeps about \(MemoryLimit.format(limit.keptShardBytes)) of the rows in memory and reads the other "
                      + "\(MemoryLimit.format(rowBytes - limit.keptShardBytes)) from the file on every pass")
            }
        } else {
            print("         everything fits: the rows stay in memory")
        }
    }
}
