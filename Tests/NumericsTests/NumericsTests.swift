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

    @Test("log-sum-exp is stable for large magnitudes")
    func logSumExp() {
        #expect(abs(LogSpace.logSumExp([1000, 1000]) - (1000 + log(2))) < 1e-12)
        #expect(LogSpace.logSumExp([-Double.infinity, -Double.infinity]) == -.infinity)
    }
}
