import Foundation

/// The E-step's sufficient statistics of one shard (or of several, merged): everything the
/// M-step needs, as sums that merge by addition.
///
/// Statistics are taken about a fixed anchor (the data mean during a fit), never as raw
/// moments about the origin, so their merge and the M-step lose no precision to large offsets.
/// Layout of `moments`, with `Q` the number of quadratic features
/// (`D(D+1)/2` for full and tied, `D` for diag and spherical):
/// - full, diag, spherical: K rows of `[Σ r·xᵢxⱼ (Q values) | Σ r·x (D values)]`;
/// - tied: K rows of `Σ r·x` (D values), then one shared `Σ xᵢxⱼ` (Q values).
///
/// Merging is plain addition, done in shard order, so the result never depends on how many
/// threads or workers computed the shards.
public struct MixtureStatistics: Sendable, Equatable {
    /// The covariance shape the statistics serve.
    public let covarianceType: CovarianceType
    /// Number of components K.
    public let components: Int
    /// Number of features D.
    public let dimension: Int
    /// Rows summarised.
    public var rows: Int
    /// Σ over rows of the sample weights (the row count, exactly, when rows carry no weights):
    /// the N of the M-step's weights `N_k / N`.
    public var weightTotal: Double
    /// Σ over rows of the (weighted) log-likelihood under the parameters that produced the statistics.
    public var logLikelihoodSum: Double
    /// Σ over rows of each component's (weighted) responsibility, K values.
    public var responsibilitySums: [Double]
    /// First and second moments about the anchor, in the layout described above.
    public var moments: [Double]

    /// Empty statistics (the identity of `merge`).
    public init(covarianceType: CovarianceType, components: Int, dimension: Int) {
        self.covarianceType = covarianceType
        self.components = components
        self.dimension = dimension
        rows = 0
        weightTotal = 0
        logLikelihoodSum = 0
        responsibilitySums = [Double](repeating: 0, count: components)
        moments = [Double](repeating: 0, count: Self.momentCount(covarianceType, components, dimension))
    }

    package static func momentCount(_ type: CovarianceType, _ k: Int, _ d: Int) -> Int {
        let layout = FeatureLayout(covarianceType: type, dimension: d)
        return type == .tied ? k * d + layout.quadraticCount : k * layout.count
    }

    /// Adds `other` (same shape) into these statistics.
    public mutating func merge(_ other: MixtureStatistics) {
        precondition(
            other.covarianceType == covarianceType && other.components == components && other.dimension == dimension,
            "merging statistics of different shapes")
        rows += other.rows
        weightTotal += other.weightTotal
        logLikelihoodSum += other.logLikelihoodSum
        for k in 0..<components { responsibilitySums[k] += other.responsibilitySums[k] }
        moments.withUnsafeMutableBufferPointer { mine in
            other.moments.withUnsafeBufferPointer { theirs in
                for i in 0..<mine.count { mine[i] += theirs[i] }
            }
        }
    }

    /// Folds a sequence of statistics in order: the order is part of the result's bits.
    public static func fold(_ parts: [MixtureStatistics]) -> MixtureStatistics? {
        guard var total = parts.first else { return nil }
        for part in parts.dropFirst() { total.merge(part) }
        return total
    }

    // MARK: - Binary encoding

    private static let magic: [UInt8] = Array("EMST".utf8)
    private static let version: UInt8 = 2

    /// A compact, exact binary form: a 24-byte header, then every double as little-endian IEEE 754 bits.
    ///
    /// Header: "EMST", version (1 byte), covariance type (1 byte: 0 full, 1 tied, 2 diag,
    /// 3 spherical), 2 bytes zero, K (UInt32 LE), D (UInt32 LE), rows (UInt64 LE). Then the
    /// weight total, the log-likelihood sum, K responsibility sums and the moments.
    public func encoded() -> [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(24 + 8 * (2 + components + moments.count))
        bytes += Self.magic
        bytes.append(Self.version)
        bytes.append(UInt8(CovarianceType.allCases.firstIndex(of: covarianceType)!))
        bytes += [0, 0]
        appendLittleEndian(UInt32(components), to: &bytes)
        appendLittleEndian(UInt32(dimension), to: &bytes)
        appendLittleEndian(UInt64(rows), to: &bytes)
        appendLittleEndian(weightTotal.bitPattern, to: &bytes)
        appendLittleEndian(logLikelihoodSum.bitPattern, to: &bytes)
        appendDoubles(responsibilitySums, to: &bytes)
        appendDoubles(moments, to: &bytes)
        return bytes
    }

    /// Decodes `encoded()`'s output, checking every size.
    ///
    /// - Throws: `MixtureError.invalidData` describing what is wrong with the bytes.
    public init(encoded bytes: [UInt8]) throws {
        guard bytes.count >= 24, Array(bytes[0..<4]) == Self.magic else {
            throw MixtureError.invalidData("statistics message: bad magic or too short (\(bytes.count) bytes)")
        }
        guard bytes[4] == Self.version else {
            throw MixtureError.invalidData("statistics message: version \(bytes[4]), expected \(Self.version)")
        }
        guard Int(bytes[5]) < CovarianceType.allCases.count else {
            throw MixtureError.invalidData("statistics message: unknown covariance type code \(bytes[5])")
        }
        let type = CovarianceType.allCases[Int(bytes[5])]
        let k = Int(readLittleEndian(UInt32.self, bytes, at: 8))
        let d = Int(readLittleEndian(UInt32.self, bytes, at: 12))
        guard k >= 1, d >= 1, k <= 1 << 16, d <= 1 << 16 else {
            throw MixtureError.invalidData("statistics message: implausible shape K=\(k), D=\(d)")
        }
        // Check the size before allocating anything: K and D come from the bytes.
        let expected = 24 + 8 * (2 + k + Self.momentCount(type, k, d))
        guard bytes.count == expected else {
            throw MixtureError.invalidData("statistics message: \(bytes.count) bytes, expected \(expected) for K=\(k), D=\(d)")
        }
        // A row count beyond Int's range is refused, not trapped on (it comes from the bytes too).
        guard let rowCount = Int(exactly: readLittleEndian(UInt64.self, bytes, at: 16)) else {
            throw MixtureError.invalidData("statistics message: implausible row count")
        }
        self.init(covarianceType: type, components: k, dimension: d)
        rows = rowCount
        weightTotal = Double(bitPattern: readLittleEndian(UInt64.self, bytes, at: 24))
        guard weightTotal.isFinite, weightTotal >= 0 else {
            throw MixtureError.invalidData("statistics message: weight total \(weightTotal)")
        }
        logLikelihoodSum = Double(bitPattern: readLittleEndian(UInt64.self, bytes, at: 32))
        readDoubles(bytes, at: 40, into: &responsibilitySums)
        readDoubles(bytes, at: 40 + 8 * k, into: &moments)
    }
}

func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to bytes: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
}

/// Appends doubles as raw little-endian bytes (one copy on little-endian machines).
func appendDoubles(_ values: [Double], to bytes: inout [UInt8]) {
    #if _endian(little)
    values.withUnsafeBytes { bytes.append(contentsOf: $0) }
    #else
    for value in values { appendLittleEndian(value.bitPattern, to: &bytes) }
    #endif
}

/// Reads `values.count` little-endian doubles starting at `offset` (bounds checked by the caller).
func readDoubles(_ bytes: [UInt8], at offset: Int, into values: inout [Double]) {
    #if _endian(little)
    let count = values.count
    values.withUnsafeMutableBytes { destination in
        bytes.withUnsafeBytes { source in
            destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + 8 * count)]))
        }
    }
    #else
    for i in 0..<values.count { values[i] = Double(bitPattern: readLittleEndian(UInt64.self, bytes, at: offset + 8 * i)) }
    #endif
}

func readLittleEndian<T: FixedWidthInteger>(_ type: T.Type, _ bytes: [UInt8], at offset: Int) -> T {
    bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
}
