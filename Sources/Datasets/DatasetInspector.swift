/// Summary statistics of one feature column.
///
/// The moments and extremes cover the finite values only; NaN and ±Inf are counted apart.
public struct ColumnSummary: Sendable, Equatable {
    /// The column's header name, if the file has one.
    public var name: String?
    /// The column's 0-based index in the file.
    public var index: Int
    /// Number of finite values.
    public var count: Int
    /// Number of NaN values.
    public var nanCount: Int
    /// Number of +Inf or -Inf values.
    public var infiniteCount: Int
    /// Mean of the finite values (NaN if there are none).
    public var mean: Double
    /// Population standard deviation of the finite values (NaN if there are none).
    public var standardDeviation: Double
    /// Smallest finite value (NaN if there are none).
    public var minimum: Double
    /// Largest finite value (NaN if there are none).
    public var maximum: Double
}

/// Welford's streaming mean and variance, with extremes and non-finite counts.
struct RunningColumnStatistics {
    var count = 0
    var mean = 0.0
    var sumOfSquares = 0.0
    var minimum = Double.infinity
    var maximum = -Double.infinity
    var nanCount = 0
    var infiniteCount = 0

    @inline(__always)
    mutating func add(_ value: Double) {
        guard value.isFinite else {
            if value.isNaN { nanCount += 1 } else { infiniteCount += 1 }
            return
        }
        count += 1
        let delta = value - mean
        mean += delta / Double(count)
        sumOfSquares += delta * (value - mean)
        minimum = min(minimum, value)
        maximum = max(maximum, value)
    }

    func summary(name: String?, index: Int) -> ColumnSummary {
        let empty = count == 0
        return ColumnSummary(
            name: name, index: index, count: count, nanCount: nanCount, infiniteCount: infiniteCount,
            mean: empty ? .nan : mean,
            standardDeviation: empty ? .nan : (sumOfSquares / Double(count)).squareRoot(),
            minimum: empty ? .nan : minimum,
            maximum: empty ? .nan : maximum
        )
    }
}

/// Summarises data files column by column, for `emfleet data inspect`.
public enum DatasetInspector {
    /// Rows read per block from an `.npy` file: about 8 MiB of `Double`s.
    static let blockElements = 1 << 20

    /// Shape, precision and per-column statistics of `path`, in one streaming pass.
    ///
    /// - Parameters:
    ///   - csv: column selection for any file; delimiter and header for text files.
    /// - Returns: the data rows, the feature columns, the precision (`nil` for text), the
    ///   feature column names (if any) and one summary per feature column.
    /// - Throws: ``DatasetError`` from the readers.
    public static func summarize(path: String, csv: CSVOptions = .init()) throws
        -> (rows: Int, columns: Int, scalarType: ScalarType?, columnNames: [String]?, summaries: [ColumnSummary])
    {
        switch try DataFileFormat(path: path) {
        case .npy:
            let reader = try NPYReader(path: path)
            let (features, _) = try DatasetLoader.npyColumns(csv, reader: reader)
            var statistics = [RunningColumnStatistics](repeating: .init(), count: features.count)
            let blockRows = max(1, blockElements / max(1, reader.columns))
            for start in stride(from: 0, to: max(reader.rows, 1), by: blockRows) {
                let block = try reader.readRows(start..<min(reader.rows, start + blockRows))
                let values = block.doubles()
                let width = block.columns
                for row in 0..<block.rows {
                    for (slot, column) in features.enumerated() { statistics[slot].add(values[row * width + column]) }
                }
            }
            let summaries = zip(features, statistics).map { $1.summary(name: nil, index: $0) }
            return (reader.rows, features.count, reader.scalarType, nil, summaries)
        case .text:
            let scan = CSVScan(path: path, options: DataFileFormat.textOptions(csv, path: path))
            var statistics: [RunningColumnStatistics] = []
            let (layout, rows) = try scan.run { values, _ in
                if statistics.isEmpty { statistics = Array(repeating: .init(), count: values.count) }
                for i in 0..<values.count { statistics[i].add(values[i]) }
            }
            let names = layout.featureNames
            let summaries = layout.featureIndices.enumerated().map { slot, index in
                statistics[slot].summary(name: names?[slot], index: index)
            }
            return (rows, layout.featureIndices.count, nil, names, summaries)
        }
    }
}
