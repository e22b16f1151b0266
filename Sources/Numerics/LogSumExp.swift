import Foundation

/// Log-space helpers shared by the mixture and network code.
public enum LogSpace {
    /// `log Σ exp(values)`, computed stably by factoring out the maximum.
    public static func logSumExp(_ values: [Double]) -> Double {
        values.withUnsafeBufferPointer { logSumExp($0.baseAddress!, count: $0.count) }
    }

    /// `log Σ exp(values[0..<count])` over a raw buffer (hot path).
    @inlinable
    package static func logSumExp(_ values: UnsafePointer<Double>, count: Int) -> Double {
        var maximum = -Double.infinity
        for i in 0..<count where values[i] > maximum { maximum = values[i] }
        guard maximum.isFinite else { return maximum }
        var sum = 0.0
        for i in 0..<count { sum += exp(values[i] - maximum) }
        return maximum + log(sum)
    }
}
