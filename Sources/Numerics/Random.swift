import Foundation

/// A seeded, portable pseudo-random generator (xoshiro256**, seeded through SplitMix64).
///
/// The stream depends only on the seed, never on the platform, the thread count or the
/// shard layout, which makes every generated dataset and every initialisation
/// reproducible byte for byte.
///
/// ```swift
/// var rng = SeededGenerator(seed: 42)
/// let u = rng.nextUniform()      // [0, 1)
/// let z = rng.nextNormal()       // standard normal
/// ```
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)
    private var spareNormal: Double?

    /// Creates a generator whose stream is fully determined by `seed`.
    public init(seed: UInt64) {
        var splitMix = seed
        func nextSplitMix() -> UInt64 {
            splitMix &+= 0x9E37_79B9_7F4A_7C15
            var z = splitMix
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (nextSplitMix(), nextSplitMix(), nextSplitMix(), nextSplitMix())
        spareNormal = nil
    }

    /// Creates an independent generator for a numbered sub-stream of `seed`.
    ///
    /// Used to give each restart of a fit (or each purpose inside one) its own stream
    /// without the streams overlapping in practice.
    public init(seed: UInt64, stream: UInt64) {
        self.init(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03) &+ stream)
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    /// A uniform double in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in `0..<bound` without modulo bias.
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        return Int(next(upperBound: UInt64(bound)))
    }

    /// `0..<count` in a random order: Fisher-Yates from the last position down, one
    /// ``nextInt(below:)`` per position (the order every seeded shuffle of the project uses).
    public mutating func permutation(of count: Int) -> [Int] {
        var order = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, nextInt(below: i + 1)) }
        }
        return order
    }

    /// A standard normal variate (Marsaglia's polar method, so no trigonometric functions).
    public mutating func nextNormal() -> Double {
        if let spare = spareNormal {
            spareNormal = nil
            return spare
        }
        while true {
            let u = 2 * nextUniform() - 1
            let v = 2 * nextUniform() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                let factor = (-2 * Foundation.log(s) / s).squareRoot()
                spareNormal = v * factor
                return u * factor
            }
        }
    }

    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }
}
