import Foundation
import Numerics
import Testing

@Suite("Numerics")
struct NumericsTests {
    @Test("the vector exponential agrees with libm to a few ulps and underflows to zero below -700")
    func exponential() {
        var generator = SeededGenerator(seed: 1)
        var worst = 0.0
        for _ in 0..<200_000 {
            let x = generator.nextUniform() * 1399 - 699.5
            let relative = abs(VectorMath.exp(x) - Foundation.exp(x)) / Foundation.exp(x)
            worst = max(worst, relative)
        }
        #expect(worst < 4e-16)
        #expect(VectorMath.exp(0) == 1)
        #expect(VectorMath.exp(-700.5) == 0)
        #expect(VectorMath.exp(-.infinity) == 0)
    }

    @Test("Cholesky factors reproduce the matrix; a singular matrix is an error naming dpotrf")
    func cholesky() throws {
        let a: [Double] = [4, 2, 0.4, 2, 5, 1, 0.4, 1, 3]
        let l = try Cholesky.lowerFactor(of: a, order: 3)
        let product = BLAS.multiply(l, rows: 3, inner: 3, l, columns: 3, transposeB: true)
        for i in 0..<9 { #expect(abs(product[i] - a[i]) < 1e-14) }
        let inverse = try Cholesky.invertLowerTriangular(l, order: 3)
        let identity = BLAS.multiply(inverse, rows: 3, inner: 3, l, columns: 3)
        for i in 0..<3 { for j in 0..<3 { #expect(abs(identity[i * 3 + j] - (i == j ? 1 : 0)) < 1e-14) } }
        #expect(throws: LinearAlgebraError(routine: "dpotrf", info: 2)) {
            try Cholesky.lowerFactor(of: [1, 1, 1, 1], order: 2)
        }
    }

    @Test("the seeded generator is reproducible and roughly standard normal")
    func generator() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7), c = SeededGenerator(seed: 8)
        let first = (0..<5).map { _ in a.next() }
        #expect(first == (0..<5).map { _ in b.next() })
        #expect(first != (0..<5).map { _ in c.next() })
        var sum = 0.0, squares = 0.0
        for _ in 0..<100_000 { let z = a.nextNormal(); sum += z; squares += z * z }
        #expect(abs(sum / 100_000) < 0.02)
        #expect(abs(squares / 100_000 - 1) < 0.02)
    }

    /// Pins the streams: fits, initialisations, shuffles and generated datasets are all drawn
    /// from these, so a change here changes every model fitted with a seed, and resuming a
    /// checkpoint or comparing runs across versions would silently stop giving the same bits.
    /// The constants come from an independent transcription of the published xoshiro256** and
    /// SplitMix64 reference code (scripts/xoshiro_reference.py, which first checks itself against
    /// the outputs other implementations publish) and agree with this implementation; a change
    /// to them must be deliberate.
    @Test("the seeded generator's streams are pinned to the xoshiro256** reference")
    func generatorGoldenOutputs() {
        func words(_ generator: SeededGenerator, _ count: Int) -> [UInt64] {
            var generator = generator
            return (0..<count).map { _ in generator.next() }
        }
        // SplitMix64 from the seed fills the state; seed 42's first three words are the ones
        // other xoshiro256** implementations publish for this seeding.
        #expect(words(SeededGenerator(seed: 0), 5) == [
            0x99EC_5F36_CB75_F2B4, 0xBF6E_1F78_4956_452A, 0x1A5F_849D_4933_E6E0, 0x6AA5_94F1_262D_2D2C, 0xBBA5_AD4A_1F84_2E59,
        ])
        #expect(words(SeededGenerator(seed: 42), 5) == [
            0x1578_0B2E_0C2E_C716, 0x6104_D986_6D11_3A7E, 0xAE17_5332_39E4_99A1, 0xECB8_AD47_03B3_60A1, 0xFDE6_DC7F_E2EC_5E64,
        ])
        #expect(words(SeededGenerator(seed: .max), 5) == [
            0x8F55_20D5_2A7E_AD08, 0xC476_A018_CAA1_802D, 0x81DE_31C0_D260_469E, 0xBF65_8D7E_065F_3C2F, 0x9135_93FD_A1BC_A32A,
        ])
        // Sub-streams: stream 0 is the seed's own stream (SyntheticMixture's parameters use it).
        #expect(words(SeededGenerator(seed: 42, stream: 0), 5) == words(SeededGenerator(seed: 42), 5))
        #expect(words(SeededGenerator(seed: 42, stream: 1), 4) == [
            0x9940_57F7_5553_4984, 0xC66E_B372_4A77_BF40, 0xF947_4F69_CC33_6CD8, 0x0693_3BC0_4433_AAB0,
        ])
        #expect(words(SeededGenerator(seed: 42, stream: 7), 4) == [
            0xE834_E867_1CC6_B9A2, 0x377C_8E82_69AB_A9C4, 0x8B50_CC6A_3AC3_7046, 0x3968_E64E_E9B7_D8B3,
        ])
        #expect(words(SeededGenerator(seed: 2, stream: 1 << 40), 4) == [
            0x1BDF_17EA_8181_1BF1, 0xBDD2_458C_4A3F_D2F4, 0xABFF_459F_A1CE_B4B9, 0x5242_BE00_DF96_024B,
        ])

        // Doubles: the top 53 bits of a word over 2^53.
        var uniform = SeededGenerator(seed: 7)
        #expect((0..<4).map { _ in uniform.nextUniform() } == [0.7005764821796896, 0.2787512294737843, 0.8396274618764198, 0.9810977250149351])

        // Bounded integers come from the standard library's `next(upperBound:)` (Lemire's
        // multiply-and-reject today): a Swift release that changes it changes every shuffle.
        var integers = SeededGenerator(seed: 11)
        let bounds = [1, 2, 3, 10, 1000, 1 << 40, Int.max, 6]
        #expect(bounds.map { integers.nextInt(below: $0) } == [0, 0, 0, 4, 85, 337_189_097_793, 4_726_362_207_647_366_492, 5])

        // Normals: Marsaglia's polar method, the second of each pair kept for the next call.
        var normals = SeededGenerator(seed: 5)
        #expect((0..<6).map { _ in normals.nextNormal() } == [
            -1.565523310998701, 0.7552965631270648, 0.4943461931977683, 1.0629262521034912, 0.08792974323521065, 1.4968437777009855,
        ])
    }

    @Test("log-sum-exp is stable for large magnitudes")
    func logSumExp() {
        #expect(abs(LogSpace.logSumExp([1000, 1000]) - (1000 + log(2))) < 1e-12)
        #expect(LogSpace.logSumExp([-Double.infinity, -Double.infinity]) == -.infinity)
    }
}
