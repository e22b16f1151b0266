import Foundation
import Testing

/// `gmm select`'s default starts per candidate: one start stops in a local optimum often enough that
/// BIC prefers too many components.
@Suite("gmm select finds the generating K (CLI)")
struct SelectDefaultCLITests {
    /// 4,000 rows × 4 features of 6 generated components, seeds where one start per candidate picks 7 or 8.
    @Test("select's default finds 6 components where one start per candidate does not", arguments: [1, 9, 14])
    func findsTheGeneratingK(seed: Int) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = scratch.path("x.npy")
        let generated = try EmfleetBinary.run(["data", "generate", "--samples", "4000", "--features", "4", "--components", "6",
                                               "--seed", "\(seed)", "--out", data])
        try #require(generated.status == 0, "\(generated.stderr)")
        func chosen(_ extra: [String]) throws -> Int? {
            let result = try EmfleetBinary.run(["gmm", "select", "--data", data, "--components", "4...8", "--quiet",
                                                "--out", scratch.path("best.json")] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            let words = result.stdout.split(separator: " ")
            return words.firstIndex(of: "BIC:").flatMap { Int(words[$0 + 1]) }
        }
        #expect(try chosen([]) == 6)
        let single = try chosen(["--n-init", "1"])
        #expect(single != nil && single! > 6, "one start: \(String(describing: single))")
    }
}
