import ArgumentParser
import Datasets
import Foundation

extension MissingPolicy: ExpressibleByArgument {}

/// The rows `--missing drop-rows` leaves out of `path` read with `csv` (0-based data rows,
/// increasing), none under the other policies.
func leftOutRows(path: String, csv: CSVOptions) throws -> [Int] {
    guard csv.missing == .dropRows else { return [] }
    return try MissingValueScan.of(path: path, csv: csv).rowsWithMissing
}

/// `csv` for applying a model to new rows: under `--missing mean`, the gaps are filled with the
/// model's training means (`means`), never with means of the new rows.
///
/// - Throws: `ValidationError` when the model holds no training means.
func applyingTrainingMeans(_ csv: CSVOptions, means: [Double]?, model: String) throws -> CSVOptions {
    guard csv.missing == .mean else { return csv }
    guard let means else {
        throw ValidationError("\(model) was not fitted with --missing mean, so it holds no training means to fill gaps with; "
            + "use --missing drop-rows, or refit with --missing mean")
    }
    var csv = csv
    csv.imputationMeans = means
    return csv
}

extension OpenedJob {
    /// Says once what `--missing` did to the rows of `path` (read with `csv`) and returns the
    /// means that filled the gaps under `--missing mean` (for the model file), else nil.
    ///
    /// The scan is the one the job's reading used (kept per file), so it costs nothing more.
    @discardableResult
    func noteMissingValues(path: String, csv: CSVOptions) throws -> [Double]? {
        guard csv.missing != .error else { return nil }
        let scan = try MissingValueScan.of(path: path, csv: csv)
        switch csv.missing {
        case .error:
            return nil
        case .dropRows:
            if !scan.rowsWithMissing.isEmpty {
                log.note("--missing drop-rows: left out \(scan.rowsWithMissing.count) of \(scan.fileRows) rows of \(path), which have missing values")
            }
            return nil
        case .mean:
            let means = try csv.imputationMeans ?? scan.checkedMeans(file: path)
            if scan.missingCells > 0 {
                log.note("--missing mean: filled \(scan.missingCells) missing cells of \(path) with "
                    + (csv.imputationMeans == nil ? "the column means of its rows" : "the model's training means"))
            }
            return means
        }
    }
}
